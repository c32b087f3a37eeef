"""``Word2KetXSEmbedding``: word2ketXS, the whole table as a sum of Kronecker products of small matrices."""

import torch
import torch.nn as nn

from ..errors import UserInputError
from .rebuilt_table_embedding import RebuiltTableEmbedding
from .sememe_entanglement import unit_size

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
            raise UserInputError(f"word2ketxs: order must be >= 2 and rank >= 1 (got {order}, {rank})")
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

    def unit_count(self):
        return self.leaves.shape[0] * self.leaves.shape[2]

    def sizes(self):
        return {"order": self.order, "rank": self.rank, "t": self.leaves.shape[2], "q": self.leaves.shape[3]}
