"""Sizes of the compressed embeddings: option defaults, and the picker for a requested ratio."""

import math
import numbers

from ..errors import UserInputError
from .low_rank_embedding import LowRankEmbedding
from .morph_te_embedding import MorphTEEmbedding
from .sememe_entanglement import fitting_orders, order_fits, unit_size
from .sememe_entanglement_embedding import SememeEntanglementEmbedding
from .tt_embedding import TTEmbedding
from .word2ket_embedding import Word2KetEmbedding
from .word2ket_xs_embedding import Word2KetXSEmbedding

# default sizes, and the fairseq option each comes from (--low-rank-dim, --word2ket-order, ...)
DEFAULT_SIZES = {"low_rank_dim": 64, "word2ket_order": 3, "word2ket_rank": 1, "word2ketxs_order": 2,
                 "word2ketxs_rank": 16, "tt_order": 3, "tt_rank": 16, "morphte_order": 3, "morphte_rank": 7}


def sizes_from_args(args):
    """The size options of ``args``, defaults where unset (an explicit 0 stays, and is refused)."""
    sizes = {name: getattr(args, name, None) for name in DEFAULT_SIZES}
    return {name: DEFAULT_SIZES[name] if value is None else value for name, value in sizes.items()}


def _best(candidates, full, ratio, preferred_order, tolerance):
    """The candidate whose ratio is nearest (in log) to the request; the preferred order wins when
    it gets within ``tolerance``."""
    def error(candidate):
        return abs(math.log(full / candidate[1] / ratio))
    candidates = sorted(candidates, key=error)
    preferred = [c for c in candidates if c[0].get("order") == preferred_order]
    if preferred and error(preferred[0]) <= math.log1p(tolerance):
        return preferred[0]
    return candidates[0]


def _near(x, low=1, high=None):
    """The integers around a real solution, clamped."""
    values = {math.floor(x), math.ceil(x)}
    return sorted({min(max(int(v), low), high) if high else max(int(v), low) for v in values})


def check_ratio(ratio):
    """A requested compression ratio must be a finite number >= 1 (1: as many parameters as a full table)."""
    if not isinstance(ratio, numbers.Real) or isinstance(ratio, bool) or not math.isfinite(ratio) or ratio < 1:
        raise UserInputError(f"--embedding-compression-ratio {ratio}: expected a finite number >= 1 (|V|*d / the "
                             "embedding's parameters; 1 is the size of a full table, 20 a twentieth of it)")


def ratio_beside(vocab, dim, ratio, dense_rows=0, output_bias=False, dense_option="--dense-rows"):
    """The ratio a compressor must reach so that it, ``dense_rows`` full rows of d and (``output_bias``) a
    per-token output bias reach ``ratio`` together: |V|·d / (|V|·d/ratio − rows·d − |V|). ``dense_option``:
    the option that asked for the rows, for the refusal."""
    budget = vocab * dim / ratio - dense_rows * dim - (vocab if output_bias else 0)  # the compressor's
    if budget <= 0:
        extras = ([f"{dense_option} {dense_rows}"] if dense_rows else []) + (["--tied-output-bias"] if output_bias else [])
        raise UserInputError(f"{' and '.join(extras)}: at --embedding-compression-ratio {ratio:g} a table of |V| "
                             f"{vocab} may have {vocab / ratio:.0f} rows' worth of parameters in all; use fewer "
                             "dense rows" + (", no output bias" if output_bias else "") + " or a lower ratio")
    return vocab * dim / budget


def split_budget(source_full, target_full, ratio, target_share):
    """(source ratio, target ratio) that spend the budget of ``ratio`` over both tables,
    (source_full + target_full) / ratio parameters, ``target_share`` of it on the target table (which the
    tied output projection also reads). ``*_full``: |V|·d of a side's full table."""
    check_ratio(ratio)
    if not isinstance(target_share, numbers.Real) or not 0 < target_share < 1:
        raise UserInputError(f"--target-budget-share {target_share}: expected a fraction between 0 and 1 (the "
                             "target table's part of both tables' parameters)")
    budget = (source_full + target_full) / ratio
    ratios = source_full / ((1 - target_share) * budget), target_full / (target_share * budget)
    if min(ratios) < 1:
        side = "source" if ratios[0] < 1 else "target"
        raise UserInputError(f"--target-budget-share {target_share:g} at --embedding-compression-ratio {ratio:g}: "
                             f"the {side} table would get more parameters than a full one ({min(ratios):.2f}x); "
                             "choose a share nearer the tables' sizes or a higher ratio")
    return ratios


def missed(ratio, achieved, tolerance=0.05):
    """Is ``achieved`` farther from the requested ``ratio`` than ``tolerance`` (relative)?"""
    return abs(math.log(achieved / ratio)) > math.log1p(tolerance)


def pick_size(kind, vocab, dim, ratio, order=None, units=None, tolerance=0.05):
    """Sizes of a ``kind`` embedding for a requested compression ratio |V|·d / params.

    Returns ``(config, params, achieved_ratio)``. The knob per type: ``e`` for low_rank, ``rank``
    (and, when the preferred ``order`` cannot get within ``tolerance``, the order) for word2ket,
    word2ketxs and tt, ``rank`` for morphte (its order is fixed by its index). ``units`` is |M| for
    morphte. (see / see_random: ``pick_see_size``.) A ratio out of a type's reach gets its nearest
    achievable size; the caller prints what was achieved.
    """
    check_ratio(ratio)
    full = vocab * dim
    target = full / ratio
    candidates = []
    if kind == "low_rank":
        for e in _near(target / (vocab + dim), high=dim):
            candidates.append(({"rank": e}, LowRankEmbedding.count(vocab, dim, e)))
    elif kind in ("word2ket", "word2ketxs"):
        cls = Word2KetEmbedding if kind == "word2ket" else Word2KetXSEmbedding
        for n in fitting_orders(dim, range(2, 10)):
            per_rank = cls.count(vocab, dim, n, 1)
            for r in _near(target / per_rank):
                candidates.append(({"order": n, "rank": r}, cls.count(vocab, dim, n, r)))
    elif kind == "tt":
        for n in (2, 3, 4):
            counts = [(r, TTEmbedding.count(vocab, dim, n, r)) for r in range(1, 1025)]
            above = [rc for rc in counts if rc[1] >= target][:1]
            below = [rc for rc in counts if rc[1] < target][-1:]
            for r, count in below + above:
                candidates.append(({"order": n, "rank": r}, count))
    elif kind == "morphte":
        per_rank = unit_size(dim, order) * units
        for r in _near((target - 2 * dim) / per_rank):
            candidates.append(({"order": order, "rank": r}, MorphTEEmbedding.count(dim, order, r, units)))
    else:
        raise UserInputError(f"no size to pick for embedding type {kind!r}")
    config, params = _best(candidates, full, ratio, order, tolerance)
    return config, params, full / params


# SEE's sizes in the order the picker prefers them when several reach the ratio: (order, semantic
# slots, tables), and for each the fewest readers a shared unit needs (more: fewer, more widely
# shared units, for small budgets). Measured (benchmarks/RESULTS.md, "Where SEE's parameters go"):
# identity ranks are the capacity a row needs and one semantic slot (the main sense, or the
# morphemes of a token without one) fits a trained table better than two at equal parameters;
# each slot costs a rebuild of the table (below), so the order whose ranks hold the most
# parameters, 2, comes first.
SEE_PREFERENCE = [(order, semantic, tables) for order in (2, 3, 4) for semantic in (1, 2, 3)
                  for tables in range(1, semantic + 1)]
SEE_MIN_READERS = (2, 4, 8, 16, 32, 64, 128, 256)
# Every slot adds a (V, q^a) x (V, q^b) product to each training step's table rebuild: measured CPU
# time of one rebuild, forward and backward, at 16 slots, one thread: 29 ms at |V| 6k, d 64; 47 ms at
# 8k, d 256; 171 ms at 16k, d 512 (at 56 slots, 6k, d 64: 140 ms, a third of that model's step). At
# the cpu profile's shape (8k + 8k, d 256, 3+3 layers) 24-32 slots made the training step 17% slower
# than full's; 16 keep it within a few per cent (benchmarks/RESULTS.md). --see-max-slots trades that
# speed for capacity: word2ketXS, which has no such cap, spends a budget the cap leaves to shared units
# on more ranks.
MAX_SLOTS = 16


def pick_see_size(row_count, vocab, dim, ratio, order=None, tolerance=0.05, preference=None, max_slots=MAX_SLOTS):
    """SEE's sizes for a requested ratio: ``(config, params, achieved_ratio)``, config with order,
    rank (slots), tables, identity_ranks and min_readers.

    ``row_count(order, rank, tables, identity_ranks, min_readers)``: the rows of the index at those
    sizes (every row is read). For each (order, semantic slots, tables) of ``SEE_PREFERENCE`` (only
    ``order`` when given) and each ``SEE_MIN_READERS``, the identity ranks, which add a few rows
    each, are the fine knob; the first sizes that get within ``tolerance`` win, else the nearest.
    ``preference`` replaces ``SEE_PREFERENCE`` (benchmarks/table_fit.py compares the choices).
    ``max_slots``: the most slots a token may have (each costs a product in every rebuild).
    """
    if not isinstance(max_slots, int) or max_slots < 2:
        raise UserInputError(f"--see-max-slots {max_slots}: expected a whole number >= 2 (a semantic slot and an "
                             "identity rank)")
    check_ratio(ratio)
    full = vocab * dim
    target = full / ratio

    def error(candidate):
        return abs(math.log(full / candidate[1] / ratio))

    candidates = []
    for n, semantic, tables in preference or SEE_PREFERENCE:
        if not order_fits(dim, n) or (order is not None and n != order):
            continue
        for min_readers in SEE_MIN_READERS:
            def params(identity):
                rows = row_count(n, semantic + identity, tables, identity, min_readers)
                return SememeEntanglementEmbedding.count(dim, n, rows)
            low, high = 1, 1
            most = max_slots - semantic
            if most < 1:
                continue
            while params(high) < target and high < most:
                low, high = high, min(2 * high, most)
            while high - low > 1:  # the fewest identity ranks reaching the target
                middle = (low + high) // 2
                low, high = (middle, high) if params(middle) < target else (low, middle)
            for identity in sorted({low, high}):
                candidate = ({"order": n, "rank": semantic + identity, "tables": tables, "identity_ranks": identity,
                              "min_readers": min_readers}, params(identity))
                if error(candidate) <= math.log1p(tolerance):
                    return candidate[0], candidate[1], full / candidate[1]
                candidates.append(candidate)
    if not candidates:
        raise UserInputError(f"--see-order {order} does not fit embedding dimension {dim}")
    config, params = min(candidates, key=error)
    return config, params, full / params


def ratio_note(side, kind, ratio, achieved, config, max_slots=None):
    """The log line of the ratio picker; a ratio out of the type's reach says so (logged as a warning).
    ``max_slots``: SEE's slot cap; when the sizes stop at it short of the parameters asked for, the
    line names the cap, since more slots would reach the ratio."""
    chosen = " ".join(f"{k}={v}" for k, v in config.items())
    miss = ""
    if missed(ratio, achieved):
        if max_slots is not None and achieved > ratio and config.get("rank") == max_slots:
            miss = (f" (nearest within --see-max-slots {max_slots}: --embedding-compression-ratio {ratio:g} needs "
                    "more slots at this vocabulary and dimension; a larger --see-max-slots reaches it, each slot "
                    "a product more in every table rebuild)")
        else:
            miss = (f" (nearest this type can get: --embedding-compression-ratio {ratio:g} is out of its reach at "
                    "this vocabulary and dimension)")
    return (f"embedding compression ({side}): type={kind} requested={ratio:.2f}x achieved={achieved:.2f}x "
            f"with {chosen}{miss}")
