"""fairseq-see-index: build the SEE index of a data-bin's dictionaries and save it beside them."""

import argparse
import glob
import os
import sys
import time

from ..lexicon import INDEX_FILE, FORMATS, LexiconError, build_index, lexicon_name, load_lexicons, read_fairseq_dictionary
from . import run


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="fairseq-see-index",
        description="Build see_index.<lang>.npz beside dict.<lang>.txt and print sememe coverage.")
    parser.add_argument("data", help="fairseq-preprocess output directory (holds dict.<lang>.txt)")
    parser.add_argument("--sememe-lexicon", required=True,
                        help="lexicon file(s), comma-separated (first wins per word), or 'openhownet'")
    parser.add_argument("--sememe-lexicon-format", default="auto", choices=("auto",) + FORMATS)
    parser.add_argument("--sememe-names", help="OpenHowNet's sememe_dict_all JSON, to unify sememe names")
    parser.add_argument("--langs", nargs="+", help="languages to index (default: every dict.<lang>.txt)")
    parser.add_argument("--see-order", type=int, default=3, help="units entangled per sense (o)")
    parser.add_argument("--see-rank", type=int, default=4, help="senses kept per token (R)")
    return parser.parse_args(argv)


def main(argv=None):
    return run("fairseq-see-index", index_command, parse_args(argv))


def index_command(args):
    langs = args.langs or sorted(os.path.basename(p)[len("dict."):-len(".txt")]
                                 for p in glob.glob(os.path.join(args.data, "dict.*.txt")))
    if not langs:
        raise LexiconError(f"{args.data}: no dict.<lang>.txt found; run fairseq-preprocess first")
    start = time.perf_counter()
    lexicon = load_lexicons(args.sememe_lexicon, args.sememe_lexicon_format, args.sememe_names)
    print(lexicon.summary())
    for name, table in (("ambiguous", lexicon.ambiguous_sememes), ("unknown", lexicon.unknown_sememes)):
        if table:
            shown = ", ".join(f"{k}" for k in list(table)[:8])
            print(f"  {len(table)} {name} sememe names, e.g. {shown}")
    name = lexicon_name(args.sememe_lexicon)
    # every index is built before any is written: bad input for one language writes nothing
    indexes = {}
    for lang in langs:
        symbols, counts = read_fairseq_dictionary(os.path.join(args.data, f"dict.{lang}.txt"))
        indexes[lang] = build_index(symbols, counts, lexicon, args.see_order, args.see_rank, lexicon_name=name)
    for lang, index in indexes.items():
        path = os.path.join(args.data, INDEX_FILE.format(lang=lang))
        try:
            index.save(path)  # atomic: a failed write leaves the previous file as it was
        except OSError as e:
            raise LexiconError(f"{path}: cannot write the index ({e.strerror or e}); the previous file is "
                               "unchanged; free disk space or make the data directory writable") from None
        print(index.summary(lang))
        print(f"  wrote {path}")
    print(f"done in {time.perf_counter() - start:.1f}s")


if __name__ == "__main__":
    sys.exit(main())
