"""Build the SEE index of a vocabulary: which units each token's senses entangle.

For a dictionary of ``V`` tokens, order ``o`` and rank ``R`` the index is
  unit_ids    (V, R, o) int64  unit id of every factor of every sense
  sense_mask  (V, R)    bool   which of the R sense slots a token really has
  units       list of |U| unit names ("sem:fruit|水果", "mor:果", "sym:</s>")
It is derived data (docs/METHOD.md, "The index"). numpy only, no torch/fairseq,
so it can be built and inspected on its own.

Choices of ours where the paper leaves room (docs/METHOD.md), each stated once here:
- A sense with fewer than ``o`` sememes is filled with the token's morphemes, then by repeating its
  own units cyclically instead of shared padding units: with padding, every morpheme-only token
  (almost all English pieces) would be ``T[piece] ⊗ T[pad] ⊗ T[pad]``, i.e. confined to one
  ``q``-dimensional subspace; cycling gives ``T[p] ⊗ T[p] ⊗ T[p]``, which spans far more.
- A merged bag of sememes (thunlp's file has no sense split) becomes pseudo-senses of ``o``
  sememes each, in file order, so no sememe is dropped for want of a sense structure.
- More than ``o`` morphemes: keep the first ``o - 1`` and the last (Chinese words are head-final).
- Senses are ranked by their number of distinct sememes (most informative first), stably.
- A one-character non-Chinese piece ("a", "s") is not looked up: Chinese lexicons list Latin letters
  as words (the letter, with sememes like "character|文字"), which says nothing about the subword.
"""

import io
import json
import os
from dataclasses import dataclass, field

import numpy as np

from .dictionary import check_index_fits_dictionary, dictionary_checksum
from .errors import LexiconError
from .files import atomic_output
from .text import BPE_MARKER, CJK, CJK_OR_RUN, SPM_MARKER, is_special

INDEX_FILE = "see_index.{lang}.npz"  # saved beside dict.<lang>.txt


def lookup_key(token):
    """The word a token stands for: sentencepiece / subword-nmt markers stripped."""
    key = token.lstrip(SPM_MARKER)
    if key.endswith(BPE_MARKER):
        key = key[: -len(BPE_MARKER)]
    return key or token


def morphemes(key):
    """Chinese characters one by one; a run of other characters (a subword piece) as one unit."""
    if not CJK.search(key):
        return [key]
    return CJK_OR_RUN.findall(key)


def lexicon_name(sources):
    """How an index records the lexicons it came from (file names, not machine-specific paths)."""
    return " + ".join(os.path.basename(s.strip()) for s in sources.split(",") if s.strip())


def _cycle_fill(units, order):
    """Repeat ``units`` cyclically up to ``order`` entries (see the module notes)."""
    return tuple(units[i % len(units)] for i in range(order))


def token_senses(token, lexicon, order, rank):
    """The unit-name tuples of a token's senses (at most ``rank``), and whether a sememe was found."""
    if is_special(token):
        return [_cycle_fill(["sym:" + token], order)], False
    key = lookup_key(token)
    pieces = ["mor:" + m for m in morphemes(key)]
    if len(pieces) > order:
        pieces = pieces[: order - 1] + pieces[-1:]
    searchable = lexicon is not None and (len(key) > 1 or CJK.match(key))
    entry = lexicon.get(key) if searchable else None
    if entry is None and searchable and key.lower() != key:
        entry = lexicon.get(key.lower())
    if entry is None:
        return [_cycle_fill(pieces, order)], False
    if entry.merged:
        bag = entry.senses[0]
        senses = [bag[i:i + order] for i in range(0, len(bag), order)]
    else:
        senses = [sense[:order] for sense in entry.senses]
    senses = sorted(dict.fromkeys(senses), key=lambda sense: -len(sense))[:rank]
    tuples = []
    for sense in senses:
        units = ["sem:" + s for s in sense]
        units += [p for p in pieces if p not in units][: order - len(units)]
        tuples.append(_cycle_fill(units, order))
    return list(dict.fromkeys(tuples)), True


@dataclass
class SememeIndex:
    unit_ids: np.ndarray  # (V, R, o) int64
    sense_mask: np.ndarray  # (V, R) bool
    units: list  # |U| unit names
    covered: np.ndarray  # (V,) bool: token got >= 1 sememe
    special: np.ndarray  # (V,) bool: fairseq's own symbols, left out of coverage
    counts: np.ndarray  # (V,) int64: training-token counts from the dictionary
    checksum: str  # dictionary_checksum of the symbols it was built for
    meta: dict = field(default_factory=dict)  # order, rank, lexicon

    @property
    def order(self):
        return self.unit_ids.shape[2]

    @property
    def rank(self):
        return self.unit_ids.shape[1]

    def coverage(self):
        """(share of vocabulary types, share of training-token mass) with >= 1 sememe; specials excluded."""
        regular = ~self.special
        types = self.covered[regular].mean() if regular.any() else 0.0
        mass = self.counts[regular].sum()
        tokens = self.counts[regular & self.covered].sum() / mass if mass else 0.0
        return float(types), float(tokens)

    def distinct_rows(self):
        """How many tokens get a distinct unit structure (identical rows give identical embeddings)."""
        rows = np.where(self.sense_mask[:, :, None], self.unit_ids, -1).reshape(len(self.unit_ids), -1)
        return len(np.unique(rows, axis=0))

    def summary(self, side):
        types, mass = self.coverage()
        sememes = sum(u.startswith("sem:") for u in self.units)
        return (f"SEE index ({side}): |V|={len(self.unit_ids):,} |U|={len(self.units):,} "
                f"({sememes:,} sememes, {len(self.units) - sememes:,} morphemes/symbols) o={self.order} "
                f"R={self.rank} coverage: types={100 * types:.1f}% tokens={100 * mass:.1f}% "
                f"distinct rows={self.distinct_rows():,}")

    def save(self, path):
        """Write atomically: an interrupted save leaves any previous file intact."""
        buffer = io.BytesIO()
        np.savez(buffer, unit_ids=self.unit_ids, sense_mask=self.sense_mask, covered=self.covered,
                 special=self.special, counts=self.counts, units=np.array(self.units, dtype=str),
                 meta=np.array(json.dumps(dict(self.meta, checksum=self.checksum))))
        with atomic_output(path) as tmp, open(tmp, "wb") as f:
            f.write(buffer.getvalue())

    @classmethod
    def load(cls, path):
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                return cls(unit_ids=data["unit_ids"].astype(np.int64), sense_mask=data["sense_mask"].astype(bool),
                           units=[str(u) for u in data["units"]], covered=data["covered"].astype(bool),
                           special=data["special"].astype(bool),
                           counts=data["counts"].astype(np.int64), checksum=meta.pop("checksum"), meta=meta)
        except FileNotFoundError:
            raise LexiconError(f"{path}: SEE index not found; build it with fairseq-see-index") from None
        except (ValueError, KeyError, OSError) as e:
            raise LexiconError(f"{path}: not a SEE index ({type(e).__name__}); delete it and rebuild "
                               "with fairseq-see-index") from None

    def check_dictionary(self, symbols, path, dictionary_path):
        check_index_fits_dictionary(len(self.unit_ids), self.checksum, len(symbols), dictionary_checksum(symbols),
                                    dictionary_path, path, "rebuild it with fairseq-see-index")


def build_index(symbols, counts, lexicon, order, rank, lexicon_name=None):
    """Build the index of a fairseq dictionary (its ``symbols`` and ``counts``) from a lexicon."""
    if order < 1 or rank < 1:
        raise LexiconError(f"--see-order and --see-rank must be >= 1 (got {order}, {rank})")
    vocab = len(symbols)
    unit_ids = np.zeros((vocab, rank, order), dtype=np.int64)
    sense_mask = np.zeros((vocab, rank), dtype=bool)
    covered = np.zeros(vocab, dtype=bool)
    # special symbols first, so their unit ids are the same whatever the lexicon
    unit_of = {"sym:" + t: i for i, t in enumerate(t for t in symbols if is_special(t))}
    per_token = []
    for v, token in enumerate(symbols):
        senses, covered[v] = token_senses(token, lexicon, order, rank)
        per_token.append(senses)
        for sense in senses:
            for unit in sense:
                unit_of.setdefault(unit, None)
    specials = [u for u, i in unit_of.items() if i is not None]
    others = sorted(u for u, i in unit_of.items() if i is None)
    units = specials + others
    unit_of = {u: i for i, u in enumerate(units)}
    for v, senses in enumerate(per_token):
        for k, sense in enumerate(senses):
            unit_ids[v, k] = [unit_of[u] for u in sense]
            sense_mask[v, k] = True
    meta = {"order": order, "rank": rank, "lexicon": lexicon_name or (lexicon.name if lexicon else None)}
    return SememeIndex(unit_ids=unit_ids, sense_mask=sense_mask, units=units, covered=covered,
                       special=np.array([is_special(t) for t in symbols], dtype=bool),
                       counts=np.asarray(counts, dtype=np.int64), checksum=dictionary_checksum(symbols), meta=meta)


def morpheme_index(symbols, counts, order, rank=1):
    """The index with no lexicon: every token is its morphemes only (MorphTE's units).

    Characters for Chinese, the whole piece for other subword pieces, specials as their own unit;
    the same rules as ``build_index`` (morphemes cut to ``order`` and cycled), one sense per token.
    """
    return build_index(symbols, counts, None, order, rank, lexicon_name="morphemes only")


def randomize_sememes(index, seed):
    """The ``see_random`` ablation: every token's sememes replaced by random sememes, same count.

    For each token, its distinct sememe units (over all its senses) are mapped one-to-one onto as
    many distinct sememe units drawn uniformly, without replacement, from the index's own sememe
    inventory; morphemes and specials are kept, and so are the sense structure (which factor of
    which sense repeats which sememe), the mask and the unit inventory, hence the parameter count.
    Deterministic for a seed (numpy's PCG64, tokens visited in dictionary order).
    """
    sememes = np.array([i for i, u in enumerate(index.units) if u.startswith("sem:")], dtype=np.int64)
    is_sememe = np.zeros(len(index.units), dtype=bool)
    is_sememe[sememes] = True
    rng = np.random.default_rng(seed)
    unit_ids = index.unit_ids.copy()
    for v in range(len(unit_ids)):
        used = unit_ids[v][index.sense_mask[v]]  # (senses, o)
        own = list(dict.fromkeys(int(u) for u in used.ravel() if is_sememe[u]))  # first-seen order
        if not own:
            continue
        drawn = rng.choice(sememes, size=len(own), replace=False)
        mapping = dict(zip(own, drawn.tolist()))
        rows = unit_ids[v]
        for k in range(rows.shape[0]):
            if index.sense_mask[v, k]:
                rows[k] = [mapping.get(int(u), int(u)) for u in rows[k]]
    meta = dict(index.meta, randomized_seed=seed)
    return SememeIndex(unit_ids=unit_ids, sense_mask=index.sense_mask.copy(), units=list(index.units),
                       covered=index.covered.copy(), special=index.special.copy(), counts=index.counts.copy(),
                       checksum=index.checksum, meta=meta)
