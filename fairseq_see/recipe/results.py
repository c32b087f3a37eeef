"""A model's results row (results/<model>.json) and the work dir's report made from the rows.

Embedding sizes come from the checkpoint (the stats the task saved, ``checkpoint_files.embedding_stats``);
validation NLL, updates and training time from fairseq-train's own progress lines; speed from
fairseq-generate's summary line; scores from sacreBLEU's JSON output. The report (RESULTS.md, the
same as data in RESULTS.json) adds each student's gaps to the teacher and to the same student from
scratch, with sacreBLEU's paired bootstrap on the hypotheses the rows name, the teacher's plateau
check and a line per goal (issue 13's for distilled students, issue 12's for SEE from scratch).
"""

import glob
import json
import os
import re

from ..errors import RecipeError
from .corpus import write_atomic


def training_log_figures(log):
    """From one training step's fairseq-train output (a resumed run appends to it): the validations
    as (updates, NLL) pairs, the NLL of the best one (fairseq's checkpoint_best: the lowest valid
    loss, the later of equals), the updates done, whether it stopped early, and the seconds of every run."""
    curve, best_nll, best_loss = [], None, None
    for line in log.splitlines():
        if "valid on 'valid' subset" not in line:
            continue
        fields = dict(re.findall(r"\| (\w+) ([\d.]+)(?= \||$)", line))
        nll, loss = float(fields["nll_loss"]), float(fields["loss"])
        curve.append([int(fields["num_updates"]), nll])
        if best_loss is None or loss <= best_loss:
            best_loss, best_nll = loss, nll
    updates = re.findall(r"num_updates[= ](\d+)", log)
    seconds = [float(x) for x in re.findall(r"done training in ([\d.]+) seconds", log)]
    return {"valid_nll": best_nll, "valid_curve": curve, "updates": int(updates[-1]) if updates else 0,
            "stopped_early": "early stop since valid performance hasn't improved" in log,
            "train_seconds": sum(seconds)}


def checkpoint_embedding_stats(path):
    """Both sides' embedding stats, read from a checkpoint file."""
    from ..checkpoint_files import embedding_stats, load_checkpoint
    return embedding_stats(load_checkpoint(path))


def collect(name, trained_on, train_logs, checkpoint, tests, output):
    """One results/<model>.json.

    ``train_logs``: the fairseq-train output of each training step that made the model, earlier stages
    first (seconds and updates are summed; validation figures are the last step's). ``tests``: per
    test set (name, generate log, sacreBLEU JSON) or (name, generate log, sacreBLEU JSON, hypotheses
    file, reference file); with the texts the report can compare models by paired bootstrap.
    """
    stages = []
    for train_log in train_logs:
        with open(train_log, encoding="utf-8") as f:
            stages.append(training_log_figures(f.read()))
    stats = checkpoint_embedding_stats(checkpoint)
    params = sum(s["parameters"] for s in stats.values())
    live = sum(s["live_parameters"] for s in stats.values())
    full = sum(s["vocab"] * s["dim"] for s in stats.values())
    last = stages[-1]
    row = {"model": name, "trained_on": trained_on, "embedding_params": params, "ratio": full / params,
           "live_ratio": full / live, "embedding_stats": stats, "valid_nll": last["valid_nll"],
           "valid_curve": last["valid_curve"], "stopped_early": last["stopped_early"],
           "stage_updates": [s["updates"] for s in stages], "updates": sum(s["updates"] for s in stages),
           "train_seconds": sum(s["train_seconds"] for s in stages), "tests": {}}
    speeds = []
    for test, gen_log, scores, *texts in tests:
        with open(scores, encoding="utf-8") as f:
            metrics = json.load(f)
        row["tests"][test] = {("chrf" if m["name"].lower().startswith("chrf") else "bleu"): m["score"]
                              for m in metrics}
        row["tests"][test]["signatures"] = [f"{m['name']}|{m['signature']}" for m in metrics]
        if texts:
            hypotheses, reference = texts
            row["tests"][test].update(hypotheses=os.path.abspath(hypotheses),
                                      reference=os.path.abspath(reference))
        with open(gen_log, encoding="utf-8") as f:
            speeds += re.findall(r"\(([\d.]+) sentences/s, ([\d.]+) tokens/s\)", f.read())
    # sentences/s depends on how long the outputs are (an untrained model runs to the length limit);
    # tokens/s is nearer the per-step speed
    row["gen_sentences_per_second"] = sum(float(s) for s, _ in speeds) / len(speeds) if speeds else 0.0
    row["gen_tokens_per_second"] = sum(float(t) for _, t in speeds) / len(speeds) if speeds else 0.0
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    write_atomic(output, [json.dumps(row, ensure_ascii=False, indent=1)])
    return row


def read_rows(workdir):
    rows = []
    for path in sorted(glob.glob(os.path.join(workdir, "results", "*.json"))):
        with open(path, encoding="utf-8") as f:
            rows.append(json.load(f))
    if not rows:
        raise RecipeError(f"{workdir}/results: no results yet; run the recipe first")
    return rows


# The recipe's model names: KIND RATIO x . VARIANT . seed SEED (teacher apart), e.g. see20x.stage2.seed1;
# its ablations (--extra-row, --extra-distilled, --extra-seqkd) KIND RATIO x . NAME . seed SEED (from scratch)
# and KIND RATIO x . NAME-stage1/-stage2/-seqkd/-seqkd-kd . seed SEED (distilled), the RATIO x left out where
# they give none
MODEL_NAME = re.compile(r"(?P<kind>[a-z][a-z0-9_]*?)(?:(?P<ratio>\d+)x)?\.(?P<middle>[A-Za-z0-9_-]+)\.seed(?P<seed>\d+)")
ABLATION_STAGE = re.compile(r"(?P<ablation>[A-Za-z0-9_-]+)-(?P<variant>stage1|stage2|seqkd-kd|seqkd)")
VARIANTS = {"stage2": "two-stage", "seqkd": "sequence-level KD", "seqkd-kd": "sequence-level + word-level KD",
            "scratch": "from scratch", "stage1": "stage 1 only"}  # in the table's order
DISTILLED = ("stage2", "seqkd", "seqkd-kd")
# issue 13's goals: requested ratio -> (largest valid-NLL gap to the teacher in %, largest in-domain
# BLEU drop), for the mean over seeds
GOALS = {20: (2.0, 0.5), 80: (5.0, 1.0)}
# issue 12's, for SEE from scratch: requested ratio -> (largest valid-NLL gap to the teacher in %, no BLEU goal)
SCRATCH_GOALS = {20: (3.0, None), 80: (6.0, None)}
# the teacher has reached a plateau when its last quarter of updates improved its best valid NLL by less
# than this (%)
PLATEAU_PERCENT = 2.0


def model_name_parts(name):
    """{"kind", "ratio", "variant", "ablation", "seed"} of a recipe model name (ablation None for the recipe's
    own rows; ratio None for an ablation without one), or None (the teacher, other names)."""
    match = MODEL_NAME.fullmatch(name)
    if match is None:
        return None
    middle, ablation = match["middle"], None
    if middle not in VARIANTS:
        stage = ABLATION_STAGE.fullmatch(middle)
        ablation, middle = (stage["ablation"], stage["variant"]) if stage else (middle, "scratch")
    elif match["ratio"] is None:
        return None
    return {"kind": match["kind"], "ratio": None if match["ratio"] is None else int(match["ratio"]),
            "variant": middle, "ablation": ablation, "seed": int(match["seed"])}


def scratch_name(parts):
    """The name of the from-scratch row a distilled student is compared with: the same kind, ratio, seed and
    ablation."""
    prefix = parts["kind"] + ("" if parts["ratio"] is None else f"{parts['ratio']}x")
    return f"{prefix}.{parts['ablation'] or 'scratch'}.seed{parts['seed']}"


def is_see_two_stage(name):
    """SEE's own two-stage students (not the ablations)."""
    parts = model_name_parts(name)
    return (parts is not None and parts["kind"] == "see" and parts["variant"] == "stage2"
            and parts["ablation"] is None)


def row_order(row):
    """Teacher; SEE's distilled students (by ratio), its students from scratch, stage 1, its ablations (by
    name); the same for the other kinds."""
    parts = model_name_parts(row["model"])
    if row["model"] == "teacher":
        return (0,)
    if parts is None:
        return (2, row["model"])
    group = 0 if parts["variant"] in DISTILLED else 1 if parts["variant"] == "scratch" else 2
    return (1, parts["kind"] != "see", parts["kind"], parts["ablation"] is not None, parts["ablation"] or "",
            group, parts["ratio"] or 0, list(VARIANTS).index(parts["variant"]), parts["seed"])


def plateau(curve, threshold=PLATEAU_PERCENT):
    """Valid NLL gained over the last quarter of updates, on the best checkpoint (the one evaluated):
    from the best validation at or before 3/4 of the final one's updates to the best of all. (The last
    validation instead of the best would hide a gain the checkpoint kept when the final validation is
    worse, as the converge teacher's was: 5.887 at update 1,500 after 5.850 at 1,452.) None with too
    few validations."""
    if not curve:
        return None
    final_updates = curve[-1][0]
    earlier = [point for point in curve if point[0] <= 0.75 * final_updates]
    if not earlier:
        return None
    start_updates, start_nll = min(earlier, key=lambda point: point[1])
    best_updates, best_nll = min(curve, key=lambda point: point[1])
    gain = 100 * (start_nll - best_nll) / start_nll
    return {"from_updates": start_updates, "from_nll": start_nll, "to_updates": best_updates,
            "to_nll": best_nll, "gain_percent": gain, "threshold_percent": threshold,
            "reached": gain < threshold}


def score_deltas(row, baseline, splits):
    """Per split both have: BLEU and chrF of ``row`` minus the baseline's."""
    deltas = {}
    for split in splits:
        ours, theirs = row["tests"].get(split, {}), baseline["tests"].get(split, {})
        if {"bleu", "chrf"} <= set(ours) and {"bleu", "chrf"} <= set(theirs):
            deltas[split] = {"bleu_delta": ours["bleu"] - theirs["bleu"],
                             "chrf_delta": ours["chrf"] - theirs["chrf"]}
    return deltas


def paired_p_values(baseline, systems, splits):
    """sacreBLEU's paired bootstrap of every system against the baseline, per split where the baseline's
    hypotheses are on disk and the system was scored on the same reference: ({model: {split: {"bleu_p",
    "chrf_p"}}}, signatures)."""
    from .significance import paired_bootstrap
    p_values, signatures = {system["model"]: {} for system in systems}, set()
    for split in splits:
        base = baseline["tests"].get(split, {})
        if not os.path.isfile(base.get("hypotheses", "")):
            continue
        comparable = [s for s in systems if s["tests"].get(split, {}).get("reference") == base["reference"]
                      and os.path.isfile(s["tests"][split]["hypotheses"])]
        if not comparable:
            continue
        test = paired_bootstrap(base["reference"], (baseline["model"], base["hypotheses"]),
                                [(s["model"], s["tests"][split]["hypotheses"]) for s in comparable])
        signatures.update(test["signatures"])
        for system in comparable:
            scores = test["systems"][system["model"]]
            p_values[system["model"]][split] = {"bleu_p": scores["bleu_p"], "chrf_p": scores["chrf_p"]}
    return p_values, signatures


def comparison(row, baseline, splits, p_values):
    """``row`` against a baseline row: valid NLL gap in % of the baseline's, score deltas with p-values."""
    tests = score_deltas(row, baseline, splits)
    for split, p in p_values.get(row["model"], {}).items():
        tests.setdefault(split, {}).update(p)
    gap = (100 * (row["valid_nll"] - baseline["valid_nll"]) / baseline["valid_nll"]
           if row.get("valid_nll") is not None and baseline.get("valid_nll") is not None else None)
    return {"baseline": baseline["model"], "valid_nll_percent": gap, "tests": tests}


def _goal_check(students, ratio, variant, ablation, nll_percent, bleu_drop, in_domain):
    """The means over seeds of the students' gaps to the teacher (valid NLL in %; in-domain BLEU where the
    goal has a BLEU drop), each seed's, and whether the means are within the goal (None: not measured)."""
    nll_gaps = [e["vs_teacher"]["valid_nll_percent"] for e in students]
    bleu_deltas = [e["vs_teacher"]["tests"].get(in_domain, {}).get("bleu_delta") for e in students]
    check = {"ratio": ratio, "variant": variant, "ablation": ablation, "seeds": [e["seed"] for e in students],
             "goal_valid_nll_percent": nll_percent, "goal_bleu_drop": bleu_drop,
             "in_domain": in_domain, "valid_nll_percent": nll_gaps, "bleu_delta": bleu_deltas, "met": None}
    needed = nll_gaps + (bleu_deltas if bleu_drop is not None else [])
    if students and None not in needed:
        mean_gap = sum(nll_gaps) / len(nll_gaps)
        check.update(mean_valid_nll_percent=mean_gap, met=mean_gap <= nll_percent)
        if None not in bleu_deltas:
            check["mean_bleu_delta"] = sum(bleu_deltas) / len(bleu_deltas)
        if bleu_drop is not None:
            check["met"] = check["met"] and check["mean_bleu_delta"] >= -bleu_drop
    return check


def goal_checks(entries, in_domain):
    """One check per goal and SEE student of a goal's ratio, means over seeds: issue 13's (GOALS) for each
    distilled variant (the recipe's two-stage student always, measured or not) and each distilled ablation
    (--extra-distilled); issue 12's (SCRATCH_GOALS) for SEE from scratch and each from-scratch ablation
    (--extra-row) measured."""
    see = [e for e in entries if e.get("kind") == "see" and "vs_teacher" in e]
    checks = []
    for goals, variants in ((GOALS, DISTILLED), (SCRATCH_GOALS, ("scratch",))):
        for ratio, (nll_percent, bleu_drop) in goals.items():
            for variant in variants:
                at_ratio = [e for e in see if e["ratio_requested"] == ratio and e["variant"] == variant]
                ablations = sorted({e["ablation"] for e in at_ratio if e["ablation"] is not None})
                for ablation in [None] + ablations:
                    students = [e for e in at_ratio if e["ablation"] == ablation]
                    if students or (ablation is None and variant == "stage2"):
                        checks.append(_goal_check(students, ratio, variant, ablation, nll_percent, bleu_drop,
                                                  in_domain))
    return checks


def summarize(rows, in_domain="tvsub_test"):
    """The report as data: every row (in table order) with its gaps to the teacher and, for a distilled
    student, to the same student from scratch (paired bootstrap p-values where the hypotheses are on
    disk), the teacher's plateau check and the goal checks."""
    rows = sorted(rows, key=row_order)
    by_name = {row["model"]: row for row in rows}
    splits = list(dict.fromkeys(split for row in rows for split in row["tests"]))
    teacher = by_name.get("teacher")
    students = [row for row in rows if row is not teacher]
    p_teacher, signatures = paired_p_values(teacher, students, splits) if teacher else ({}, set())
    scratch_of = {}  # distilled student -> the same student from scratch
    for row in students:
        parts = model_name_parts(row["model"])
        if parts and parts["variant"] in DISTILLED:
            scratch = scratch_name(parts)
            if scratch in by_name:
                scratch_of[row["model"]] = scratch
    p_scratch = {}
    for scratch in sorted(set(scratch_of.values())):
        distilled = [by_name[model] for model, baseline in scratch_of.items() if baseline == scratch]
        p_values, more = paired_p_values(by_name[scratch], distilled, splits)
        p_scratch.update(p_values)
        signatures |= more
    entries = []
    for row in rows:
        parts = model_name_parts(row["model"]) or {}
        entry = {"model": row["model"], "kind": parts.get("kind"), "ratio_requested": parts.get("ratio"),
                 "variant": parts.get("variant"), "ablation": parts.get("ablation"), "seed": parts.get("seed"),
                 "trained_on": row["trained_on"],
                 "valid_nll": row.get("valid_nll"),
                 "tests": {split: {m: score[m] for m in ("bleu", "chrf") if m in score}
                           for split, score in row["tests"].items()},
                 "embedding_params": row["embedding_params"], "ratio": row["ratio"],
                 "live_ratio": row.get("live_ratio"), "train_minutes": row["train_seconds"] / 60,
                 "updates": row.get("updates"), "stage_updates": row.get("stage_updates"),
                 "stopped_early": row.get("stopped_early")}
        if teacher and row is not teacher:
            entry["vs_teacher"] = comparison(row, teacher, splits, p_teacher)
        if row["model"] in scratch_of:
            entry["vs_scratch"] = comparison(row, by_name[scratch_of[row["model"]]], splits, p_scratch)
        entries.append(entry)
    score_signatures = {s for row in rows for scores in row["tests"].values() for s in scores["signatures"]}
    return {"splits": splits, "in_domain": in_domain, "rows": entries,
            "trained_on": sorted({row["trained_on"] for row in rows}),
            "teacher_plateau": plateau(teacher.get("valid_curve", [])) if teacher else None,
            "goals": goal_checks(entries, in_domain), "score_signatures": sorted(score_signatures),
            "paired_bootstrap_signatures": sorted(signatures)}


def _number(value, form, missing="-"):
    return missing if value is None else format(value, form)


def _delta_cell(test):
    """ "+0.42 (p 0.031)" from a comparison's split entry, "-" without one."""
    if not test:
        return "-"
    cell = f"{test['bleu_delta']:+.2f}"
    return cell + (f" (p {test['bleu_p']:.3f})" if "bleu_p" in test else "")


def goal_line(check):
    name = f"SEE {check['ratio']}x {VARIANTS[check['variant']]}"
    if check["ablation"] is not None:
        name += f" ({check['ablation']})"
    goal = f"within {check['goal_valid_nll_percent']:g}% of the teacher's valid NLL"
    if check["goal_bleu_drop"] is not None:
        goal += f" and {check['goal_bleu_drop']:g} BLEU in domain ({check['in_domain']})"
    if check["met"] is None:
        why = "no such student" if not check["seeds"] else "a figure is missing (the in-domain test?)"
        return f"- {name}: {goal}: not measured ({why})"
    bleu = "mean_bleu_delta" in check
    seeds = ", ".join(f"seed {seed} {gap:+.1f}%" + (f" / {delta:+.2f}" if bleu else "") for seed, gap, delta
                      in zip(check["seeds"], check["valid_nll_percent"], check["bleu_delta"]))
    figures = f"valid NLL {check['mean_valid_nll_percent']:+.1f}%"
    if bleu:
        figures += f", BLEU {check['mean_bleu_delta']:+.2f}"
    return (f"- {name}: {goal}: **{'met' if check['met'] else 'not met'}**: {figures} "
            f"(mean of {len(check['seeds'])} seed{'s' if len(check['seeds']) > 1 else ''}: {seeds})")


def plateau_line(check):
    goal = f"best valid NLL's gain over its last quarter of updates < {PLATEAU_PERCENT:g}%"
    if check is None:
        return f"- Teacher at a plateau ({goal}): not measured (too few validations in its log)"
    return (f"- Teacher at a plateau ({goal}): **{'met' if check['reached'] else 'not met'}**: "
            f"best {check['from_nll']:.3f} (update {check['from_updates']}) by 3/4 of training -> best "
            f"{check['to_nll']:.3f} (update {check['to_updates']}): {check['gain_percent']:.2f}%")


def results_table(summary, title, note=""):
    """RESULTS.md's lines, made from ``summarize``'s data."""
    splits = summary["splits"]
    header = (["row", "valid NLL"] + [f"BLEU / chrF {split}" for split in splits]
              + ["emb. params", "live ratio", "train min", "updates"])
    lines = [f"# {title}", "", note, "", f"Trained on: {'; '.join(summary['trained_on'])}.", "",
             "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for entry in summary["rows"]:
        cells = [entry["model"], _number(entry["valid_nll"], ".3f")]
        for split in splits:
            score = entry["tests"].get(split, {})
            both = {"bleu", "chrf"} <= set(score)
            cells.append(f"{score['bleu']:.2f} / {score['chrf']:.1f}" if both else "-")
        updates = "+".join(map(str, entry["stage_updates"] or [])) or _number(entry["updates"], "d")
        live_ratio = f"{entry['live_ratio']:.1f}x" if entry["live_ratio"] is not None else "-"
        cells += [f"{entry['embedding_params']:,}", live_ratio, f"{entry['train_minutes']:.1f}",
                  updates + (" (early stop)" if entry["stopped_early"] else "")]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "valid NLL: fairseq's (base 2) on the validation set, of the checkpoint evaluated "
              "(checkpoint_best); train min and updates: every training stage of the row (stage 1 + stage 2 "
              "for a distilled student; the teacher's training and decoding not counted)."]
    compared = [e for e in summary["rows"] if "vs_teacher" in e]
    if compared:
        header = (["row", "valid NLL vs teacher"] + [f"BLEU vs teacher {split}" for split in splits]
                  + [f"BLEU vs scratch {split}" for split in splits])
        lines += ["", "## Against the teacher and the same student from scratch", "",
                  "Differences in BLEU with the paired bootstrap p-value (sacreBLEU --paired-bs, 1,000 "
                  "resamples) against the teacher, and for a distilled student against the same student (kind, "
                  "ratio, seed, ablation) trained from scratch.", "",
                  "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for entry in compared:
            cells = [entry["model"], _number(entry["vs_teacher"]["valid_nll_percent"], "+.1f") + "%"]
            cells += [_delta_cell(entry["vs_teacher"]["tests"].get(split)) for split in splits]
            scratch = entry.get("vs_scratch", {}).get("tests", {})
            cells += [_delta_cell(scratch.get(split)) for split in splits]
            lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "## Goals", "", plateau_line(summary["teacher_plateau"])]
    lines += [goal_line(check) for check in summary["goals"]]
    if summary["score_signatures"]:
        lines += ["", "sacreBLEU signatures: " + "; ".join(f"`{s}`" for s in summary["score_signatures"])]
    if summary["paired_bootstrap_signatures"]:
        signatures = summary["paired_bootstrap_signatures"]
        lines += ["", "Paired bootstrap: " + "; ".join(f"`{s}`" for s in signatures)]
    return lines


def plot_bleu_vs_ratio(rows, title, path):
    """BLEU against the embedding ratio of the teacher and SEE's two-stage students, a line per test set."""
    import logging
    # importing fairseq runs logging.basicConfig(level=DEBUG) (fairseq/models/wav2vec/
    # wav2vec2_classification.py): quiet matplotlib before its import logs
    logging.getLogger("matplotlib").setLevel(logging.WARNING)
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    figure, axes = plt.subplots(figsize=(6, 4))
    rows = [row for row in rows if row["model"] == "teacher" or is_see_two_stage(row["model"])]
    for t in sorted({t for row in rows for t in row["tests"]}):
        points = sorted((row["ratio"], row["tests"][t]["bleu"]) for row in rows if "bleu" in row["tests"].get(t, {}))
        axes.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=t)
    axes.set_xscale("log")
    axes.set_xlabel("embedding compression ratio (x)")
    axes.set_ylabel("BLEU")
    axes.set_title(title)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def report(workdir, title, note="", in_domain="tvsub_test"):
    """RESULTS.md, the same as data in RESULTS.json, and bleu_vs_ratio.png in ``workdir``; returns the
    table's lines."""
    rows = read_rows(workdir)
    summary = summarize(rows, in_domain)
    lines = results_table(summary, title, note)
    write_atomic(os.path.join(workdir, "RESULTS.md"), lines)
    write_atomic(os.path.join(workdir, "RESULTS.json"),
                 [json.dumps(dict(summary, title=title, note=note), ensure_ascii=False, indent=1)])
    plot_bleu_vs_ratio(rows, title, os.path.join(workdir, "bleu_vs_ratio.png"))
    return lines
