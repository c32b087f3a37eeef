"""Sememe Entanglement Encoding: the whole method's math, in one module.

A token's embedding is rebuilt from small unit vectors (docs/METHOD.md, "The formulation"):

    e(w) = LayerNorm( Σ_k  T_k[u_k1] ⊗ T_k[u_k2] ⊗ … ⊗ T_k[u_ko] )[:d]

with ``k`` over the token's senses (at most R, a mask excludes missing ones), ``u_kj`` the unit ids
from the index, ``T_k`` = table ``k mod m`` of shape (|U|, q) and ``q = ceil(d^(1/o))``.

Shapes used below: V vocabulary, R rank (sense slots), o order, m tables, U units, q = unit size,
d model dimension, D = q^o >= d.
"""

import torch
import torch.nn.functional as F

from ..errors import UserInputError


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
    if order < 1 or rank < 1 or tables < 1:
        raise UserInputError(f"--see-order, --see-rank and --see-tables must be >= 1 "
                             f"(got {order}, {rank}, {tables})")
    if not order_fits(dim, order):
        # e.g. d 512, o 10: q = 2 and 1024-dim products, half of every product thrown away
        q = unit_size(dim, order)
        raise UserInputError(f"--see-order {order} does not fit embedding dimension {dim}: units of size {q} "
                             f"give {q ** order}-dim products, more than twice {dim}; use an order with "
                             f"ceil(d^(1/o))^o < 2d (for d={dim}: {', '.join(map(str, fitting_orders(dim)))})")


def table_parameters(dim, order, tables, units):
    """Parameters of a unit-table embedding (SEE, MorphTE): m tables of |U| vectors of size q, plus
    the final LayerNorm's gain and bias."""
    return tables * units * unit_size(dim, order) + 2 * dim


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
    That is ~6x faster than broadcasting on CPU (docs/METHOD.md, "Speed").
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
