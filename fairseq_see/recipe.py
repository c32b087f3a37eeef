"""fairseq-see-recipe: the few recipe steps no stock CLI does (examples/*/run.sh call them).

  check      raw parallel text: UTF-8, aligned, no empty lines (one-line error otherwise)
  segment    jieba segmentation with the lexicon's words added, and the sememe coverage it gives
  spm-train / spm-encode   sentencepiece (its pip package ships no command line)
  holdout    hold lexicon words out of a corpus (the zero-shot words experiment)
  iwslt17-cache            seed sacrebleu's iwslt17 cache from the official archives, offline
  collect    one results/<model>.json from a model's logs and sacreBLEU scores
  report     RESULTS.md table and a BLEU-vs-ratio PNG from a work dir's results/*.json
"""

import argparse
import glob
import json
import os
import re
import sys
import tarfile

from .lexicon.files import atomic_output
from .lexicon import LexiconError, load_lexicons
from .tokenizers.jieba_tokenizer import jieba_with_lexicon

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")


class RecipeError(Exception):
    pass


def write_atomic(path, lines):
    with atomic_output(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        for line in lines:
            f.write(line + "\n")


def read_lines(path):
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise RecipeError(f"{path}: not found; pass an existing file") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[:e.start].count(b"\n") + 1
        raise RecipeError(f"{path}:{line}: not UTF-8 text; convert it (e.g. iconv -f GB18030 -t UTF-8)") from None
    return text.splitlines()


def check(args):
    source, target = read_lines(args.source), read_lines(args.target)
    if len(source) != len(target):
        raise RecipeError(f"{args.target}: {len(target)} lines but {args.source} has {len(source)}; "
                          "pass line-aligned files")
    for path, lines in ((args.source, source), (args.target, target)):
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                raise RecipeError(f"{path}:{number}: empty line; remove the pair (both files) or fill it")
    print(f"{args.source}, {args.target}: {len(source):,} aligned pairs, UTF-8, no empty lines")


def segment(args):
    if len(args.files) % 2:
        raise RecipeError("segment takes INPUT OUTPUT pairs")
    lexicon = load_lexicons(args.sememe_lexicon, sememe_names=args.sememe_names) if args.sememe_lexicon else None
    tokenizer = jieba_with_lexicon(None if args.no_lexicon_words else lexicon)
    for source, output in zip(args.files[0::2], args.files[1::2]):
        lines = [" ".join(w for w in tokenizer.cut(line.strip()) if w.strip()) for line in read_lines(source)]
        write_atomic(output, lines)
        if lexicon is None:
            continue
        words = [w for line in lines for w in line.split() if _CJK.search(w)]
        types = set(words)
        kind = "without" if args.no_lexicon_words else "with"
        print(f"{output}: {len(lines):,} lines; jieba {kind} lexicon words: Chinese word types in lexicon "
              f"{100 * sum(w in lexicon for w in types) / max(len(types), 1):.1f}%, "
              f"tokens {100 * sum(w in lexicon for w in words) / max(len(words), 1):.1f}%")


def spm_train(args):
    import sentencepiece as spm
    spm.SentencePieceTrainer.train(input=args.input, model_prefix=args.prefix, vocab_size=args.vocab_size,
                                   character_coverage=args.character_coverage, input_sentence_size=2_000_000,
                                   shuffle_input_sentence=True, minloglevel=2)
    print(f"{args.prefix}.model: sentencepiece unigram, {args.vocab_size} pieces")


def spm_encode(args):
    import sentencepiece as spm
    processor = spm.SentencePieceProcessor(model_file=args.model)
    write_atomic(args.output, (" ".join(processor.encode(line, out_type=str)) for line in read_lines(args.input)))


def holdout(args):
    """Pick lexicon words of middling frequency, and split the corpus: pairs without them (train)
    and pairs that contain them (test) -- the zero-shot words experiment."""
    from collections import Counter
    lexicon = load_lexicons(args.sememe_lexicon, sememe_names=args.sememe_names)
    zh, en = read_lines(args.source), read_lines(args.target)
    counts = Counter(w for line in zh for w in set(line.split()) if _CJK.search(w) and len(w) > 1)
    candidates = sorted((w for w, c in counts.items() if args.min_count <= c <= args.max_count and w in lexicon),
                        key=lambda w: (-counts[w], w))
    words = set(candidates[:args.count])
    test = [i for i, line in enumerate(zh) if words & set(line.split())][:args.max_test]
    dropped = {i for i, line in enumerate(zh) if words & set(line.split())}
    train = [i for i in range(len(zh)) if i not in dropped]
    for path, rows, side in ((args.out_prefix + ".train.zh", train, zh), (args.out_prefix + ".train.en", train, en),
                             (args.out_prefix + ".test.zh", test, zh), (args.out_prefix + ".test.en", test, en)):
        write_atomic(path, [side[i] for i in rows])
    write_atomic(args.out_prefix + ".words", sorted(words))
    print(f"held out {len(words)} lexicon words ({args.min_count}-{args.max_count} sentences each): "
          f"{len(dropped):,} pairs dropped from training, {len(test)} kept as the test set")


IWSLT17_ZH_EN = ("2017-01-ted-test.texts.zh.en.zh-en.tgz", "2017-01-ted-test.texts.en.zh.en-zh.tgz")


def iwslt17_cache(args):
    """Let `sacrebleu -t iwslt17 -l zh-en` run offline: sacrebleu's own XML processing of the archives."""
    from sacrebleu.dataset import DATASETS
    from sacrebleu.dataset.iwslt_xml import IWSLTXMLDataset
    official = DATASETS["iwslt17"]
    dataset = IWSLTXMLDataset("iwslt17", data=[], langpairs={"zh-en": official.langpairs["zh-en"]})
    os.makedirs(dataset._rawdir, exist_ok=True)
    for name in IWSLT17_ZH_EN:
        path = os.path.join(args.archives, name)
        if not os.path.isfile(path):
            raise RecipeError(f"{path}: IWSLT17 test archive not found; pass the folder holding {name}")
        with tarfile.open(path) as archive:
            archive.extractall(dataset._rawdir, filter="data")
    dataset.process_to_text("zh-en")
    print(f"sacrebleu iwslt17 zh-en cached in {dataset._outdir}: {len(list(dataset.source('zh-en')))} segments")


def training_figures(log):
    """From fairseq-train output: embedding parameters (both sides), the full tables' size, and the
    last validation NLL. Also read by benchmarks/compare_embeddings.py --quality."""
    sides = re.findall(r"SEE embedding \((\w+)\): full=(\d+) see=(\d+|none)", log)
    full = sum(int(f) for _, f, _ in sides[:2])
    params = sum(int(f) if s == "none" else int(s) for _, f, s in sides[:2])
    if not sides:  # a stock fairseq transformer (the teacher): its tables are |V| x d each
        full = params = sum(int(n) * int(d) for n, d in re.findall(r"Embedding\((\d+), (\d+)", log)[:2])
    valid = re.findall(r"valid on 'valid' subset \|.*?\| nll_loss ([\d.]+)", log)
    return {"full": full, "params": params, "valid_nll": float(valid[-1]) if valid else None}


def collect(args):
    """One results/<model>.json from a model's train log, generate logs and sacreBLEU JSON outputs."""
    with open(args.train_log, encoding="utf-8") as f:
        log = f.read()
    figures = training_figures(log)
    seconds = [float(x) for x in re.findall(r"done training in ([\d.]+) seconds", log)]
    row = {"model": args.name, "trained_on": args.trained_on, "embedding_params": figures["params"],
           "ratio": figures["full"] / figures["params"] if figures["params"] else 1.0,
           "valid_nll": figures["valid_nll"], "train_seconds": sum(seconds) + args.extra_seconds, "tests": {}}
    speeds = []
    for spec in args.test:
        name, gen_log, scores = spec.split(":")
        with open(scores, encoding="utf-8") as f:
            metrics = json.load(f)
        row["tests"][name] = {("chrf" if m["name"].lower().startswith("chrf") else "bleu"): m["score"]
                              for m in metrics}
        row["tests"][name]["signatures"] = [f"{m['name']}|{m['signature']}" for m in metrics]
        with open(gen_log, encoding="utf-8") as f:
            speeds += re.findall(r"\(([\d.]+) sentences/s, ([\d.]+) tokens/s\)", f.read())
    # sentences/s depends on how long the outputs are (an untrained model runs to the length limit);
    # tokens/s is nearer the per-step speed
    row["gen_sentences_per_second"] = sum(float(s) for s, _ in speeds) / len(speeds) if speeds else 0.0
    row["gen_tokens_per_second"] = sum(float(t) for _, t in speeds) / len(speeds) if speeds else 0.0
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    write_atomic(args.output, [json.dumps(row, ensure_ascii=False, indent=1)])


def report(args):
    rows = []
    for path in sorted(glob.glob(os.path.join(args.workdir, "results", "*.json"))):
        with open(path, encoding="utf-8") as f:
            rows.append(json.load(f))
    if not rows:
        raise RecipeError(f"{args.workdir}/results: no results yet; run the recipe first")
    tests = sorted({t for row in rows for t in row["tests"]})
    header = ["model", "trained on", "emb. params", "ratio", "valid NLL"]
    header += [f"{t} {m}" for t in tests for m in ("BLEU", "chrF")] + ["train min", "gen sent/s", "gen tok/s"]
    lines = [f"# {args.title}", "", args.note, "", "| " + " | ".join(header) + " |",
             "|" + "---|" * len(header)]
    for row in rows:
        cells = [row["model"], row["trained_on"], f"{row['embedding_params']:,}", f"{row['ratio']:.1f}x",
                 f"{row['valid_nll']:.3f}" if row.get("valid_nll") is not None else "-"]
        for t in tests:
            score = row["tests"].get(t, {})
            cells += [f"{score['bleu']:.2f}" if "bleu" in score else "-", f"{score['chrf']:.1f}" if "chrf" in score else "-"]
        cells += [f"{row['train_seconds'] / 60:.1f}", f"{row.get('gen_sentences_per_second', 0):.1f}",
                  f"{row.get('gen_tokens_per_second', 0):.0f}"]
        lines.append("| " + " | ".join(cells) + " |")
    signatures = sorted({s for row in rows for t in row["tests"].values() for s in t.get("signatures", [])})
    lines += ["", "sacreBLEU signatures: " + "; ".join(f"`{s}`" for s in signatures)] if signatures else []
    out = os.path.join(args.workdir, "RESULTS.md")
    write_atomic(out, lines)
    print("\n".join(lines))
    import logging
    # importing fairseq runs logging.basicConfig(level=DEBUG) (fairseq/models/wav2vec/
    # wav2vec2_classification.py): quiet matplotlib before its import logs
    logging.getLogger("matplotlib").setLevel(logging.WARNING)
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    figure, axes = plt.subplots(figsize=(6, 4))
    for t in tests:
        points = sorted((row["ratio"], row["tests"][t]["bleu"]) for row in rows if "bleu" in row["tests"].get(t, {}))
        axes.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=t)
    axes.set_xscale("log")
    axes.set_xlabel("embedding compression ratio (x)")
    axes.set_ylabel("BLEU")
    axes.set_title(args.title)
    axes.legend()
    figure.tight_layout()
    figure.savefig(os.path.join(args.workdir, "bleu_vs_ratio.png"), dpi=100)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="fairseq-see-recipe", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("check")
    p.add_argument("source")
    p.add_argument("target")
    p.set_defaults(run=check)
    p = commands.add_parser("segment")
    p.add_argument("files", nargs="+", metavar="INPUT OUTPUT", help="pairs of raw and segmented files")
    p.add_argument("--sememe-lexicon")
    p.add_argument("--sememe-names")
    p.add_argument("--no-lexicon-words", action="store_true", help="plain jieba, for comparison")
    p.set_defaults(run=segment)
    p = commands.add_parser("spm-train")
    p.add_argument("--input", required=True)
    p.add_argument("--prefix", required=True)
    p.add_argument("--vocab-size", type=int, required=True)
    p.add_argument("--character-coverage", type=float, default=1.0)
    p.set_defaults(run=spm_train)
    p = commands.add_parser("spm-encode")
    p.add_argument("--model", required=True)
    p.add_argument("input")
    p.add_argument("output")
    p.set_defaults(run=spm_encode)
    p = commands.add_parser("holdout")
    p.add_argument("source", help="segmented Chinese")
    p.add_argument("target")
    p.add_argument("--sememe-lexicon", required=True)
    p.add_argument("--sememe-names")
    p.add_argument("--count", type=int, default=40)
    p.add_argument("--min-count", type=int, default=8)
    p.add_argument("--max-count", type=int, default=40)
    p.add_argument("--max-test", type=int, default=500)
    p.add_argument("--out-prefix", required=True)
    p.set_defaults(run=holdout)
    p = commands.add_parser("iwslt17-cache")
    p.add_argument("--archives", required=True, help="folder with the two IWSLT17 zh-en/en-zh test archives")
    p.set_defaults(run=iwslt17_cache)
    p = commands.add_parser("collect")
    p.add_argument("--name", required=True)
    p.add_argument("--trained-on", required=True)
    p.add_argument("--train-log", required=True, help="fairseq-train output (several runs concatenated)")
    p.add_argument("--extra-seconds", type=float, default=0.0)
    p.add_argument("--test", action="append", default=[], help="NAME:GENERATE_LOG:SACREBLEU_JSON")
    p.add_argument("--output", required=True)
    p.set_defaults(run=collect)
    p = commands.add_parser("report")
    p.add_argument("--workdir", required=True)
    p.add_argument("--title", default="Results")
    p.add_argument("--note", default="")
    p.set_defaults(run=report)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        args.run(args)
    except (RecipeError, LexiconError) as e:
        print(f"fairseq-see-recipe {args.command}: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
