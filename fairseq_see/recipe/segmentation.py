"""Chinese segmentation with jieba (the lexicon's words kept whole), sentencepiece on both sides, and
pairs fitted to the model's positions."""

import logging
import os
import re

from ..errors import RecipeError
from ..lexicon import load_lexicons
from ..lexicon.text import has_chinese
from .corpus import read_lines, write_atomic


def jieba_with_lexicon(lexicon=None):
    """A jieba tokenizer that keeps the lexicon's Chinese words whole, so that segmentation and
    sememe lookup agree (the recipes segment training data with it; ``--tokenizer jieba`` too)."""
    import jieba
    jieba.setLogLevel(logging.WARNING)
    tokenizer = jieba.Tokenizer()
    for word in lexicon.entries if lexicon is not None else ():
        if has_chinese(word) and " " not in word:
            tokenizer.add_word(word)
    return tokenizer


def segment(pairs, sememe_lexicon=None, sememe_names=None, wordnet=None, lexicon_words=True):
    """Segment each (input, output) file; with a lexicon, yields a coverage line per output."""
    lexicon = load_lexicons(sememe_lexicon, sememe_names=sememe_names, wordnet=wordnet) if sememe_lexicon else None
    tokenizer = jieba_with_lexicon(lexicon if lexicon_words else None)
    for source, output in pairs:
        lines = [" ".join(w for w in tokenizer.cut(line.strip()) if w.strip()) for line in read_lines(source)]
        write_atomic(output, lines)
        if lexicon is None:
            continue
        words = [w for line in lines for w in line.split() if has_chinese(w)]
        types = set(words)
        kind = "with" if lexicon_words else "without"
        yield (f"{output}: {len(lines):,} lines; jieba {kind} lexicon words: Chinese word types in lexicon "
               f"{100 * sum(w in lexicon for w in types) / max(len(types), 1):.1f}%, "
               f"tokens {100 * sum(w in lexicon for w in words) / max(len(words), 1):.1f}%")


# sentencepiece's own words when a vocabulary size cannot be trained
TOO_FEW_PIECES = re.compile(r"Vocabulary size is smaller than required_chars\. \d+ vs (\d+)")
TOO_MANY_PIECES = re.compile(r"Vocabulary size too high \(\d+\)\. Please set it to a value <= (\d+)")


def spm_train(input_path, prefix, vocab_size, character_coverage=1.0):
    """Train a sentencepiece unigram model; returns the vocabulary size it has.

    sentencepiece keeps one piece per character of the ``character_coverage`` share of the text
    (plus its 4 specials); a smaller ``vocab_size`` is raised to that number (sentencepiece's own
    count, from a first attempt that fails before any training). A size larger than the text can
    fill is refused in one line, with the largest size that works.
    """
    import sentencepiece as spm
    if vocab_size < 1:
        raise RecipeError(f"--vocab-size {vocab_size}: expected a positive number of pieces")
    if not 0 < character_coverage <= 1:
        raise RecipeError(f"--character-coverage {character_coverage}: expected a share in (0, 1]")
    if not os.path.isfile(input_path):
        raise RecipeError(f"{input_path}: not found; pass the (segmented) training text")

    def train(size):
        spm.SentencePieceTrainer.train(input=input_path, model_prefix=prefix, vocab_size=size,
                                       character_coverage=character_coverage, input_sentence_size=2_000_000,
                                       shuffle_input_sentence=True, minloglevel=2)

    for attempt in range(2):
        try:
            train(vocab_size)
            return vocab_size
        except RuntimeError as e:
            too_few, too_many = TOO_FEW_PIECES.search(str(e)), TOO_MANY_PIECES.search(str(e))
            if too_few and attempt == 0:
                vocab_size = int(too_few.group(1))
                continue
            if too_many:
                raise RecipeError(f"{input_path}: --vocab-size {vocab_size} is more pieces than this text gives "
                                  f"(at most {too_many.group(1)}); pass a smaller vocabulary size") from None
            raise


def fit_positions(source, target, max_source_positions, max_target_positions, truncate=False):
    """Make a pair of sentencepiece files fit fairseq's positions (a line's pieces and its </s>).

    Pairs that do not fit are dropped from both files, or with ``truncate`` (test sets, whose
    lines must all stay) their pieces beyond the limit are cut. Returns (pairs, [line numbers]).
    """
    for option, value in (("--max-source-positions", max_source_positions),
                          ("--max-target-positions", max_target_positions)):
        if value < 2:
            raise RecipeError(f"{option} {value}: a line needs at least 2 positions (a piece and </s>)")
    limits = ((source, max_source_positions - 1), (target, max_target_positions - 1))
    sides = [read_lines(path) for path, _ in limits]
    if len(sides[0]) != len(sides[1]):
        raise RecipeError(f"{target}: {len(sides[1]):,} lines but {source} has {len(sides[0]):,}; "
                          "pass line-aligned files")
    long = [n for n, pair in enumerate(zip(*sides), start=1)
            if any(len(line.split()) > limit for line, (_, limit) in zip(pair, limits))]
    if long:
        for (path, limit), lines in zip(limits, sides):
            if truncate:
                fitted = [" ".join(line.split()[:limit]) for line in lines]
            else:
                dropped = set(long)
                fitted = [line for n, line in enumerate(lines, start=1) if n not in dropped]
            write_atomic(path, fitted)
    return len(sides[0]), long


def spm_encode(model, input_path, output):
    import sentencepiece as spm
    processor = spm.SentencePieceProcessor(model_file=model)
    write_atomic(output, (" ".join(processor.encode(line, out_type=str)) for line in read_lines(input_path)))
