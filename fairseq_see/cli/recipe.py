"""fairseq-see-recipe: the few recipe steps no stock CLI does (examples/*/run.sh call them).

  check      raw parallel text: UTF-8, aligned, no empty lines (one-line error otherwise)
  segment    jieba segmentation with the lexicon's words added, and the sememe coverage it gives
  spm-train / spm-encode   sentencepiece (its pip package ships no command line)
  fit-positions            drop (or cut) sentencepiece pairs longer than fairseq's positions
  holdout    hold lexicon words out of a corpus (the zero-shot words experiment)
  iwslt17-cache            seed sacrebleu's iwslt17 cache from the official archives, offline
  collect    one results/<model>.json from a model's checkpoint, logs and sacreBLEU scores
  report     RESULTS.md (the table, gaps to the teacher with paired bootstrap, goals), RESULTS.json
             and a BLEU-vs-ratio PNG from a work dir's results/*.json
  sequence-kd              a data-bin whose training targets are a teacher's beam-5 translations
                           (sequence-level knowledge distillation), generated in resumable shards
"""

import argparse
import sys

from ..errors import RecipeError
from ..recipe.corpus import check_parallel
from ..recipe.holdout import holdout
from ..recipe.results import collect, report
from ..recipe.sacrebleu_cache import iwslt17_cache
from ..recipe.segmentation import fit_positions, segment, spm_encode, spm_train
from ..recipe.sequence_kd import sequence_kd_data
from . import run


def check(args):
    pairs = check_parallel(args.source, args.target)
    print(f"{args.source}, {args.target}: {pairs:,} aligned pairs, UTF-8, no empty lines")


def segment_command(args):
    if len(args.files) % 2:
        raise RecipeError("segment takes INPUT OUTPUT pairs")
    pairs = list(zip(args.files[0::2], args.files[1::2]))
    for line in segment(pairs, args.sememe_lexicon, args.sememe_names, args.wordnet,
                        lexicon_words=not args.no_lexicon_words):
        print(line)


def spm_train_command(args):
    size = spm_train(args.input, args.prefix, args.vocab_size, args.character_coverage)
    if size != args.vocab_size:
        print(f"{args.input}: --vocab-size {args.vocab_size} raised to {size}: sentencepiece keeps one piece per "
              f"character covering {args.character_coverage:g} of the text (--character-coverage) plus its 4 specials")
    print(f"{args.prefix}.model: sentencepiece unigram, {size} pieces")


def fit_positions_command(args):
    if len(args.files) % 2:
        raise RecipeError("fit-positions takes SOURCE TARGET pairs")
    for source, target in zip(args.files[0::2], args.files[1::2]):
        pairs, long = fit_positions(source, target, args.max_source_positions, args.max_target_positions,
                                    truncate=args.truncate)
        limit = (f"{args.max_source_positions - 1} source / {args.max_target_positions - 1} target pieces (fairseq's "
                 f"--max-source-positions {args.max_source_positions} / --max-target-positions "
                 f"{args.max_target_positions}, with </s>)")
        shown = ("line " if len(long) == 1 else "lines ") + ", ".join(map(str, long[:10])) + (
            ", ..." if len(long) > 10 else "")
        if not long:
            print(f"{source}, {target}: {pairs:,} pairs, none longer than {limit}")
        elif args.truncate:
            print(f"{source}, {target}: cut {len(long):,} of {pairs:,} pairs to {limit}: {shown}")
        else:
            print(f"{source}, {target}: dropped {len(long):,} of {pairs:,} pairs longer than {limit}: {shown}")


def spm_encode_command(args):
    spm_encode(args.model, args.input, args.output)


def holdout_command(args):
    words, dropped, test = holdout(args.source, args.target, args.sememe_lexicon, args.out_prefix, args.sememe_names,
                                   args.count, args.min_count, args.max_count, args.max_test, args.wordnet)
    print(f"held out {len(words)} lexicon words ({args.min_count}-{args.max_count} sentences each): "
          f"{dropped:,} pairs dropped from training, {test} kept as the test set")


def iwslt17_cache_command(args):
    folder, segments = iwslt17_cache(args.archives)
    print(f"sacrebleu iwslt17 zh-en cached in {folder}: {segments} segments")


def collect_command(args):
    tests = []
    for spec in args.test:
        fields = spec.split(":")
        if len(fields) not in (3, 5):
            raise RecipeError(f"--test {spec}: expected NAME:GENERATE_LOG:SACREBLEU_JSON[:HYPOTHESES:REFERENCE]")
        tests.append(fields)
    collect(args.name, args.trained_on, args.train_log, args.checkpoint, tests, args.output)


def report_command(args):
    print("\n".join(report(args.workdir, args.title, args.note, args.in_domain)))


def sequence_kd_command(args):
    device_args = [flag for flag, on in (("--cpu", args.cpu), ("--fp16", args.fp16)) if on]
    for line in sequence_kd_data(args.data, args.teacher, args.output, args.shard_dir, args.log_dir,
                                 args.sentences_per_shard, args.batch_size, args.max_tokens, device_args,
                                 args.workers):
        print(line, flush=True)


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
    p.add_argument("--wordnet", help="WordNet 3.0 folder, for a synset -> sememe lexicon among --sememe-lexicon")
    p.add_argument("--no-lexicon-words", action="store_true", help="plain jieba, for comparison")
    p.set_defaults(run=segment_command)
    p = commands.add_parser("spm-train")
    p.add_argument("--input", required=True)
    p.add_argument("--prefix", required=True)
    p.add_argument("--vocab-size", type=int, required=True,
                   help="pieces; raised (with a line saying so) to the characters sentencepiece must keep")
    p.add_argument("--character-coverage", type=float, default=1.0,
                   help="share of the text's characters that get a piece of their own (0.9995 for Chinese)")
    p.set_defaults(run=spm_train_command)
    p = commands.add_parser("spm-encode")
    p.add_argument("--model", required=True)
    p.add_argument("input")
    p.add_argument("output")
    p.set_defaults(run=spm_encode_command)
    p = commands.add_parser("fit-positions")
    p.add_argument("files", nargs="+", metavar="SOURCE TARGET", help="pairs of sentencepiece-encoded files")
    p.add_argument("--max-source-positions", type=int, default=1024, help="fairseq's (default 1024)")
    p.add_argument("--max-target-positions", type=int, default=1024, help="fairseq's (default 1024)")
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--drop", action="store_true", help="drop pairs that do not fit (training, validation)")
    mode.add_argument("--truncate", action="store_true", help="cut them (test sets: every line keeps its place)")
    p.set_defaults(run=fit_positions_command)
    p = commands.add_parser("holdout")
    p.add_argument("source", help="segmented Chinese")
    p.add_argument("target")
    p.add_argument("--sememe-lexicon", required=True)
    p.add_argument("--sememe-names")
    p.add_argument("--wordnet", help="WordNet 3.0 folder, for a synset -> sememe lexicon among --sememe-lexicon")
    p.add_argument("--count", type=int, default=40)
    p.add_argument("--min-count", type=int, default=8)
    p.add_argument("--max-count", type=int, default=40)
    p.add_argument("--max-test", type=int, default=500)
    p.add_argument("--out-prefix", required=True)
    p.set_defaults(run=holdout_command)
    p = commands.add_parser("iwslt17-cache")
    p.add_argument("--archives", required=True, help="folder with the two IWSLT17 zh-en/en-zh test archives")
    p.set_defaults(run=iwslt17_cache_command)
    p = commands.add_parser("collect")
    p.add_argument("--name", required=True)
    p.add_argument("--trained-on", required=True)
    p.add_argument("--train-log", action="append", required=True,
                   help="fairseq-train output of a training step (a resumed run appends to it); once per step "
                        "that made the model, earlier stages first: their seconds and updates add up")
    p.add_argument("--checkpoint", required=True, help="the model's checkpoint (its embedding stats)")
    p.add_argument("--test", action="append", default=[],
                   help="NAME:GENERATE_LOG:SACREBLEU_JSON[:HYPOTHESES:REFERENCE] (with the texts, the report "
                        "compares models by paired bootstrap)")
    p.add_argument("--output", required=True)
    p.set_defaults(run=collect_command)
    p = commands.add_parser("report")
    p.add_argument("--workdir", required=True)
    p.add_argument("--title", default="Results")
    p.add_argument("--note", default="")
    p.add_argument("--in-domain", default="tvsub_test",
                   help="the test split the goals' BLEU is measured on (default tvsub_test)")
    p.set_defaults(run=report_command)
    p = commands.add_parser("sequence-kd")
    p.add_argument("data", help="the data-bin (fairseq-preprocess's, with the index) the teacher was trained on")
    p.add_argument("--teacher", required=True, help="the teacher's checkpoint")
    p.add_argument("--output", required=True, help="the new data-bin, renamed into place once complete")
    p.add_argument("--shard-dir", required=True,
                   help="fairseq-generate's output, a file a shard, and the targets as text (kept: a rerun "
                        "generates only the missing shards)")
    p.add_argument("--log-dir", help="fairseq-generate's and fairseq-preprocess's logs (default: --shard-dir)")
    p.add_argument("--sentences-per-shard", type=int, default=5000)
    p.add_argument("--batch-size", type=int, default=64, help="sentences per batch (default 64)")
    p.add_argument("--max-tokens", type=int, help="tokens per batch, as well")
    p.add_argument("--cpu", action="store_true", help="fairseq-generate's --cpu")
    p.add_argument("--fp16", action="store_true", help="fairseq-generate's --fp16")
    p.add_argument("--workers", type=int, default=1, help="fairseq-preprocess's (default 1)")
    p.set_defaults(run=sequence_kd_command)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    return run(f"fairseq-see-recipe {args.command}", args.run, args)


if __name__ == "__main__":
    sys.exit(main())
