"""--index: the sememe index build timed the way fairseq-see-index does it.

Reads the real lexicons (glossary + thunlp, with the sememe names) and indexes a dictionary of
--index-words of their words (default 40,000; o 3, R 4). One record
{lexicon_words, dictionary_tokens, read_s, build_s, total_s}.
"""

import time

from common import LEXICONS, SEMEME_NAMES, WORDNET, machine, missing_lexicon
from fairseq_see.lexicon import build_index, load_lexicons
from fairseq_see.lexicon.text import FAIRSEQ_SPECIALS, SPM_MARKER


def index_build(words):
    """Seconds to read the real lexicons and to index a dictionary of ``words`` of their words."""
    start = time.perf_counter()
    lexicon = load_lexicons(",".join(LEXICONS), "auto", SEMEME_NAMES, wordnet=WORDNET)
    read = time.perf_counter()
    symbols = list(FAIRSEQ_SPECIALS) + [SPM_MARKER + w for w in sorted(lexicon.entries)[:words]]
    build_index(symbols, [1] * len(symbols), lexicon, 3, 4)
    done = time.perf_counter()
    return {"lexicon_words": len(lexicon.entries), "dictionary_tokens": len(symbols),
            "read_s": round(read - start, 2), "build_s": round(done - read, 2), "total_s": round(done - start, 2)}


def markdown(record):
    return "\n".join(["| lexicon words | dictionary tokens | read s | index s | total s |",
                      "|---|---|---|---|---|",
                      "| {lexicon_words:,} | {dictionary_tokens:,} | {read_s} | {build_s} | {total_s} |".format(**record)])


def main(args, parser):
    """(records, table, meta) of --index."""
    missing = missing_lexicon()
    if missing:
        parser.error(f"{missing}: HowNet lexicon not found; --index needs ../shared/data/hownet")
    meta = machine()
    record = index_build(args.index_words)
    return [record], markdown(record), meta
