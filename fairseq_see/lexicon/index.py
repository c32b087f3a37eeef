"""Build the SEE index of a vocabulary: which units each slot of each token entangles.

For a dictionary of ``V`` tokens, order ``o``, rank ``R`` and ``m`` tables the index is
  unit_ids  (V, R, o) int32 (uint8)  row of the unit table read by every factor of every slot
  units     list of the table's row names, "t<k>/<unit>": unit ``<unit>`` ("sem:fruit|水果",
            "mor:果", "mor:▁", "pad.2", "id0.1:17", "sym:</s>") in table ``k``
It is derived data (docs/METHOD.md, "The index"). numpy only, no torch/fairseq, so it can be built
and inspected on its own.

Every token fills all ``R`` slots, each an ``o``-tuple of units. The first ``S = R - I`` slots are
semantic, the last ``I`` (the identity ranks, ``I >= 1``) hold identity units:
  1. its senses (sememes, main first), at most ``S - 1`` of them (``S`` when ``S`` is 1 and there
     is no room for its morphemes), each filled up to ``o`` with the token's morphemes and then
     with per-position pad units;
  2. its morphemes: ``mor:▁`` first for a word-start piece (the marker is information: ``▁you`` and
     ``you`` are different tokens), then Chinese characters one by one, or the Morfessor morphs of
     a non-Chinese piece (the whole piece without a segmenter); padded with ``pad.<j>``;
  3. identity units, last: slot ``R - 1`` holds ``id0.<j>:<digit j of v in base t>`` (``t^o >= V``),
     which no other token shares all of; the slots before it, and any semantic slot still free (a
     token with few senses), hold the digits of other permutations of the ids (``id<r>``), like
     word2ketXS's ranks. Identity ranks are the per-token capacity (word2ketXS is all identity
     ranks), the semantic slots what tokens share; the ratio picker prices ``I`` against them.
A sememe or morpheme that fewer than ``min_readers`` tokens read (default 2: one token) becomes a
pad unit (``drop_single_token_units``).
So no two tokens share a row structure, whatever ``o``, ``R`` and ``m``, and every slot is read.
Slot ``k`` reads table ``k mod m``; a table holds only the units its slots read, so no row is
dead and the parameter count is the count of parameters the table reads.

Choices of ours where the paper leaves room (docs/METHOD.md), each stated once here:
- A merged bag of sememes (thunlp's file has no sense split) becomes pseudo-senses of ``o``
  sememes each, in file order, so no sememe is dropped for want of a sense structure.
- More than ``o`` morphemes: keep the first ``o - 1`` and the last (Chinese words are head-final).
- Senses of a source without a frequency order are ranked by their number of distinct sememes (most
  informative first), stably; WordNet's senses keep WordNet's frequency order.
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
INDEX_FORMAT = 2  # 1: (V, R, o) ids into m full tables plus a sense mask (before every slot was filled)
WORD_START = "mor:" + SPM_MARKER
SHARED_KINDS = ("sem:", "mor:")  # the units that stand for meaning or form, shared between tokens


def lookup_key(token):
    """The word a token stands for: sentencepiece / subword-nmt markers stripped."""
    key = token.lstrip(SPM_MARKER)
    if key.endswith(BPE_MARKER):
        key = key[: -len(BPE_MARKER)]
    return key or token


def morphemes(key, segmenter=None):
    """Chinese characters one by one; a run of other characters as the segmenter's morphs (one
    morph, the whole run, without a segmenter or without letters)."""
    morphs = []
    for run in CJK_OR_RUN.findall(key):
        if CJK.match(run) or segmenter is None or not any(ch.isalpha() for ch in run):
            morphs.append(run)  # a character, or a run of digits/punctuation the segmenter would shred
        else:
            morphs.extend(segmenter.segment(run))
    return morphs


def lexicon_name(sources):
    """How an index records the lexicons it came from (file names, not machine-specific paths)."""
    return " + ".join(os.path.basename(s.strip()) for s in sources.split(",") if s.strip())


def _padded(units, order):
    """``units`` cut to ``order`` (first ``o - 1`` and the last) and padded with per-position pad units."""
    if len(units) > order:
        units = units[: order - 1] + units[-1:]
    return tuple(units) + tuple(f"pad.{j}" for j in range(len(units), order))


def digits(value, base, order):
    """``value`` as ``order`` digits in ``base``, most significant first."""
    return [(value // base ** (order - 1 - j)) % base for j in range(order)]


def identity_tuple(v, rank, base, order):
    """The ``rank``-th identity tuple of token ``v``: rank 0 the digits of v, rank r > 0 those of an
    affine permutation of range(base^order), so tokens that share digits at one rank rarely share
    them at another."""
    value = int(identity_value(v, rank, base ** order))
    return tuple(f"id{rank}.{j}:{d}" for j, d in enumerate(digits(value, base, order)))


def identity_value(v, rank, space):
    """Token ``v``'s (an int or a numpy array of them) value at identity rank ``rank``: v itself at
    rank 0, else a·v + c mod ``space`` with a coprime to ``space`` (a permutation), a and c per rank."""
    if rank == 0:
        return v
    return (v * _coprime_multiplier(space, rank) + rank * 7919) % space


def _coprime_multiplier(space, rank):
    """A multiplier coprime with ``space`` (so v -> a·v + c mod space is a permutation), different per rank."""
    candidate = int(space * 0.6180339887) + 2 * rank + 1
    while np.gcd(candidate, space) != 1:
        candidate += 1
    return candidate


def identity_base(vocab, order):
    """Smallest t with t^o >= V."""
    t = 1
    while t ** order < vocab:
        t += 1
    return t


def token_senses(token, lexicon, order):
    """The sememe tuples of a token's senses (each cut to ``order``), most useful first; empty
    when the lexicon has none for it."""
    if lexicon is None or is_special(token):
        return []
    key = lookup_key(token)
    if not (len(key) > 1 or CJK.match(key)):
        return []
    entry = lexicon.get(key)
    if entry is None and key.lower() != key:
        entry = lexicon.get(key.lower())
    if entry is None:
        return []
    if entry.merged:
        bag = entry.senses[0]
        senses = [bag[i:i + order] for i in range(0, len(bag), order)]
    else:
        senses = [sense[:order] for sense in entry.senses]
    senses = list(dict.fromkeys(senses))
    if not entry.frequency_ordered:
        senses = sorted(senses, key=lambda sense: -len(sense))
    return senses


def token_slots(v, token, lexicon, order, rank, base, segmenter=None, identity_ranks=1):
    """The ``rank`` unit-name tuples of token ``v`` (see the module notes), and whether it got a sememe."""
    semantic_slots = rank - identity_ranks
    if semantic_slots == 0:
        semantic, covered = [], False
    elif is_special(token):
        semantic = [_padded(["sym:" + token], order)]
        covered = False
    else:
        pieces = ["mor:" + m for m in morphemes(lookup_key(token), segmenter)]
        senses = token_senses(token, lexicon, order)
        covered = bool(senses)
        room = semantic_slots - 1 if semantic_slots > 1 else semantic_slots
        semantic = []
        for sense in senses[:room]:
            units = ["sem:" + s for s in sense]
            semantic.append(_padded(units + [p for p in pieces if p not in units][: order - len(units)], order))
        morpheme_slot = morpheme_tuple(token, order, segmenter)
        if len(semantic) < semantic_slots and morpheme_slot not in semantic:
            semantic.append(morpheme_slot)
    # identity: rank 0 in the last slot, further ranks in the slots before it
    free = rank - len(semantic)
    identity = [identity_tuple(v, r, base, order) for r in reversed(range(free))]
    return semantic + identity, covered


@dataclass
class SememeIndex:
    unit_ids: np.ndarray  # (V, R, o) int32 (uint8 up to 256 rows): row of the unit table per slot and factor
    units: list  # row names "t<k>/<unit>"
    covered: np.ndarray  # (V,) bool: token got >= 1 sememe
    special: np.ndarray  # (V,) bool: fairseq's own symbols, left out of coverage
    counts: np.ndarray  # (V,) int64: training-token counts from the dictionary
    checksum: str  # dictionary_checksum of the symbols it was built for
    meta: dict = field(default_factory=dict)  # format, order, rank, tables, identity_ranks, min_readers, lexicon, segmenter

    @property
    def order(self):
        return self.unit_ids.shape[2]

    @property
    def rank(self):
        return self.unit_ids.shape[1]

    @property
    def tables(self):
        return self.meta["tables"]

    @property
    def identity_ranks(self):
        return self.meta.get("identity_ranks", 1)

    def coverage(self):
        """(share of vocabulary types, share of training-token mass) with >= 1 sememe; specials excluded."""
        regular = ~self.special
        types = self.covered[regular].mean() if regular.any() else 0.0
        mass = self.counts[regular].sum()
        tokens = self.counts[regular & self.covered].sum() / mass if mass else 0.0
        return float(types), float(tokens)

    def distinct_rows(self):
        """How many tokens have a row structure of their own (identical structures give identical rows)."""
        return len(np.unique(self.unit_ids.reshape(len(self.unit_ids), -1), axis=0))

    def live_rows(self):
        """Share of the table's rows some token reads."""
        return len(np.unique(self.unit_ids)) / len(self.units) if self.units else 0.0

    def rows_per_token(self):
        """Median number of distinct table rows a token's embedding is made of."""
        flat = np.sort(self.unit_ids.reshape(len(self.unit_ids), -1), axis=1)
        distinct = 1 + (np.diff(flat, axis=1) != 0).sum(axis=1)
        return float(np.median(distinct))

    def summary(self, side):
        types, mass = self.coverage()
        names = {u.split("/", 1)[1] for u in self.units}
        sememes = sum(u.startswith("sem:") for u in names)
        morphs = sum(u.startswith("mor:") for u in names)
        return (f"SEE index ({side}): |V|={len(self.unit_ids):,} rows={len(self.units):,} in {self.tables} tables "
                f"({sememes:,} sememes, {morphs:,} morphemes, {len(names) - sememes - morphs:,} identity/pad/"
                f"symbol units) o={self.order} R={self.rank} identity ranks={self.identity_ranks} coverage: types={100 * types:.1f}% "
                f"tokens={100 * mass:.1f}% distinct rows={self.distinct_rows():,}/{len(self.unit_ids):,} "
                f"live rows={100 * self.live_rows():.1f}% rows per token (median)={self.rows_per_token():.0f}")

    def save(self, path):
        """Write atomically: an interrupted save leaves any previous file intact."""
        buffer = io.BytesIO()
        np.savez(buffer, unit_ids=self.unit_ids, covered=self.covered, special=self.special, counts=self.counts,
                 units=np.array(self.units, dtype=str),
                 meta=np.array(json.dumps(dict(self.meta, checksum=self.checksum))))
        with atomic_output(path) as tmp, open(tmp, "wb") as f:
            f.write(buffer.getvalue())

    @classmethod
    def load(cls, path):
        """The index saved at ``path``; a missing, truncated, empty or foreign file is a one-line error."""
        import zipfile
        import zlib
        rebuild = "delete it, then rebuild it with fairseq-see-index (or train with --sememe-lexicon)"
        if os.path.isfile(path) and os.path.getsize(path) == 0:
            raise LexiconError(f"{path}: an empty file, not a SEE index (an interrupted copy?); {rebuild}")
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                if meta.get("format", 1) != INDEX_FORMAT:
                    raise LexiconError(f"{path}: a SEE index of format {meta.get('format', 1)} (this version "
                                       f"reads {INDEX_FORMAT}); rebuild it with fairseq-see-index")
                return cls(unit_ids=data["unit_ids"], units=[str(u) for u in data["units"]],
                           covered=data["covered"].astype(bool), special=data["special"].astype(bool),
                           counts=data["counts"].astype(np.int64), checksum=meta.pop("checksum"), meta=meta)
        except FileNotFoundError:
            raise LexiconError(f"{path}: SEE index not found; build it with fairseq-see-index") from None
        except IsADirectoryError:
            raise LexiconError(f"{path}: a directory, not a SEE index; remove it and build the index with "
                               "fairseq-see-index") from None
        except LexiconError:
            raise
        except (zipfile.BadZipFile, zlib.error, EOFError) as e:
            raise LexiconError(f"{path}: a truncated or damaged SEE index ({type(e).__name__}: {e}); "
                               f"{rebuild}") from None
        except (ValueError, KeyError, OSError, TypeError, AttributeError) as e:
            raise LexiconError(f"{path}: not a SEE index ({type(e).__name__}); {rebuild}") from None

    def check_dictionary(self, symbols, path, dictionary_path):
        check_index_fits_dictionary(len(self.unit_ids), self.checksum, len(symbols), dictionary_checksum(symbols),
                                    dictionary_path, path, "rebuild it with fairseq-see-index")


def drop_single_token_units(slots, min_readers=2):
    """Every sememe or morpheme read by fewer than ``min_readers`` tokens replaced by its position's
    pad unit.

    A unit of one token would be a per-token vector of ``q`` parameters, which the token's identity
    units already make up for fewer; its parameters are better spent on units that tokens share.
    A small budget raises ``min_readers`` (the ratio picker does): only the most widely shared
    sememes and morphemes keep rows of their own.
    """
    readers = {}
    for v, token_slot_tuples in enumerate(slots):
        for units in token_slot_tuples:
            for unit in units:
                if unit.startswith(SHARED_KINDS):
                    readers.setdefault(unit, set()).add(v)
    single = {unit for unit, tokens in readers.items() if len(tokens) < min_readers}
    return [[tuple(f"pad.{j}" if unit in single else unit for j, unit in enumerate(units))
             for units in token_slot_tuples] for token_slot_tuples in slots]


def index_dtype(rows):
    """The integer type of the row ids: int32 (int64 before). int16 would hold most tables' rows, but
    multi-process fairseq broadcasts a checkpoint's tensors when it loads one, and neither gloo nor
    NCCL can broadcast int16 (uint8 they can, for tables of at most 256 rows)."""
    return np.uint8 if rows <= 256 else np.int32


def assign_rows(slots, tables):
    """Row ids (V, R, o) and row names from every token's slot tuples: slot k reads table k mod m,
    and a table holds just the units its slots read (specials' units first, so their rows do not
    depend on the lexicon)."""
    vocab, rank, order = len(slots), len(slots[0]), len(slots[0][0])
    used = [dict() for _ in range(tables)]  # table -> {unit: None}, first use order
    for token_slots_ in slots:
        for k, units in enumerate(token_slots_):
            for unit in units:
                used[k % tables].setdefault(unit, None)
    names = []
    for k, table_units in enumerate(used):
        specials = [u for u in table_units if u.startswith("sym:")]
        names += [f"t{k}/{u}" for u in specials + sorted(u for u in table_units if not u.startswith("sym:"))]
    row_of = {name: i for i, name in enumerate(names)}
    unit_ids = np.empty((vocab, rank, order), dtype=index_dtype(len(names)))
    for v, token_slots_ in enumerate(slots):
        for k, units in enumerate(token_slots_):
            unit_ids[v, k] = [row_of[f"t{k % tables}/{u}"] for u in units]
    return unit_ids, names


def check_index_sizes(order, rank, tables, identity_ranks=1, min_readers=1):
    """One-line errors for sizes no index can have."""
    if order < 1 or rank < 1 or tables < 1:
        raise LexiconError(f"--see-order, --see-rank and --see-tables must be >= 1 (got {order}, {rank}, {tables})")
    if rank < 2:
        raise LexiconError(f"--see-rank must be >= 2 (got {rank}): the last slot of every token holds the "
                           "identity units that keep its row its own")
    if not 1 <= identity_ranks <= rank:
        raise LexiconError(f"--see-identity-ranks must be between 1 and --see-rank ({rank}), got {identity_ranks}: "
                           "the last slots of every token hold identity units, the ones before them its senses "
                           "and morphemes")
    if min_readers < 1:
        raise LexiconError(f"--see-min-readers must be >= 1 (got {min_readers}): it is the number of tokens a "
                           "sememe or morpheme must be read by to keep a row (1: every unit keeps one)")


class IndexBuilder:
    """Indexes of one dictionary at any sizes; the slot tuples of an (order, rank, identity ranks) are
    built once, and ``row_count`` prices any sizes without building them, for the ratio picker."""

    def __init__(self, symbols, counts, lexicon, segmenter=None, lexicon_name=None, segmenter_name=None,
                 min_readers=2):
        self.symbols, self.counts, self.lexicon, self.segmenter = list(symbols), counts, lexicon, segmenter
        self.min_readers = min_readers
        self.lexicon_name = lexicon_name or (lexicon.name if lexicon is not None else None)
        self.segmenter_name = segmenter_name
        self._slots, self._counts = {}, {}

    def slots(self, order, rank, identity_ranks=1, min_readers=None):
        """(every token's slot tuples, which tokens got a sememe) at these sizes (``min_readers``:
        the builder's unless given)."""
        min_readers = self.min_readers if min_readers is None else min_readers
        sizes = (order, rank, identity_ranks, min_readers)
        if sizes not in self._slots:
            base = identity_base(len(self.symbols), order)
            slots, covered = [], np.zeros(len(self.symbols), dtype=bool)
            for v, token in enumerate(self.symbols):
                token_slot_tuples, covered[v] = token_slots(v, token, self.lexicon, order, rank, base, self.segmenter,
                                                            identity_ranks)
                slots.append(token_slot_tuples)
            slots = drop_single_token_units(slots, min_readers)
            # covered: a sememe unit survived (one of a single token's own sememes does not)
            covered &= np.array([any(u.startswith("sem:") for units in token_slot_tuples for u in units)
                                 for token_slot_tuples in slots])
            self._slots[sizes] = slots, covered
        return self._slots[sizes]

    def row_count(self, order, rank, tables, identity_ranks, min_readers=None):
        """The rows ``build(order, rank, tables, identity_ranks, min_readers)`` would have, without building it.

        The semantic tuples depend only on the order and the number of semantic slots (taken from
        the index with one identity rank); identity rank ``r`` always sits in slot ``R - 1 - r`` and
        its units are its own, so it adds the distinct digits per position of the tokens that have
        it: every token for ``r < I``, those with free semantic slots beyond. Cached per part, so
        the ratio picker can price hundreds of sizes in well under a second.
        """
        semantic_slots = rank - identity_ranks
        semantic_rows, lengths = self._semantic_rows(order, semantic_slots, tables, min_readers)
        rows = self._all_tokens_identity_rows(order, identity_ranks)
        free = rank - lengths  # identity ranks per token
        for r in range(identity_ranks, int(free.max())):
            rows += self._identity_rows(order, r, np.flatnonzero(free > r))
        return semantic_rows + rows

    def _semantic_rows(self, order, semantic_slots, tables, min_readers):
        """(rows of the semantic slots in ``tables`` tables, semantic tuples per token (V,))."""
        key = ("semantic", order, semantic_slots, tables, min_readers)
        if key not in self._counts:
            semantic = ([[units for units in token_slot_tuples[:semantic_slots] if not units[0].startswith("id")]
                        for token_slot_tuples in self.slots(order, semantic_slots + 1, 1, min_readers)[0]]
                        if semantic_slots else [])
            rows = len({(k % tables, unit) for token_semantic in semantic for k, units in enumerate(token_semantic)
                        for unit in units})
            lengths = np.array([len(t) for t in semantic]) if semantic else np.zeros(len(self.symbols), dtype=int)
            self._counts[key] = rows, lengths
        return self._counts[key]

    def _all_tokens_identity_rows(self, order, identity_ranks):
        """Rows of identity ranks 0 .. I-1 read by every token (a prefix sum, grown on demand)."""
        sums = self._counts.setdefault(("identity", order), [0])
        tokens = np.arange(len(self.symbols))
        while len(sums) <= identity_ranks:
            sums.append(sums[-1] + self._identity_rows(order, len(sums) - 1, tokens))
        return sums[identity_ranks]

    def _identity_rows(self, order, rank, tokens):
        """Distinct units of identity rank ``rank`` read by ``tokens``: distinct digits per position."""
        base = identity_base(len(self.symbols), order)
        values = identity_value(tokens, rank, base ** order)
        return sum(len(np.unique(values // base ** (order - 1 - j) % base)) for j in range(order))

    def build(self, order, rank, tables=1, identity_ranks=1, min_readers=None):
        min_readers = self.min_readers if min_readers is None else min_readers
        check_index_sizes(order, rank, tables, identity_ranks, min_readers)
        slots, covered = self.slots(order, rank, identity_ranks, min_readers)
        unit_ids, names = assign_rows(slots, tables)
        meta = {"format": INDEX_FORMAT, "order": order, "rank": rank, "tables": tables,
                "identity_ranks": identity_ranks, "min_readers": min_readers,
                "lexicon": self.lexicon_name, "segmenter": self.segmenter_name}
        return SememeIndex(unit_ids=unit_ids, units=names, covered=covered.copy(),
                           special=np.array([is_special(t) for t in self.symbols], dtype=bool),
                           counts=np.asarray(self.counts, dtype=np.int64), checksum=dictionary_checksum(self.symbols),
                           meta=meta)


def build_index(symbols, counts, lexicon, order, rank, tables=1, segmenter=None, lexicon_name=None, min_readers=2,
                identity_ranks=1):
    """The index of a fairseq dictionary (its ``symbols`` and ``counts``) from a lexicon and (for
    non-Chinese pieces) a morpheme segmenter; either may be None."""
    return IndexBuilder(symbols, counts, lexicon, segmenter, lexicon_name, min_readers=min_readers).build(
        order, rank, tables, identity_ranks)


def morpheme_tuple(token, order, segmenter=None):
    """A token's morphemes as one ``order``-tuple: the word-start marker, Chinese characters or the
    segmenter's morphs, per-position pads (a special symbol is its own unit)."""
    if is_special(token):
        return _padded(["sym:" + token], order)
    key = lookup_key(token)
    start = [WORD_START] if token.startswith(SPM_MARKER) and key != token else []
    return _padded(start + ["mor:" + m for m in morphemes(key, segmenter)], order)


def morpheme_index(symbols, order, segmenter=None):
    """MorphTE's index: every token as one tuple of morphemes (``morpheme_tuple``), no sememes and no
    identity units. Returns ``(morpheme_ids (V, order), unit names)``."""
    tuples = [morpheme_tuple(token, order, segmenter) for token in symbols]
    specials = list(dict.fromkeys(u for t in tuples for u in t if u.startswith("sym:")))
    units = specials + sorted({u for t in tuples for u in t} - set(specials))
    row_of = {u: i for i, u in enumerate(units)}
    ids = np.array([[row_of[u] for u in t] for t in tuples], dtype=index_dtype(len(units))).reshape(len(symbols), order)
    return ids, units


def randomize_sememes(index, seed):
    """The ``see_random`` ablation: every token's sememes replaced by random sememes, same count.

    Per token and table, its distinct sememe rows are mapped one-to-one onto as many distinct
    sememe rows of the same table, drawn uniformly without replacement; morphemes, identity units,
    specials and the slot structure are kept, and so is the row inventory, hence the parameter
    count. Deterministic for a seed (numpy's PCG64, tokens visited in dictionary order).
    """
    tables = index.tables
    table_of = np.array([int(u.split("/", 1)[0][1:]) for u in index.units])
    is_sememe = np.array(["/sem:" in u for u in index.units])
    sememes_of_table = [np.flatnonzero(is_sememe & (table_of == k)) for k in range(tables)]
    rng = np.random.default_rng(seed)
    unit_ids = index.unit_ids.copy()
    for v in range(len(unit_ids)):
        rows = unit_ids[v]  # (R, o), a view
        own = list(dict.fromkeys(int(u) for u in rows.ravel() if is_sememe[u]))  # first-seen order
        mapping = {}
        for k in range(tables):
            mine = [u for u in own if table_of[u] == k]
            if mine:
                mapping.update(zip(mine, rng.choice(sememes_of_table[k], size=len(mine), replace=False).tolist()))
        if mapping:
            rows[...] = np.vectorize(lambda u: mapping.get(int(u), int(u)), otypes=[rows.dtype])(rows)
    return SememeIndex(unit_ids=unit_ids, units=list(index.units), covered=index.covered.copy(),
                       special=index.special.copy(), counts=index.counts.copy(), checksum=index.checksum,
                       meta=dict(index.meta, randomized_seed=seed))
