"""``TiedTableProjection``: the decoder's output projection tied to a rebuilt embedding table."""

import torch.nn as nn
import torch.nn.functional as F


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
        embedding = self._embedding[0]
        table = embedding.table()  # (V, d)
        logits = F.linear(features.reshape(-1, features.shape[-1]), table, embedding.output_bias)  # (B*T, V)
        return logits.view(*features.shape[:-1], table.shape[0])  # (B, T, V)
