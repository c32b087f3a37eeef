"""The zero-shot words experiment's split: lexicon words held out of training."""

from collections import Counter

from ..lexicon import load_lexicons
from ..lexicon.text import has_chinese
from .corpus import read_lines, write_atomic


def holdout(source, target, sememe_lexicon, out_prefix, sememe_names=None, count=40, min_count=8, max_count=40,
            max_test=500, wordnet=None):
    """Pick lexicon words of middling frequency, and split the corpus: pairs without them (train)
    and pairs that contain them (test). Returns (words, pairs dropped, test pairs)."""
    lexicon = load_lexicons(sememe_lexicon, sememe_names=sememe_names, wordnet=wordnet)
    zh, en = read_lines(source), read_lines(target)
    counts = Counter(w for line in zh for w in set(line.split()) if has_chinese(w) and len(w) > 1)
    candidates = sorted((w for w, c in counts.items() if min_count <= c <= max_count and w in lexicon),
                        key=lambda w: (-counts[w], w))
    words = set(candidates[:count])
    test = [i for i, line in enumerate(zh) if words & set(line.split())][:max_test]
    dropped = {i for i, line in enumerate(zh) if words & set(line.split())}
    train = [i for i in range(len(zh)) if i not in dropped]
    for path, rows, side in ((out_prefix + ".train.zh", train, zh), (out_prefix + ".train.en", train, en),
                             (out_prefix + ".test.zh", test, zh), (out_prefix + ".test.en", test, en)):
        write_atomic(path, [side[i] for i in rows])
    write_atomic(out_prefix + ".words", sorted(words))
    return words, len(dropped), len(test)
