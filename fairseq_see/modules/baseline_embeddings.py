"""The embedding compressors SEE is compared with, under SEE's own interface.

Every class here is a :class:`RebuiltTableEmbedding` (the base SEE's module shares): ``table()``
returns the rebuilt (V, d) table (once per training forward, cached in eval mode until parameters
change), ``forward(tokens)`` looks rows up in it, the decoder ties its output projection to it, and
``num_parameters()`` / ``describe()`` report the exact parameter count in the log line SEE uses:

    SEE embedding (<side>): full=<V*d> see=<params> ratio=<x.xx>x units=<n> type=<name> <sizes>

``units`` is the number of row vectors the table is assembled from (V for per-word factors, t·n for
word2ketXS's leaf rows, Σ v_j core slices for TT, |M| morphemes for MorphTE).

Types (V vocabulary, d model dimension, n order, r rank, q = ceil(d^(1/n))):

=========== ======================================================= ==============================
type        row of token v                                          parameters
=========== ======================================================= ==============================
low_rank    A[v] @ B   (ALBERT)                                     V·e + e·d
word2ket    Σ_k ⊗_j L[k, v, j]   (Panahi et al., ICLR 2020)          r·V·n·q
word2ketxs  row v of Σ_k ⊗_j F[j, k]   (F: t × q, t^n >= V)          n·r·t·q
tt          G_1[v_1] G_2[v_2] … G_n[v_n]   (Hrinchuk et al. 2020)    Σ_j r_(j-1)·v_j·d_j·r_j
morphte     LN(Σ_k ⊗_j T_k[m_vj])   (Gan et al., NeurIPS 2022)       r·|M|·q + 2d
=========== ======================================================= ==============================

Where a product is longer than d (q^n > d) the first d components are kept, as in SEE and in the
word2ket reference code. Initialisations give every table entry variance ~1/d (rows of norm ~1),
fairseq's N(0, d^-1/2) scale, so ``embed_scale`` and tied logits behave as with ``nn.Embedding``.
Only MorphTE has a LayerNorm (its paper's); word2ket's reference code has its LayerNorms commented
out ("not used in experiments"), TT and low-rank have none.

:func:`pick_size` chooses each type's size knob for a requested compression ratio.
"""

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .sememe_entanglement import RebuiltTableEmbedding, entangle, unit_size

BASELINE_TYPES = ("low_rank", "word2ket", "word2ketxs", "tt", "morphte")


class TiedTableProjection(nn.Module):
    """The decoder's output projection tied to a rebuilt table: logits = features @ table()^T.

    It owns nothing (the embedding is referenced, not registered: no ``output_projection.*`` keys
    in the state dict) and reads the same ``table()`` as the decoder input, so one rebuild serves
    both per training forward and the eval-mode cache serves generation.

    features (B, T, d) are flattened to (B·T, d) first. fairseq hands the projection a transposed
    view; ``F.linear`` on such a 3-D view folds it into one matrix product only when the weight
    requires grad (an ``nn.Parameter``), otherwise it falls back to a batched product that reads
    the whole (V, d) table once per sentence: with the eval-mode cached table that made beam
    search 3.6x slower than ``nn.Embedding`` at |V| 16k (benchmarks/RESULTS.md).
    """

    def __init__(self, embedding):
        super().__init__()
        self._embedding = (embedding,)  # a tuple: not a submodule

    def forward(self, features):
        table = self._embedding[0].table()  # (V, d)
        logits = F.linear(features.reshape(-1, features.shape[-1]), table)  # (B*T, V)
        return logits.view(*features.shape[:-1], table.shape[0])  # (B, T, V)


def _line(module, units, sizes):
    full = module.num_embeddings * module.embedding_dim
    params = module.num_parameters()
    return (f"SEE embedding ({module.side}): full={full} see={params} ratio={full / params:.2f}x "
            f"units={units} type={module.kind} {sizes}")


def identity_index(vocab, rank, order, device=None):
    """unit_ids (V, r, n) = v*n + j: every (word, factor) pair owns a unit (word2ket)."""
    ids = torch.arange(vocab * order, device=device).view(vocab, 1, order)  # (V, 1, n)
    return ids.expand(vocab, rank, order)  # (V, r, n)


class LowRankEmbedding(RebuiltTableEmbedding):
    """ALBERT's factorised embedding: table = A @ B.

    weight_in  (V, e)  one e-dim vector per word
    weight_out (e, d)  shared projection up to d
    """

    kind = "low_rank"

    def __init__(self, num_embeddings, embedding_dim, padding_idx, rank, side=""):
        super().__init__()
        if rank < 1:
            raise ValueError(f"low_rank: --low-rank-dim must be >= 1 (got {rank})")
        self.num_embeddings, self.embedding_dim, self.padding_idx, self.side = (
            num_embeddings, embedding_dim, padding_idx, side)
        self.weight_in = nn.Parameter(torch.empty(num_embeddings, rank))  # (V, e)
        self.weight_out = nn.Parameter(torch.empty(rank, embedding_dim))  # (e, d)
        self.reset_parameters()

    @staticmethod
    def count(vocab, dim, rank):
        return vocab * rank + rank * dim

    def reset_parameters(self):
        # rows of A of norm ~1, B entries of variance 1/d: table entries have variance 1/d
        nn.init.normal_(self.weight_in, std=self.weight_in.shape[1] ** -0.5)
        nn.init.normal_(self.weight_out, std=self.embedding_dim ** -0.5)
        self.invalidate()

    def build_table(self):
        return self.weight_in @ self.weight_out  # (V, e) @ (e, d) -> (V, d)

    def describe(self):
        return _line(self, self.num_embeddings, f"e={self.weight_in.shape[1]}")


class Word2KetEmbedding(RebuiltTableEmbedding):
    """word2ket: each word owns r·n small vectors; its row is Σ_k L[k,v,0] ⊗ … ⊗ L[k,v,n-1].

    leaves (r, V, n, q). The sum of Kronecker products is SEE's ``entangle`` with an identity index
    (every (word, factor) pair is its own unit, rank k reads table k), so it gets the same batched
    contraction that never builds the (V, r, q^n) tensor.
    """

    kind = "word2ket"

    def __init__(self, num_embeddings, embedding_dim, padding_idx, order, rank, side=""):
        super().__init__()
        if order < 1 or rank < 1:
            raise ValueError(f"word2ket: order and rank must be >= 1 (got {order}, {rank})")
        self.num_embeddings, self.embedding_dim, self.padding_idx, self.side = (
            num_embeddings, embedding_dim, padding_idx, side)
        self.order, self.rank = order, rank
        q = unit_size(embedding_dim, order)
        self.leaves = nn.Parameter(torch.empty(rank, num_embeddings, order, q))  # (r, V, n, q)
        # derived from the shapes alone: not saved in checkpoints
        self.register_buffer("unit_ids", identity_index(num_embeddings, rank, order), persistent=False)
        self.register_buffer("sense_mask", torch.ones(num_embeddings, rank, dtype=torch.bool), persistent=False)
        self.reset_parameters()

    @staticmethod
    def count(vocab, dim, order, rank):
        return rank * vocab * order * unit_size(dim, order)

    def reset_parameters(self):
        # an entry is a sum of r products of n leaf entries: variance r·σ^(2n) = 1/d
        nn.init.normal_(self.leaves, std=(self.rank * self.embedding_dim) ** (-0.5 / self.order))
        self.invalidate()

    def build_table(self):
        r, vocab, n, q = self.leaves.shape
        return entangle(self.leaves.reshape(r, vocab * n, q), self.unit_ids, self.sense_mask,
                        self.embedding_dim)  # (V, d)

    def describe(self):
        return _line(self, self.num_embeddings, f"order={self.order} rank={self.rank} q={self.leaves.shape[-1]}")


def kron_rows(factors):
    """Kronecker product of matrices, batched over the rank: (a, r, t, q) -> (r, t^a, q^a).

    Row index (i_1 … i_a) and column index (c_1 … c_a) with the first factor most significant, as
    ``torch.kron``.
    """
    product = factors[0]  # (r, T, Q)
    for factor in factors[1:]:  # (r, t, q)
        r, rows, cols = product.shape
        # (r, T, 1, Q, 1) * (r, 1, t, 1, q) -> (r, T*t, Q*q)
        product = (product[:, :, None, :, None] * factor[:, None, :, None, :]).reshape(
            r, rows * factor.shape[1], cols * factor.shape[2])
    return product


class Word2KetXSEmbedding(RebuiltTableEmbedding):
    """word2ketXS: the whole table is a sum of r Kronecker products of n small matrices.

    leaves (n, r, t, q) with t = ceil(V^(1/n)), q = ceil(d^(1/n));
    table = Σ_k F[0,k] ⊗ … ⊗ F[n-1,k]   (t^n, q^n) -> first V rows, first d columns.
    Built as one matmul: the first a = n//2 factors and the rest are Kronecker-multiplied per rank,
    then (t^a q^a, r) @ (r, t^b q^b) sums over the rank, and a permute orders rows and columns.
    """

    kind = "word2ketxs"

    def __init__(self, num_embeddings, embedding_dim, padding_idx, order, rank, side=""):
        super().__init__()
        if order < 2 or rank < 1:
            raise ValueError(f"word2ketxs: order must be >= 2 and rank >= 1 (got {order}, {rank})")
        self.num_embeddings, self.embedding_dim, self.padding_idx, self.side = (
            num_embeddings, embedding_dim, padding_idx, side)
        self.order, self.rank = order, rank
        t, q = unit_size(num_embeddings, order), unit_size(embedding_dim, order)
        self.leaves = nn.Parameter(torch.empty(order, rank, t, q))  # (n, r, t, q)
        self.reset_parameters()

    @staticmethod
    def count(vocab, dim, order, rank):
        return order * rank * unit_size(vocab, order) * unit_size(dim, order)

    def reset_parameters(self):
        nn.init.normal_(self.leaves, std=(self.rank * self.embedding_dim) ** (-0.5 / self.order))
        self.invalidate()

    def build_table(self):
        n, r, t, q = self.leaves.shape
        a = n // 2
        left = kron_rows(self.leaves[:a])  # (r, t^a, q^a)
        right = kron_rows(self.leaves[a:])  # (r, t^b, q^b)
        _, tl, ql = left.shape
        _, tr, qr = right.shape
        summed = left.reshape(r, tl * ql).t() @ right.reshape(r, tr * qr)  # (t^a q^a, t^b q^b)
        table = summed.view(tl, ql, tr, qr).permute(0, 2, 1, 3).reshape(tl * tr, ql * qr)  # (t^n, q^n)
        return table[:self.num_embeddings, :self.embedding_dim]  # (V, d)

    def describe(self):
        n, r, t, q = self.leaves.shape
        return _line(self, n * t, f"order={n} rank={r} t={t} q={q}")


def vocab_factors(vocab, order):
    """n factors, as equal as possible, whose product is >= vocab (TT pads the vocabulary)."""
    factors = [unit_size(vocab, order)] * order
    for i in range(order):
        while factors[i] > 1 and math.prod(factors) // factors[i] * (factors[i] - 1) >= vocab:
            factors[i] -= 1
    return factors


def dim_factors(dim, order):
    """n factors of ``dim``, the most balanced exact factorisation; if that is badly unbalanced
    (a prime dimension), n equal factors whose product is >= dim (the extra columns are cut)."""
    best = None

    def search(rest, count, start, chosen):
        nonlocal best
        if count == 1:
            if rest >= start:
                candidate = chosen + [rest]
                if best is None or max(candidate) < max(best):
                    best = candidate
            return
        f = start
        while f ** count <= rest:
            if rest % f == 0:
                search(rest // f, count - 1, f, chosen + [f])
            f += 1

    search(dim, order, 1, [])
    q = unit_size(dim, order)
    if best is None or max(best) > 2 * q:
        return [q] * order
    return sorted(best, reverse=True)


class TTEmbedding(RebuiltTableEmbedding):
    """Tensor-train embedding: row (v_1 … v_n) is G_1[:, v_1] G_2[:, v_2] … G_n[:, v_n].

    cores[j] (r_(j-1), v_j, d_j, r_j), r_0 = r_n = 1, Π v_j >= V, Π d_j >= d. The table is built by
    contracting the cores left to right, (v_1 d_1 … v_j d_j, r_j) @ (r_j, v_(j+1) d_(j+1) r_(j+1)),
    then permuting (v_1, d_1, …, v_n, d_n) to (v_1 … v_n, d_1 … d_n).
    """

    kind = "tt"

    def __init__(self, num_embeddings, embedding_dim, padding_idx, order, rank, side=""):
        super().__init__()
        if order < 2 or rank < 1:
            raise ValueError(f"tt: order must be >= 2 and rank >= 1 (got {order}, {rank})")
        self.num_embeddings, self.embedding_dim, self.padding_idx, self.side = (
            num_embeddings, embedding_dim, padding_idx, side)
        self.order, self.rank = order, rank
        self.vocab_factors = vocab_factors(num_embeddings, order)
        self.dim_factors = dim_factors(embedding_dim, order)
        ranks = [1] + [rank] * (order - 1) + [1]
        self.cores = nn.ParameterList(
            nn.Parameter(torch.empty(ranks[j], self.vocab_factors[j], self.dim_factors[j], ranks[j + 1]))
            for j in range(order))  # cores[j]: (r_(j-1), v_j, d_j, r_j)
        self.reset_parameters()

    @staticmethod
    def count(vocab, dim, order, rank):
        ranks = [1] + [rank] * (order - 1) + [1]
        v, d = vocab_factors(vocab, order), dim_factors(dim, order)
        return sum(ranks[j] * v[j] * d[j] * ranks[j + 1] for j in range(order))

    def reset_parameters(self):
        # an entry sums Π_(j<n) r_j products of n core entries: variance r^(n-1)·σ^(2n) = 1/d
        std = (self.embedding_dim * self.rank ** (self.order - 1)) ** (-0.5 / self.order)
        for core in self.cores:
            nn.init.normal_(core, std=std)
        self.invalidate()

    def build_table(self):
        first = self.cores[0]
        result = first.reshape(-1, first.shape[-1])  # (v_1 d_1, r_1)
        for core in self.cores[1:]:
            r_in, v, d, r_out = core.shape
            result = (result @ core.reshape(r_in, v * d * r_out)).reshape(-1, r_out)  # (… v_j d_j, r_j)
        n = self.order
        shape = [s for pair in zip(self.vocab_factors, self.dim_factors) for s in pair]  # v_1, d_1, …
        table = result.reshape(shape).permute(*range(0, 2 * n, 2), *range(1, 2 * n, 2))
        table = table.reshape(math.prod(self.vocab_factors), math.prod(self.dim_factors))  # (Πv, Πd)
        return table[:self.num_embeddings, :self.embedding_dim]  # (V, d)

    def describe(self):
        return _line(self, sum(self.vocab_factors),
                     f"order={self.order} rank={self.rank} "
                     f"vocab_factors={'x'.join(map(str, self.vocab_factors))} "
                     f"dim_factors={'x'.join(map(str, self.dim_factors))}")


class MorphTEEmbedding(RebuiltTableEmbedding):
    """MorphTE: a word's row is LN(Σ_k T_k[m_1] ⊗ … ⊗ T_k[m_n])[:d] over its n morphemes.

    morpheme_ids (V, n) int64: the morpheme-only index of the dictionary (Chinese characters, whole
                               subword pieces, a unit per special symbol; ``morpheme_index``), a
                               buffer, so it travels in checkpoints
    unit_vectors (r, |M|, q):  r morpheme tables, rank k reads table k (MorphTE's rank)
    It is SEE's ``entangle`` with r identical "senses" per word, each on its own table.
    """

    kind = "morphte"

    def __init__(self, morpheme_ids, units, embedding_dim, padding_idx, rank, side=""):
        super().__init__()
        morpheme_ids = torch.as_tensor(morpheme_ids, dtype=torch.long)
        vocab, order = morpheme_ids.shape
        if rank < 1:
            raise ValueError(f"morphte: rank must be >= 1 (got {rank})")
        self.num_embeddings, self.embedding_dim, self.padding_idx, self.side = (
            vocab, embedding_dim, padding_idx, side)
        self.units = list(units)
        self.register_buffer("morpheme_ids", morpheme_ids)  # (V, n)
        q = unit_size(embedding_dim, order)
        self.unit_vectors = nn.Parameter(torch.empty(rank, len(self.units), q))  # (r, |M|, q)
        self.layer_norm = nn.LayerNorm(embedding_dim)
        self.reset_parameters()

    @property
    def order(self):
        return self.morpheme_ids.shape[1]

    @property
    def rank(self):
        return self.unit_vectors.shape[0]

    @staticmethod
    def count(dim, order, rank, units):
        return rank * units * unit_size(dim, order) + 2 * dim

    def reset_parameters(self):
        # as SEE: unit vectors of norm ~1, LayerNorm gain d^-1/2 (fairseq's embedding scale)
        nn.init.normal_(self.unit_vectors, std=self.unit_vectors.shape[-1] ** -0.5)
        nn.init.zeros_(self.layer_norm.bias)
        nn.init.constant_(self.layer_norm.weight, self.embedding_dim ** -0.5)
        self.invalidate()

    def build_table(self):
        vocab, order = self.morpheme_ids.shape
        ids = self.morpheme_ids.unsqueeze(1).expand(vocab, self.rank, order)  # (V, r, n)
        mask = torch.ones(vocab, self.rank, dtype=torch.bool, device=ids.device)  # (V, r)
        return self.layer_norm(entangle(self.unit_vectors, ids, mask, self.embedding_dim))  # (V, d)

    def describe(self):
        return _line(self, len(self.units),
                     f"order={self.order} rank={self.rank} q={self.unit_vectors.shape[-1]}")


# ---- sizes for a requested compression ratio -------------------------------------------------------

def valid_orders(dim, orders=range(2, 10)):
    """Orders whose products fit d without wasting more than half: q^n < 2d (SEE's rule)."""
    return [n for n in orders if unit_size(dim, n) ** n < 2 * dim]


def see_count(dim, order, tables, units):
    """SEE's parameters: m tables of |U| unit vectors of size q, plus the LayerNorm."""
    return tables * units * unit_size(dim, order) + 2 * dim


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


def pick_size(kind, vocab, dim, ratio, order=None, units=None, max_tables=None, tolerance=0.05):
    """Sizes of a ``kind`` embedding for a requested compression ratio |V|·d / params.

    Returns ``(config, params, achieved_ratio)``. The knob per type: ``e`` for low_rank, ``rank``
    (and, when the preferred ``order`` cannot get within ``tolerance``, the order) for word2ket,
    word2ketxs and tt, ``rank`` for morphte (its order is fixed by its index), ``tables`` m <=
    ``max_tables`` (SEE's rank) and the order for see / see_random. ``units`` is |M| for morphte,
    and ``{order: |U|}`` for see (the inventory depends on the order). A ratio out of a type's reach
    gets its nearest achievable size; the caller prints what was achieved.
    """
    if ratio <= 0:
        raise ValueError(f"--embedding-compression-ratio must be > 0 (got {ratio})")
    full = vocab * dim
    target = full / ratio
    candidates = []
    if kind == "low_rank":
        for e in _near(target / (vocab + dim), high=dim):
            candidates.append(({"rank": e}, LowRankEmbedding.count(vocab, dim, e)))
    elif kind in ("word2ket", "word2ketxs"):
        cls = Word2KetEmbedding if kind == "word2ket" else Word2KetXSEmbedding
        for n in valid_orders(dim):
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
    elif kind in ("see", "see_random"):
        for n, u in units.items():
            for m in range(1, (max_tables or 1) + 1):
                candidates.append(({"order": n, "tables": m}, see_count(dim, n, m, u)))
    else:
        raise ValueError(f"no size to pick for embedding type {kind!r}")
    config, params = _best(candidates, full, ratio, order, tolerance)
    return config, params, full / params


# default sizes, and the fairseq option each comes from (--low-rank-dim, --word2ket-order, ...)
DEFAULT_SIZES = {"low_rank_dim": 64, "word2ket_order": 3, "word2ket_rank": 1, "word2ketxs_order": 2,
                 "word2ketxs_rank": 16, "tt_order": 3, "tt_rank": 16, "morphte_order": 3, "morphte_rank": 7}


def sizes_from_args(args):
    """The size options of ``args``, defaults where unset (an explicit 0 stays, and is refused)."""
    sizes = {name: getattr(args, name, None) for name in DEFAULT_SIZES}
    return {name: DEFAULT_SIZES[name] if value is None else value for name, value in sizes.items()}


def build_baseline(kind, symbols, counts, dim, padding_idx, sizes=None, ratio=None, side=""):
    """A baseline embedding of a dictionary (its ``symbols`` and ``counts``).

    ``sizes``: as ``DEFAULT_SIZES`` (missing keys take the defaults). With ``ratio``, the size knob
    is picked by ``pick_size`` instead (the configured order is preferred). Returns
    ``(embedding, note)``; ``note`` says what the ratio picker chose, None without a ratio.
    """
    sizes = dict(DEFAULT_SIZES, **(sizes or {}))
    vocab = len(symbols)
    note = None
    if kind == "morphte":
        from ..lexicon.index import morpheme_index
        index = morpheme_index(symbols, counts, sizes["morphte_order"])
        config = {"order": sizes["morphte_order"], "rank": sizes["morphte_rank"]}
        if ratio is not None:
            config, _, achieved = pick_size(kind, vocab, dim, ratio, order=config["order"], units=len(index.units))
        embedding = MorphTEEmbedding(index.unit_ids[:, 0, :], index.units, dim, padding_idx, config["rank"],
                                     side=side)
    else:
        if kind == "low_rank":
            config = {"rank": sizes["low_rank_dim"]}
        elif kind in ("word2ket", "word2ketxs", "tt"):
            config = {"order": sizes[f"{kind}_order"], "rank": sizes[f"{kind}_rank"]}
        else:
            raise ValueError(f"unknown embedding type {kind!r}; one of {', '.join(BASELINE_TYPES)}")
        if ratio is not None:
            config, _, achieved = pick_size(kind, vocab, dim, ratio, order=config.get("order"))
        cls = {"low_rank": LowRankEmbedding, "word2ket": Word2KetEmbedding, "word2ketxs": Word2KetXSEmbedding,
               "tt": TTEmbedding}[kind]
        if kind == "low_rank":
            embedding = cls(vocab, dim, padding_idx, config["rank"], side=side)
        else:
            embedding = cls(vocab, dim, padding_idx, config["order"], config["rank"], side=side)
    if ratio is not None:
        note = ratio_note(side, kind, ratio, achieved, config)
    return embedding, note


def ratio_note(side, kind, ratio, achieved, config):
    """The log line of the ratio picker."""
    chosen = " ".join(f"{k}={v}" for k, v in config.items())
    miss = "" if abs(math.log(achieved / ratio)) <= math.log1p(0.05) else " (nearest this type can get)"
    return (f"embedding compression ({side}): type={kind} requested={ratio:.2f}x achieved={achieved:.2f}x "
            f"with {chosen}{miss}")
