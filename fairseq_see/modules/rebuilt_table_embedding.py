"""The base of every token embedding whose (V, d) table is rebuilt from fewer parameters."""

import torch
import torch.nn as nn
import torch.nn.functional as F

from .embedding_stats import make_stats


class RebuiltTableEmbedding(nn.Module):
    """Base of every token embedding whose (V, d) table is rebuilt from fewer parameters.

    A subclass sets ``kind``, ``num_embeddings``, ``embedding_dim``, ``padding_idx``, ``side`` and
    implements ``build_table()`` -> (V, d). This class gives it fairseq's ``Embedding`` interface
    (``forward(tokens)``) and the rebuild policy: once per training forward (the table is shared by
    the decoder input and the tied output projection, and dropped once backward has used its graph),
    once per parameter state in eval mode (then exactly ``nn.Embedding``'s cost). The decoder ties
    its output projection to ``table()`` of any such module.
    """

    def __init__(self):
        super().__init__()
        self.register_parameter("output_bias", None)  # see add_output_bias
        self.register_parameter("dense_rows", None)  # see add_dense_rows
        self.register_buffer("dense_ids", None)
        self._cache_key = None
        self._cache = None

    def build_table(self):
        raise NotImplementedError

    def check_ready(self):
        """Raise when the module cannot build its table yet (see SEE's placeholder)."""

    def num_parameters(self):
        return sum(p.numel() for p in self.parameters())

    def add_output_bias(self):
        """A per-token bias (|V| parameters) for the logits of the tied output projection.

        Every rebuilt row of SEE and MorphTE is layer-normalised to about one norm, so tied logits
        cannot express a token's frequency through its row's norm; the bias gives them a way. It
        lives here, beside the table it goes with, so it is counted in this embedding's stats.
        """
        self.output_bias = nn.Parameter(torch.zeros(self.num_embeddings))
        self.invalidate()

    def add_dense_rows(self, token_ids):
        """A full row of its own (added to the rebuilt one) for each of ``token_ids``, e.g. the most
        frequent tokens: (K,) ids, K·d parameters, counted.

        Ours, not the paper's: a compressed table spreads its parameters evenly over the vocabulary,
        but a few hundred pieces carry most of the running text (at 6k sentencepiece pieces, the 128
        most frequent English ones 66% of the target tokens). The rows start at zero, so the table
        starts as the compressor's own.
        """
        ids = torch.as_tensor(token_ids, dtype=torch.long)
        if ids.dim() != 1 or ids.unique().numel() != ids.numel():
            raise ValueError("dense rows: expected distinct token ids")
        self.dense_ids = ids
        self.dense_rows = nn.Parameter(torch.zeros(ids.numel(), self.embedding_dim))
        self.invalidate()

    def live_parameters(self):
        """Parameters the rebuilt table reads; a subclass whose index can leave rows unread says so."""
        return self.num_parameters()

    def unit_count(self):
        """How many row vectors the table is assembled from."""
        return self.num_embeddings

    def sizes(self):
        """The type's size knobs, for the stats."""
        return {}

    def all_sizes(self):
        sizes = self.sizes()
        if self.output_bias is not None:
            sizes["output_bias"] = True
        if self.dense_rows is not None:
            sizes["dense_rows"] = self.dense_rows.shape[0]
        return sizes

    def coverage(self):
        return None

    def stats(self):
        """This embedding's stats as data (see embedding_stats.py)."""
        return make_stats(self.side, self.kind, self.num_embeddings, self.embedding_dim, self.num_parameters(),
                          self.live_parameters(), self.unit_count(), self.all_sizes(), self.coverage())

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

    def compose_table(self):
        """``build_table()`` with the dense rows added, not cached: (V, d)."""
        table = self.build_table()  # (V, d)
        if self.dense_rows is None:
            return table
        return table.index_add(0, self.dense_ids, self.dense_rows.to(table.dtype))  # (V, d)

    def table(self):
        """The rebuilt (V, d) table: once per training forward, once per parameter state in eval."""
        self.check_ready()
        key = self._key()
        if self._cache is not None and self._cache_key == key:
            return self._cache
        table = self.compose_table()  # (V, d)
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
