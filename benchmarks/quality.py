"""--quality: every type at every --ratios value trained with the same budget, then scored.

Data: a recipe work dir, --quality-data DIR (e.g. work/iwslt17-cpu from examples/iwslt17_zh_en/run.sh
--profile cpu: 200k TVsub pairs, IWSLT17 tst2017 and the TVsub held-out test), else the IWSLT17
recipe's data steps at --quality-profile (default smoke) run here (run.sh --data-only), into
QUALITY_DIR/iwslt17-PROFILE. Training: stock fairseq-train --user-dir fairseq_see with the recipes'
base options (BASE_TRAIN_ARGS of examples/common/lib.sh) and this benchmark's budget (default
see_transformer_tiny, 300 updates; --quality-arch/-arch-args/-updates raise it). Scores: lib.sh's
generate (beam 5) and score (detokenised sacreBLEU BLEU and chrF) on every test set; the record
(embedding sizes from the checkpoint, validation NLL from the log) by the recipe's collect.
--plot (``plot``) draws BLEU per test set and validation NLL against embedding parameters.
"""

import json
import os
import time

from common import LEXICONS, REPO, SEE_TYPES, SEMEME_NAMES, WORDNET, ZH_EN, lib_sh, machine, missing_lexicon, run, say
from fairseq_see.recipe.results import collect

RECIPE = os.path.join(REPO, "examples", "iwslt17_zh_en", "run.sh")

# with lib.sh sourced: fairseq-train DATA with the recipes' base options, then the rest; its log in LOG
TRAIN = ('data=$1 log=$2; shift 2; fairseq-train "$data" "${BASE_TRAIN_ARGS[@]}" --user-dir "$SEE_USER_DIR" "$@" '
         '> "$log" 2>&1 || { tail -n 30 "$log" >&2; die "fairseq-train failed; see $log"; }')
# with lib.sh sourced: DATA CHECKPOINT SUBSET OUT REFERENCE -> OUT.gen, OUT.hyp, OUT.json (sacreBLEU)
EVALUATE = ('generate "$1" "$2" "$3" "$4" --user-dir "$SEE_USER_DIR" --task translation_sememe --cpu; '
            'score "$4.hyp" "$5" -w 2 > "$4.json"')


def recipe_work_dir(args, work):
    """A recipe work dir with bin/ (and bin/TEST_SPLITS): --quality-data, or the recipe's data steps run here."""
    if args.quality_data:
        recipe = os.path.abspath(args.quality_data)
        if not os.path.exists(os.path.join(recipe, "bin", "TEST_SPLITS")):
            raise SystemExit(f"{recipe}/bin/TEST_SPLITS: not found; --quality-data takes a recipe work dir "
                             "(examples/*/run.sh --workdir DIR, run at least to its binarize step)")
        return recipe
    recipe = os.path.join(work, f"iwslt17-{args.quality_profile}")
    say(f"quality: the IWSLT17 recipe's data steps (profile {args.quality_profile}) into {recipe}")
    run(["bash", RECIPE, "--data-only", "--profile", args.quality_profile, "--data-root", ZH_EN, "--workdir", recipe])
    return recipe


def test_sets(recipe):
    """[(fairseq subset, test name, raw reference)] in bin/TEST_SPLITS order."""
    with open(os.path.join(recipe, "bin", "TEST_SPLITS"), encoding="utf-8") as f:
        names = f.read().split()
    return [("test" if i == 0 else f"test{i}", name, os.path.join(recipe, "raw", f"{name}.en"))
            for i, name in enumerate(names)]


def quality(args, types, ratios):
    """Train each type at each ratio with the same budget; BLEU/chrF per test set. One record each."""
    missing = missing_lexicon()
    if missing:  # the models read the lexicon themselves, and so do the recipe's data steps
        if not args.quality_data:
            raise SystemExit(f"{missing}: HowNet lexicon not found; the recipe's data steps need it "
                             "(or pass --quality-data, a recipe work dir)")
        say(f"HowNet lexicon not found ({missing}); see and see_random are skipped")
        types = [t for t in types if t not in SEE_TYPES]
    work = os.path.abspath(args.quality_dir)
    os.makedirs(work, exist_ok=True)
    recipe = recipe_work_dir(args, work)
    data, tests = os.path.join(recipe, "bin"), test_sets(recipe)
    with open(os.path.join(recipe, "raw", "TRAINED_ON"), encoding="utf-8") as f:
        trained_on = f.read().strip()
    arch = ["--arch", args.quality_arch] + (args.quality_arch_args.split() if args.quality_arch_args else [])
    runs = [("full", None)] * ("full" in types) + [(k, r) for r in ratios for k in types if k != "full"]
    records = []
    for kind, ratio in runs:
        name = f"{kind}_{ratio or 1}" + (f"_seed{args.quality_seed}" if args.quality_seed != 1 else "")
        save = os.path.join(work, f"ckpt_{name}")
        done = os.path.join(save, "record.json")
        if os.path.exists(done):  # finished by an earlier, interrupted run of the benchmark: resume after it
            with open(done, encoding="utf-8") as f:
                records.append(json.load(f))
            say(f"  {name}: done before ({done})")
            continue
        os.makedirs(save, exist_ok=True)
        extra = ["--encoder-embedding-type", kind, "--decoder-embedding-type", kind]
        if ratio:
            extra += ["--embedding-compression-ratio", ratio]
        if kind in SEE_TYPES:
            extra += ["--sememe-lexicon", ",".join(LEXICONS), "--sememe-names", SEMEME_NAMES, "--wordnet", WORDNET]
        train_log, checkpoint = os.path.join(save, "train.log"), os.path.join(save, "checkpoint_best.pt")
        start = time.time()
        lib_sh(TRAIN, data, train_log, "--task", "translation_sememe", *arch, "--lr", args.quality_lr,
               "--warmup-updates", max(10, args.quality_updates // 10), "--max-tokens", args.quality_max_tokens,
               "--max-update", args.quality_updates, "--criterion", "label_smoothed_cross_entropy",
               "--label-smoothing", "0.1", "--save-dir", save, "--no-last-checkpoints", "--seed", args.quality_seed,
               "--cpu",
               *extra, cwd=work)
        train_s = time.time() - start
        scored = []
        for subset, test, reference in tests:
            out = os.path.join(save, test)
            lib_sh(EVALUATE, data, checkpoint, subset, out, reference, cwd=work)
            scored.append((test, out + ".gen", out + ".json"))
        row = collect(name, trained_on, [train_log], checkpoint, scored, os.path.join(save, "results.json"))
        record = {"type": kind, "requested_ratio": ratio, "seed": args.quality_seed, "train_s": round(train_s, 1),
                  "tests": {t: {"bleu": round(s["bleu"], 2), "chrf": round(s["chrf"], 1)}
                            for t, s in row["tests"].items()},
                  "params": row["embedding_params"], "ratio": row["ratio"], "valid_nll": row["valid_nll"],
                  "embedding_stats": row["embedding_stats"]}
        say(f"  {kind} {ratio or ''}: valid NLL {record['valid_nll']} "
            + " ".join(f"{n} BLEU {t['bleu']} chrF {t['chrf']}" for n, t in record["tests"].items())
            + f" ({train_s:.0f}s training)")
        with open(done, "w", encoding="utf-8") as f:
            json.dump(record, f, indent=1)
        records.append(record)
    return records


def plot(records, path):
    """BLEU per test set and validation NLL against embedding parameters, one point per type and ratio."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    tests = sorted({t for r in records for t in r["tests"]})
    fig, axes = plt.subplots(1, len(tests) + 1, figsize=(5 * (len(tests) + 1), 4))
    panels = [(f"BLEU, {t}", lambda r, t=t: r["tests"].get(t, {}).get("bleu")) for t in tests]
    panels.append(("validation NLL (in-domain)", lambda r: r.get("valid_nll")))
    for ax, (label, value) in zip(axes, panels):
        for r in records:
            if value(r) is None or not r.get("params"):
                continue
            ax.scatter(r["params"], value(r))
            ax.annotate(f"{r['type']} {r['ratio']:.0f}x", (r["params"], value(r)), textcoords="offset points",
                        xytext=(4, 4), fontsize=7)
        ax.set_xscale("log")
        ax.set_xlabel("embedding parameters (both sides)")
        ax.set_ylabel(label)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def markdown(records):
    tests = sorted({t for r in records for t in r["tests"]})
    rows = ["| type | ratio | emb. params | valid NLL | " + " | ".join(f"{t} BLEU | {t} chrF" for t in tests)
            + " | training s |", "|---|---|---|---|" + "---|---|" * len(tests) + "---|"]
    for r in records:
        ratio = f"{r['ratio']:.1f}x" if r.get("ratio") else "n/a"
        nll = "n/a" if r.get("valid_nll") is None else f"{r['valid_nll']:.3f}"
        scores = " | ".join(f"{r['tests'][t]['bleu']:.2f} | {r['tests'][t]['chrf']:.1f}" for t in tests)
        rows.append(f"| {r['type']} | {ratio} | {r['params']:,} | {nll} | {scores} | {r['train_s']:.0f} |")
    return "\n".join(rows)


def main(args, types):
    """(records, table, meta) of --quality."""
    ratios = [float(r) for r in args.ratios.split(",")] if args.ratios else [20.0]
    meta = machine()
    records = quality(args, types, ratios)
    return records, markdown(records), meta
