"""``LowRankEmbedding``: ALBERT's factorised embedding (table = A @ B)."""

import torch
import torch.nn as nn

from ..errors import UserInputError
from .rebuilt_table_embedding import RebuiltTableEmbedding


class LowRankEmbedding(RebuiltTableEmbedding):
    """ALBERT's factorised embedding: table = A @ B.

    weight_in  (V, e)  one e-dim vector per word
    weight_out (e, d)  shared projection up to d
    """

    kind = "low_rank"

    def __init__(self, num_embeddings, embedding_dim, padding_idx, rank, side=""):
        super().__init__()
        if rank < 1:
            raise UserInputError(f"low_rank: --low-rank-dim must be >= 1 (got {rank})")
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

    def unit_count(self):
        return self.num_embeddings

    def sizes(self):
        return {"e": self.weight_in.shape[1]}
