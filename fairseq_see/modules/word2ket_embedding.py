"""``Word2KetEmbedding``: word2ket (Panahi et al., ICLR 2020), each word its own sum of Kronecker products."""

import torch
import torch.nn as nn

from ..errors import UserInputError
from .rebuilt_table_embedding import RebuiltTableEmbedding
from .sememe_entanglement import entangle, unit_size

def identity_index(vocab, rank, order, device=None):
    """unit_ids (V, r, n) = k*V*n + v*n + j: every (rank, word, factor) triple owns a row (word2ket)."""
    ids = torch.arange(vocab * order, device=device).view(1, vocab, order)  # (1, V, n)
    offsets = torch.arange(rank, device=device).view(rank, 1, 1) * vocab * order  # (r, 1, 1)
    return (ids + offsets).permute(1, 0, 2).contiguous()  # (V, r, n)


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
            raise UserInputError(f"word2ket: order and rank must be >= 1 (got {order}, {rank})")
        self.num_embeddings, self.embedding_dim, self.padding_idx, self.side = (
            num_embeddings, embedding_dim, padding_idx, side)
        self.order, self.rank = order, rank
        q = unit_size(embedding_dim, order)
        self.leaves = nn.Parameter(torch.empty(rank, num_embeddings, order, q))  # (r, V, n, q)
        # derived from the shapes alone: not saved in checkpoints
        self.register_buffer("unit_ids", identity_index(num_embeddings, rank, order), persistent=False)
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
        return entangle(self.leaves.reshape(r * vocab * n, q), self.unit_ids,
                        self.embedding_dim)  # (V, d)

    def unit_count(self):
        return self.num_embeddings

    def sizes(self):
        return {"order": self.order, "rank": self.rank, "q": self.leaves.shape[-1]}
