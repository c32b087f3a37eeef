"""Sememe Entanglement Encoding: the whole method's math, in one module.

A token's embedding is rebuilt from small unit vectors (SEE.md, "The formulation we adopt"):

    e(w) = LayerNorm( Σ_k  T_k[u_k1] ⊗ T_k[u_k2] ⊗ … ⊗ T_k[u_ko] )[:d]

with ``k`` over the token's senses (at most R, a mask excludes missing ones), ``u_kj`` the unit ids
from the index, ``T_k`` = table ``k mod m`` of shape (|U|, q) and ``q = ceil(d^(1/o))``.

Shapes used below: V vocabulary, R rank (sense slots), o order, m tables, U units, q = unit size,
d model dimension, D = q^o >= d.
"""

import torch
import torch.nn as nn
import torch.nn.functional as F


def unit_size(dim, order):
    """Smallest q with q**order >= dim (integer search: float roots round the wrong way)."""
    q = 1
    while q ** order < dim:
        q += 1
    return q


def check_see_dimensions(dim, order, rank, tables):
    """One-line errors for option values that cannot build an embedding of size ``dim``."""
    if order < 1 or rank < 1 or tables < 1:
        raise ValueError(f"--see-order, --see-rank and --see-tables must be >= 1 (got {order}, {rank}, {tables})")
    q = unit_size(dim, order)
    if q ** order >= 2 * dim:
        # e.g. d 512, o 10: q = 2 and 1024-dim products, half of every product thrown away
        raise ValueError(f"--see-order {order} does not fit embedding dimension {dim}: units of size {q} give "
                         f"{q ** order}-dim products, more than twice {dim}; use an order with "
                         f"ceil(d^(1/o))^o < 2d (for d={dim}: "
                         f"{', '.join(str(o) for o in range(1, 9) if unit_size(dim, o) ** o < 2 * dim)})")


def outer_product(factors):
    """Kronecker product along the last axis: (..., n, q) -> (..., q^n)."""
    product = factors[..., 0, :]
    for j in range(1, factors.shape[-2]):
        # (..., a, 1) * (..., 1, q) -> (..., a*q)
        product = (product.unsqueeze(-1) * factors[..., j, :].unsqueeze(-2)).flatten(-2)
    return product


def entangle(unit_vectors, unit_ids, sense_mask, dim):
    """The pre-LayerNorm table Σ_k ⊗_j T_k[u_kj], truncated to ``dim``: (V, d).

    unit_vectors: (m, U, q)   the m unit tables
    unit_ids:     (V, R, o)   int64 unit id per sense and factor
    sense_mask:   (V, R)      bool, True where the token has that sense

    The (V, R, D) tensor of per-sense products is never built: the factors are split into a left
    group of ``a`` and a right group of ``o - a`` and the sum over senses becomes a batched matmul
    (V, q^a, R) @ (V, R, q^(o-a)) -> (V, q^a, q^(o-a)), with the mask folded into the left group.
    That is ~6x faster than broadcasting on CPU (shared/docs/PERFORMANCE-NOTES.md).
    """
    m, num_units, q = unit_vectors.shape
    vocab, rank, order = unit_ids.shape
    # sense k reads table k mod m: offset its ids into the flattened (m*U, q) table
    table_offset = (torch.arange(rank, device=unit_ids.device) % m) * num_units  # (R,)
    flat_ids = unit_ids + table_offset.view(1, rank, 1)  # (V, R, o)
    factors = F.embedding(flat_ids, unit_vectors.reshape(m * num_units, q))  # (V, R, o, q)
    if order == 1:
        summed = (factors[:, :, 0] * sense_mask.unsqueeze(-1).to(factors.dtype)).sum(1)  # (V, q)
        return summed[:, :dim]
    split = order // 2
    left = outer_product(factors[:, :, :split])  # (V, R, q^a)
    left = left * sense_mask.unsqueeze(-1).to(left.dtype)  # masked senses contribute nothing
    right = outer_product(factors[:, :, split:])  # (V, R, q^(o-a))
    table = torch.bmm(left.transpose(1, 2), right)  # (V, q^a, q^(o-a))
    return table.reshape(vocab, -1)[:, :dim]  # (V, D) -> (V, d)


class RebuiltTableEmbedding(nn.Module):
    """Base of every token embedding whose (V, d) table is rebuilt from fewer parameters.

    A subclass sets ``num_embeddings``, ``embedding_dim``, ``padding_idx`` and implements
    ``build_table()`` -> (V, d). This class gives it fairseq's ``Embedding`` interface
    (``forward(tokens)``) and the rebuild policy: once per training forward (the table is shared by
    the decoder input and the tied output projection, and dropped once backward has used its graph),
    once per parameter state in eval mode (then exactly ``nn.Embedding``'s cost). The decoder ties
    its output projection to ``table()`` of any such module.
    """

    def __init__(self):
        super().__init__()
        self._cache_key = None
        self._cache = None

    def build_table(self):
        raise NotImplementedError

    def check_ready(self):
        """Raise when the module cannot build its table yet (see SEE's placeholder)."""

    def num_parameters(self):
        return sum(p.numel() for p in self.parameters())

    # ---- the rebuilt table, cached -------------------------------------------------------------

    def invalidate(self):
        self._cache_key = None
        self._cache = None

    def train(self, mode=True):
        self.invalidate()
        return super().train(mode)

    def _key(self):
        params = tuple((p.data_ptr(), p._version, p.dtype, p.device) for p in self.parameters())
        return (self.training, torch.is_grad_enabled(), params)

    def table(self):
        """The rebuilt (V, d) table: once per training forward, once per parameter state in eval."""
        self.check_ready()
        key = self._key()
        if self._cache is not None and self._cache_key == key:
            return self._cache
        table = self.build_table()  # (V, d)
        if table.requires_grad:
            # a training table is shared by the decoder input and the output projection of one
            # forward; once backward has gone through it its graph is gone, so drop it then
            table.register_hook(self._drop_cache_hook)
        elif self.training:
            return table  # no graph and parameters may change in place: nothing safe to cache
        else:
            table = table.contiguous()  # a cut (t^n, q^n) product: one copy, then plain lookups
        self._cache_key, self._cache = key, table
        return table

    def _drop_cache_hook(self, grad):
        self.invalidate()
        return grad

    def forward(self, tokens):
        return F.embedding(tokens, self.table(), self.padding_idx)

    def _load_from_state_dict(self, *args, **kwargs):
        self.invalidate()
        super()._load_from_state_dict(*args, **kwargs)


class SememeEntanglementEmbedding(RebuiltTableEmbedding):
    """A drop-in for fairseq's token ``Embedding`` whose rows are rebuilt from sememe/morpheme units.

    The index (``unit_ids``, ``sense_mask``) is a buffer, so it travels in checkpoints and a trained
    model loads without the lexicon; the unit names and the dictionary checksum travel as extra
    state. Loading a checkpoint adopts its index (and the matching unit-table shape) after checking
    that it was built for the same dictionary.
    """

    def __init__(self, unit_ids, sense_mask, units, dictionary_checksum, embedding_dim, padding_idx,
                 tables=1, side="", placeholder=False):
        super().__init__()
        vocab, rank, order = unit_ids.shape
        check_see_dimensions(embedding_dim, order, rank, tables)
        self.num_embeddings = vocab
        self.embedding_dim = embedding_dim
        self.padding_idx = padding_idx
        self.side = side
        self.units = list(units)
        self.dictionary_checksum = dictionary_checksum
        # a placeholder is built when no index is at hand (generation without the lexicon); it
        # becomes the real thing when a checkpoint is loaded into it, and refuses to run before
        self.placeholder = placeholder
        self.register_buffer("unit_ids", torch.as_tensor(unit_ids, dtype=torch.long))
        self.register_buffer("sense_mask", torch.as_tensor(sense_mask, dtype=torch.bool))
        q = unit_size(embedding_dim, order)
        self.unit_vectors = nn.Parameter(torch.empty(tables, len(self.units), q))
        self.layer_norm = nn.LayerNorm(embedding_dim)
        self.reset_parameters()
        self._cache_key = None
        self._cache = None

    def reset_parameters(self):
        # unit vectors of norm ~1, so a product of o of them has norm ~1 whatever o is
        nn.init.normal_(self.unit_vectors, std=self.unit_vectors.shape[-1] ** -0.5)
        nn.init.zeros_(self.layer_norm.bias)
        # LayerNorm outputs unit variance per component; a gain of d^-1/2 gives rows the scale of
        # fairseq's N(0, d^-1/2) embeddings, so embed_scale and tied logits behave as usual
        nn.init.constant_(self.layer_norm.weight, self.embedding_dim ** -0.5)
        self.invalidate()

    @property
    def order(self):
        return self.unit_ids.shape[2]

    @property
    def rank(self):
        return self.unit_ids.shape[1]

    @property
    def tables(self):
        return self.unit_vectors.shape[0]

    def describe(self, coverage=None):
        """The log line of the issue: params against a full |V| x d table."""
        full = self.num_embeddings * self.embedding_dim
        see = self.num_parameters()
        line = (f"SEE embedding ({self.side}): full={full} see={see} ratio={full / see:.2f}x "
                f"units={len(self.units)}")
        if coverage is not None:
            line += f" coverage={100 * coverage:.1f}%"
        return line

    # ---- the rebuilt table (cached by RebuiltTableEmbedding) ------------------------------------

    def check_ready(self):
        if self.placeholder:
            raise RuntimeError(f"SEE embedding ({self.side}) has no sememe index: pass --sememe-lexicon, "
                               "build one with fairseq-see-index, or load a trained checkpoint")

    def build_table(self):
        raw = entangle(self.unit_vectors, self.unit_ids, self.sense_mask, self.embedding_dim)  # (V, d)
        return self.layer_norm(raw)  # (V, d)

    # ---- checkpoints ---------------------------------------------------------------------------

    def get_extra_state(self):
        return {"units": self.units, "dictionary_checksum": self.dictionary_checksum}

    def set_extra_state(self, state):
        if state["dictionary_checksum"] != self.dictionary_checksum:
            raise ValueError(f"SEE embedding ({self.side}): the checkpoint's sememe index was built for "
                             "another dictionary than this data directory's; pass the data directory "
                             "the model was trained with")
        self.units = list(state["units"])
        self.placeholder = False

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs):
        ids = state_dict.get(prefix + "unit_ids")
        if ids is not None and ids.shape[0] != self.num_embeddings:
            raise ValueError(f"SEE embedding ({self.side}): the checkpoint's index has {ids.shape[0]} rows but "
                             f"the dictionary has {self.num_embeddings}; pass the data directory the model "
                             "was trained with")
        # the checkpoint's index is the model's: adopt its shapes before copying values in
        for name in ("unit_ids", "sense_mask"):
            incoming = state_dict.get(prefix + name)
            if incoming is not None and incoming.shape != getattr(self, name).shape:
                setattr(self, name, torch.empty_like(incoming, device=getattr(self, name).device))
        vectors = state_dict.get(prefix + "unit_vectors")
        if vectors is not None and vectors.shape != self.unit_vectors.shape:
            self.unit_vectors = nn.Parameter(self.unit_vectors.new_empty(vectors.shape))
        self.invalidate()
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)


def placeholder_index(num_embeddings, order, rank):
    """Shapes to build a model before its checkpoint supplies the real index."""
    unit_ids = torch.zeros(num_embeddings, rank, order, dtype=torch.long)
    sense_mask = torch.zeros(num_embeddings, rank, dtype=torch.bool)
    sense_mask[:, 0] = True
    return unit_ids, sense_mask, ["placeholder"]

