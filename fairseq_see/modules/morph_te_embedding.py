"""``MorphTEEmbedding``: MorphTE (Gan et al., NeurIPS 2022), words as entangled morphemes."""

import torch
import torch.nn as nn

from .rebuilt_table_embedding import RebuiltTableEmbedding
from ..errors import UserInputError
from .sememe_entanglement import entangle, rescale_units, table_parameters, unit_size


class MorphTEEmbedding(RebuiltTableEmbedding):
    """MorphTE: a word's row is LN(Σ_k T_k[m_1] ⊗ … ⊗ T_k[m_n])[:d] over its n morphemes.

    morpheme_ids (V, n):       MorphTE's index of the dictionary (``lexicon.index.morpheme_index``:
                               Chinese characters, Morfessor morphs, the word-start marker as a
                               morpheme, per-position pad morphemes, a unit per special symbol), a
                               buffer, so it travels in checkpoints
    unit_vectors (r, |M|, q):  r morpheme tables, rank k reads table k (MorphTE's rank)
    It is SEE's ``entangle`` with r identical "senses" per word, each on its own table.
    """

    kind = "morphte"

    def __init__(self, morpheme_ids, units, embedding_dim, padding_idx, rank, side=""):
        super().__init__()
        morpheme_ids = torch.as_tensor(morpheme_ids)
        vocab, order = morpheme_ids.shape
        if rank < 1:
            raise UserInputError(f"morphte: rank must be >= 1 (got {rank})")
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
        return table_parameters(dim, order, rank * units)  # a table of |M| rows per rank

    def live_parameters(self):
        """All parameters but the morpheme rows no token reads (every rank reads every token's morphemes)."""
        rank, morphemes, q = self.unit_vectors.shape
        return self.num_parameters() - rank * (morphemes - self.morpheme_ids.unique().numel()) * q

    def restore_unit_scale(self):
        """As SEE's: back to the starting scale, the table unchanged (after every step of a table fit)."""
        rescale_units(self.unit_vectors, self.unit_vectors.shape[-1] ** -0.5)
        self.invalidate()

    def reset_parameters(self):
        # as SEE: unit vectors of norm ~1, LayerNorm gain d^-1/2 (fairseq's embedding scale)
        nn.init.normal_(self.unit_vectors, std=self.unit_vectors.shape[-1] ** -0.5)
        nn.init.zeros_(self.layer_norm.bias)
        nn.init.constant_(self.layer_norm.weight, self.embedding_dim ** -0.5)
        self.invalidate()

    def build_table(self):
        rank, morphemes, q = self.unit_vectors.shape
        # rank k reads table k: row k*|M| + m of the flattened (r*|M|, q) table
        offsets = torch.arange(rank, device=self.morpheme_ids.device).view(1, rank, 1) * morphemes  # (1, r, 1)
        ids = self.morpheme_ids.long().unsqueeze(1) + offsets  # (V, r, n)
        table = entangle(self.unit_vectors.reshape(rank * morphemes, q), ids, self.embedding_dim)  # (V, d)
        return self.layer_norm(table)

    def unit_count(self):
        return len(self.units)

    def sizes(self):
        return {"order": self.order, "rank": self.rank, "q": self.unit_vectors.shape[-1]}
