"""``MorphTEEmbedding``: MorphTE (Gan et al., NeurIPS 2022), words as entangled morphemes."""

import torch
import torch.nn as nn

from .rebuilt_table_embedding import RebuiltTableEmbedding
from .sememe_entanglement import entangle, table_parameters, unit_size

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
        return table_parameters(dim, order, rank, units)  # rank plays SEE's tables

    def live_parameters(self):
        """Morpheme rows some token reads (every rank reads every token's morphemes), plus the LayerNorm."""
        rank, _, q = self.unit_vectors.shape
        return rank * self.morpheme_ids.unique().numel() * q + sum(p.numel() for p in self.layer_norm.parameters())

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

    def unit_count(self):
        return len(self.units)

    def sizes(self):
        return {"order": self.order, "rank": self.rank, "q": self.unit_vectors.shape[-1]}
