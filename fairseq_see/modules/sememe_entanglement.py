"""Sememe Entanglement Encoding: the whole method's math, in one module.

A token's embedding is rebuilt from small unit vectors (docs/METHOD.md, "The formulation"):

    e(w) = LayerNorm( Σ_k  T[u_k1] ⊗ T[u_k2] ⊗ … ⊗ T[u_ko] )[:d]

with ``k`` over the token's R slots (its senses, its morphemes, its identity units: every slot is
filled), ``u_kj`` the rows the index gives, each in table ``k mod m`` (the m tables are row groups
of one (|U|, q) parameter, each holding only the units its slots read), and ``q = ceil(d^(1/o))``.

Shapes used below: V vocabulary, R rank (slots), o order, U rows of all tables, q = unit size,
d model dimension, D = q^o >= d.
"""

import warnings

import torch
import torch.nn.functional as F
from torch.utils.weak import WeakIdKeyDictionary

from ..errors import UserInputError
from ..lexicon.index import check_index_sizes


def unit_size(dim, order):
    """Smallest q with q**order >= dim (integer search: float roots round the wrong way)."""
    q = 1
    while q ** order < dim:
        q += 1
    return q


def order_fits(dim, order):
    """Does order ``o`` fit dimension ``d`` without wasting half of every product (q^o < 2d)?"""
    return unit_size(dim, order) ** order < 2 * dim


def fitting_orders(dim, orders=range(1, 9)):
    """The orders of ``orders`` that fit ``dim`` (see ``order_fits``)."""
    return [order for order in orders if order_fits(dim, order)]


def check_see_dimensions(dim, order, rank, tables):
    """One-line errors for option values that cannot build an embedding of size ``dim``."""
    check_index_sizes(order, rank, tables)
    if not order_fits(dim, order):
        # e.g. d 512, o 10: q = 2 and 1024-dim products, half of every product thrown away
        q = unit_size(dim, order)
        raise UserInputError(f"--see-order {order} does not fit embedding dimension {dim}: units of size {q} "
                             f"give {q ** order}-dim products, more than twice {dim}; use an order with "
                             f"ceil(d^(1/o))^o < 2d (for d={dim}: {', '.join(map(str, fitting_orders(dim)))})")


def table_parameters(dim, order, rows):
    """Parameters of a unit-table embedding (SEE, MorphTE): ``rows`` unit vectors of size q, plus
    the final LayerNorm's gain and bias."""
    return rows * unit_size(dim, order) + 2 * dim


def rescale_units(unit_vectors, std):
    """Scale all unit vectors by one factor so that their RMS is ``std``, in place.

    Every product of o units scales by the factor^o, so a LayerNorm'd table does not change (up to
    LayerNorm's eps). Why: LayerNorm makes the units' common scale a direction the loss does not see,
    and Adam, which moves every parameter by about the learning rate, inflates it: fitting a table to
    the teacher's (1,500 steps at lr 0.02, d 256) took SEE's units from std 0.25 to 1.5, after which
    stage 2 turned them by 7% where word2ketXS's leaves (no norm, std 0.13) turned by 36%. Rescaled
    after every fit step (``distillation.fit_tables_to_teacher``) they stay at their starting scale
    and the fit is as good (count-weighted error 0.192 against 0.190). Rescaling once after the fit
    is not: it had let some rows come to rest on nearly cancelling products, which eps then moves.
    """
    with torch.no_grad():
        unit_vectors.mul_(std / unit_vectors.pow(2).mean().sqrt())


def outer_product(factors):
    """Kronecker product of n tensors along their last axis: n x (..., q) -> (..., q^n)."""
    product = factors[0]
    for factor in factors[1:]:
        # (..., a, 1) * (..., 1, q) -> (..., a*q)
        product = (product.unsqueeze(-1) * factor.unsqueeze(-2)).flatten(-2)
    return product


class _RowGather(torch.autograd.Function):
    """``table[ids]`` whose backward sums the gradient into the table's rows without
    ``F.embedding``'s ``embedding_dense_backward``.

    On CPU that backward was the rebuild's largest cost (37% of it at |V| 6k, d 256, 47 slots). This
    one multiplies the gradient by the index's 0/1 scatter matrix (``scatter_matrix``), made once per
    index: at |V| 6k, 32 slots, q 16 a quarter of ``index_add_``'s time, which it replaced
    (``benchmarks/rebuild_cost.py --baseline``, RESULTS.md). Half-precision tables, which CPU sparse
    products do not take, and gradients of another dtype than the matrix's take ``index_add_``.
    """

    @staticmethod
    def forward(ctx, table, ids, scatter):
        flat = ids.reshape(-1).long()  # (N,): contiguous int64, index_select's and index_add_'s fast path
        ctx.save_for_backward(flat)
        ctx.rows, ctx.scatter = table.shape[0], scatter
        return table.index_select(0, flat).view(*ids.shape, table.shape[1])  # (..., q)

    @staticmethod
    def backward(ctx, grad):
        flat, = ctx.saved_tensors
        q = grad.shape[-1]
        grad = grad.reshape(-1, q)  # (N, q)
        if ctx.scatter is not None and grad.dtype == ctx.scatter.dtype:
            return ctx.scatter @ grad, None, None  # (U, N) @ (N, q) -> (U, q)
        return grad.new_zeros(ctx.rows, q).index_add_(0, flat, grad), None, None  # (U, q)


def scatter_matrix(ids, rows, dtype):
    """The (rows, N) 0/1 CSR matrix S with S[u, n] = 1 where ``ids.reshape(-1)[n] == u``: S @ g sums
    the N gathered rows' gradients g (of ``dtype``) into the table's ``rows`` rows."""
    flat = ids.reshape(-1).long()  # (N,)
    order = torch.argsort(flat, stable=True)  # (N,): column indices, row by row
    counts = torch.bincount(flat, minlength=rows)  # (rows,)
    crow = torch.cat([counts.new_zeros(1), counts.cumsum(0)])  # (rows + 1,)
    with warnings.catch_warnings():  # "sparse CSR support is in beta": the product used here is not
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(crow, order, torch.ones(flat.numel()), size=(rows, flat.numel()), dtype=dtype)


# index tensor -> (its version, rows, dtype, one scatter matrix a factor): an index is fixed while a
# model trains, so each factor's matrix is made once; a replaced index (a checkpoint loaded) is a new
# key, one changed in place a new version
_SCATTERS = WeakIdKeyDictionary()  # by identity: a tensor's == is elementwise


def factor_scatter_matrices(unit_ids, rows, dtype):
    """``scatter_matrix`` of each factor's ids, (V, R, o) -> o x (rows, V·R), cached per index."""
    cached = _SCATTERS.get(unit_ids)
    if cached is None or cached[:3] != (unit_ids._version, rows, dtype):
        cached = (unit_ids._version, rows, dtype,
                  [scatter_matrix(unit_ids[:, :, j], rows, dtype) for j in range(unit_ids.shape[2])])
        _SCATTERS[unit_ids] = cached
    return cached[3]


def takes_cpu_backward(table):
    """Does ``gather_rows`` give ``table``'s gathers the backward above? On CPU, when it trains."""
    return table.device.type == "cpu" and table.requires_grad and torch.is_grad_enabled()


def gather_rows(table, ids, scatter=None):
    """``table[ids]``: (U, q), (...) -> (..., q); on CPU with the faster backward above (``scatter``:
    ``scatter_matrix(ids, U, table.dtype)``, else ``index_add_``). CUDA keeps ``F.embedding``, whose
    backward is deterministic (``index_add_`` there adds atomically)."""
    if takes_cpu_backward(table):
        return _RowGather.apply(table, ids, scatter)
    return F.embedding(ids, table)


def entangle(unit_vectors, unit_ids, dim):
    """The pre-LayerNorm table Σ_k ⊗_j T[u_kj], truncated to ``dim``: (V, d).

    unit_vectors: (U, q)      every table's rows, one table after another (the index assigns rows)
    unit_ids:     (V, R, o)   row per slot and factor (uint8, int32 or int64)

    The (V, R, D) tensor of per-slot products is never built: the factors are split into a left
    group of ``a`` and a right group of ``o - a`` and the sum over slots becomes a batched matmul
    (V, q^a, R) @ (V, R, q^(o-a)) -> (V, q^a, q^(o-a)). That is ~6x faster than broadcasting on
    CPU (docs/METHOD.md, "Speed"). Each factor is gathered on its own (slicing the ids, not one
    gathered (V, R, o, q) tensor): a slice of a gathered tensor costs a zero-filled copy of all of it
    in backward, a quarter of the rebuild's time at d 256 (benchmarks/rebuild_cost.py).
    """
    vocab, rank, order = unit_ids.shape
    scatters = [None] * order
    if takes_cpu_backward(unit_vectors) and unit_vectors.dtype in (torch.float32, torch.float64):
        scatters = factor_scatter_matrices(unit_ids, unit_vectors.shape[0], unit_vectors.dtype)  # o x (U, V·R)
    if unit_ids.dtype not in (torch.int32, torch.int64):
        unit_ids = unit_ids.int()  # stored as small as |U| allows; the lookup takes int32/int64
    if order == 1:
        return gather_rows(unit_vectors, unit_ids[:, :, 0], scatters[0]).sum(1)[:, :dim]  # (V, R, q) -> (V, d)
    split = order // 2
    factors = [gather_rows(unit_vectors, unit_ids[:, :, j], scatters[j]) for j in range(order)]  # o x (V, R, q)
    left = outer_product(factors[:split])  # (V, R, q^a)
    right = outer_product(factors[split:])  # (V, R, q^(o-a))
    table = torch.bmm(left.transpose(1, 2), right).reshape(vocab, -1)  # (V, q^a, q^(o-a)) -> (V, D)
    return table if table.shape[1] == dim else table[:, :dim]  # (V, d)
