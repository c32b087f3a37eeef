"""``TTEmbedding``: tensor-train embedding (Hrinchuk et al. 2020)."""

import math

import torch
import torch.nn as nn

from ..errors import UserInputError
from .rebuilt_table_embedding import RebuiltTableEmbedding
from .sememe_entanglement import unit_size

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
            raise UserInputError(f"tt: order must be >= 2 and rank >= 1 (got {order}, {rank})")
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

    def unit_count(self):
        return sum(self.vocab_factors)

    def sizes(self):
        return {"order": self.order, "rank": self.rank, "vocab_factors": "x".join(map(str, self.vocab_factors)),
                "dim_factors": "x".join(map(str, self.dim_factors))}
