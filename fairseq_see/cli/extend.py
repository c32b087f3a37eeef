"""fairseq-see-extend: give a trained SEE model words it never saw, from their sememes."""

import argparse
import os
import sys

from ..errors import UserInputError
from ..extend import __doc__ as extend_doc
from ..extend import extend
from ..lexicon import load_lexicons
from ..recipe.corpus import read_lines
from ..lexicon.sememe_names import missing_names_warning
from . import run


def main(argv=None):
    parser = argparse.ArgumentParser(prog="fairseq-see-extend", description=extend_doc,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint")
    parser.add_argument("--data", required=True, help="data-bin the model was trained on")
    parser.add_argument("--output", required=True, help="directory for checkpoint.pt and the extended dictionaries")
    parser.add_argument("--sememe-lexicon", required=True)
    parser.add_argument("--sememe-names")
    parser.add_argument("--wordnet", help="WordNet 3.0 database folder, for a synset -> sememe lexicon (English)")
    parser.add_argument("--morpheme-segmenter", choices=("morfessor", "none"), default="morfessor",
                        help="as the model was trained: morfessor (the data dir's see_morfessor.<lang>.txt, else "
                             "trained on the dictionary's pieces) or none")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--words", help="file with one new token per line (as it appears in the data)")
    source.add_argument("--corpus", help="tokenised text: every token missing from the dictionary and in the lexicon")
    parser.add_argument("--side", choices=("source", "target"), default="source")
    return run("fairseq-see-extend", extend_command, parser.parse_args(argv))


def read_words(path):
    """The new tokens of a words file, one a line; a token cannot hold whitespace (a fairseq dictionary
    line is '<token> <count>')."""
    words = []
    for number, line in enumerate(read_lines(path, "words file", "pass a file of new words, one a line"), start=1):
        word = line.strip()
        if any(c.isspace() for c in word):
            raise UserInputError(f"{path}:{number}: {word[:40]!r} holds whitespace, and a dictionary token cannot; "
                                 "put one token per line, as it appears in the data (e.g. '▁量子力学')")
        if word:
            words.append(word)
    if not words:
        raise UserInputError(f"{path}: no words in the file; put one new token per line")
    return words


def read_corpus(path):
    lines = read_lines(path, "corpus", "pass a tokenised corpus")
    if not any(line.strip() for line in lines):
        raise UserInputError(f"{path}: the corpus is empty; pass tokenised text")
    return lines


def extend_command(args):
    # the inputs first: a bad words file is reported before the lexicon is read
    words = read_words(args.words) if args.words else None
    corpus = None if args.words else read_corpus(args.corpus)
    warning = missing_names_warning(args.sememe_lexicon, args.sememe_names)
    if warning:
        print(warning, file=sys.stderr)
    lexicon = load_lexicons(args.sememe_lexicon, sememe_names=args.sememe_names, wordnet=args.wordnet)
    report, added_units = extend(args.checkpoint, args.data, args.output, lexicon, words=words,
                                 corpus=corpus, side=args.side,
                                 segmenter=args.morpheme_segmenter)
    for token, covered, fresh in report:
        note = f"untrained units: {' '.join(fresh)}" if fresh else "all units trained"
        print(f"+ {token}  ({'sememes' if covered else 'morphemes only'}; {note})")
    print(f"added {len(report)} tokens to the {args.side} dictionary, {added_units} untrained units; "
          f"wrote {os.path.join(args.output, 'checkpoint.pt')}")


if __name__ == "__main__":
    sys.exit(main())
