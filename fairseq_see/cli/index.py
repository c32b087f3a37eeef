"""fairseq-see-index: build the SEE index of a data-bin's dictionaries and save it beside them."""

import argparse
import glob
import os
import sys
import time

from ..lexicon import INDEX_FILE, FORMATS, LexiconError, lexicon_name, load_lexicons, read_fairseq_dictionary
from ..lexicon.index import IndexBuilder
from ..lexicon.morfessor_segmenter import SEGMENTER_FILE, MorfessorSegmenter, corpus_words, dictionary_words
from ..lexicon.sememe_names import missing_names_warning
from . import run


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog="fairseq-see-index",
        description="Build see_index.<lang>.npz (and the Morfessor segmenter see_morfessor.<lang>.txt) beside "
                    "dict.<lang>.txt and print what the index gives each side.")
    parser.add_argument("data", help="fairseq-preprocess output directory (holds dict.<lang>.txt)")
    parser.add_argument("--sememe-lexicon", required=True,
                        help="lexicon file(s), comma-separated (first wins per word), or 'openhownet'")
    parser.add_argument("--sememe-lexicon-format", default="auto", choices=("auto",) + FORMATS)
    parser.add_argument("--sememe-names", help="OpenHowNet's sememe_dict_all JSON, to unify sememe names")
    parser.add_argument("--wordnet", help="WordNet 3.0 database folder, for a synset -> sememe lexicon (English)")
    parser.add_argument("--langs", nargs="+", help="languages to index (default: every dict.<lang>.txt)")
    parser.add_argument("--see-order", type=int, default=3, help="units entangled per slot (o)")
    parser.add_argument("--see-rank", type=int, default=4, help="slots per token (R >= 2)")
    parser.add_argument("--see-tables", type=int, default=1, help="unit tables (m): slot k reads table k mod m")
    parser.add_argument("--see-identity-ranks", type=int, default=1,
                        help="slots of every token holding identity units (1 <= I <= R), after its R-I semantic slots")
    parser.add_argument("--segmenter-corpus", action="append", default=[], metavar="LANG=FILE",
                        help="plain text of a side (e.g. the raw training text) to train its Morfessor segmenter "
                             "on; without it, the dictionary's pieces (which split less)")
    parser.add_argument("--morpheme-segmenter", choices=("morfessor", "none"), default="morfessor",
                        help="none: a non-Chinese piece is one morpheme")
    return parser.parse_args(argv)


def main(argv=None):
    return run("fairseq-see-index", index_command, parse_args(argv))


def segmenter_corpora(specs):
    corpora = {}
    for spec in specs:
        lang, _, path = spec.partition("=")
        if not lang or not path:
            raise LexiconError(f"--segmenter-corpus {spec}: expected LANG=FILE")
        if not os.path.isfile(path):
            raise LexiconError(f"{path}: segmenter corpus not found; pass the side's training text")
        corpora[lang] = path
    return corpora


def train_segmenter(path, symbols, counts):
    """(segmenter, how it was trained) from a text file, else from the dictionary's pieces."""
    if path is not None:
        try:
            with open(path, encoding="utf-8") as f:
                words = corpus_words(f)
        except UnicodeDecodeError:
            raise LexiconError(f"{path}: not UTF-8 text; convert it (e.g. iconv -t UTF-8)") from None
        source = f"{len(words):,} word types of {path}"
    else:
        words = dictionary_words(symbols, counts)
        source = f"{len(words):,} word-like pieces of the dictionary"
    return (MorfessorSegmenter.train(words) if words else None), source


def index_command(args):
    langs = args.langs or sorted(os.path.basename(p)[len("dict."):-len(".txt")]
                                 for p in glob.glob(os.path.join(args.data, "dict.*.txt")))
    if not langs:
        raise LexiconError(f"{args.data}: no dict.<lang>.txt found; run fairseq-preprocess first")
    corpora = segmenter_corpora(args.segmenter_corpus)
    start = time.perf_counter()
    warning = missing_names_warning(args.sememe_lexicon, args.sememe_names)
    if warning:
        print(warning, file=sys.stderr)
    lexicon = load_lexicons(args.sememe_lexicon, args.sememe_lexicon_format, args.sememe_names, wordnet=args.wordnet)
    print(lexicon.summary())
    for name, table in (("ambiguous", lexicon.ambiguous_sememes), ("unknown", lexicon.unknown_sememes)):
        if table:
            shown = ", ".join(f"{k}" for k in list(table)[:8])
            print(f"  {len(table)} {name} sememe names, e.g. {shown}")
    name = lexicon_name(args.sememe_lexicon)
    # every index is built before any is written: bad input for one language writes nothing
    built = {}
    for lang in langs:
        symbols, counts = read_fairseq_dictionary(os.path.join(args.data, f"dict.{lang}.txt"))
        segmenter, source = (None, None) if args.morpheme_segmenter == "none" else train_segmenter(
            corpora.get(lang), symbols, counts)
        if source:
            print(f"morphemes ({lang}): Morfessor trained on {source}")
        builder = IndexBuilder(symbols, counts, lexicon, segmenter, name, segmenter_name=source and os.path.basename(source))
        built[lang] = builder.build(args.see_order, args.see_rank, args.see_tables, args.see_identity_ranks), segmenter
    for lang, (index, segmenter) in built.items():
        outputs = [(index, os.path.join(args.data, INDEX_FILE.format(lang=lang)), "the index")]
        if segmenter is not None:
            outputs.append((segmenter, os.path.join(args.data, SEGMENTER_FILE.format(lang=lang)), "the segmenter"))
        for thing, path, what in outputs:
            try:
                thing.save(path)  # atomic: a failed write leaves the previous file as it was
            except OSError as e:
                raise LexiconError(f"{path}: cannot write {what} ({e.strerror or e}); the previous file is "
                                   "unchanged; free disk space or make the data directory writable") from None
        print(index.summary(lang))
        for _, path, _ in outputs:
            print(f"  wrote {path}")
    print(f"done in {time.perf_counter() - start:.1f}s")


if __name__ == "__main__":
    sys.exit(main())
