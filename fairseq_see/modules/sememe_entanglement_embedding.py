"""``SememeEntanglementEmbedding``: fairseq's token ``Embedding`` rebuilt from sememe/morpheme units."""

import torch
import torch.nn as nn

from ..errors import UserInputError
from ..lexicon.dictionary import check_index_fits_dictionary
from .rebuilt_table_embedding import RebuiltTableEmbedding
from .sememe_entanglement import check_see_dimensions, entangle, rescale_units, table_parameters, unit_size


NORMS = ("layernorm", "affine")  # --see-norm: what the summed products go through
INITS = ("unit", "sum")  # --see-init: the unit vectors' starting scale
# sum since 2026-12-07: better from scratch and distilled at d 256, two seeds each (docs/METHOD.md)
DEFAULT_INIT = "sum"


class SememeEntanglementEmbedding(RebuiltTableEmbedding):
    """A drop-in for fairseq's token ``Embedding`` whose rows are rebuilt from sememe/morpheme units.

    unit_ids     (V, R, o) buffer: the row of ``unit_vectors`` each factor of each slot reads
    unit_vectors (U, q)    every table's rows (``units`` names them, "t<k>/<unit>")

    The index is a buffer, so it travels in checkpoints and a trained model loads without the
    lexicon; the unit names and the dictionary checksum travel as extra state. Loading a checkpoint
    adopts its index (and the matching table shape) after checking that it was built for the same
    dictionary.
    """

    kind = "see"

    def __init__(self, unit_ids, units, dictionary_checksum, embedding_dim, padding_idx, tables=1, side="",
                 placeholder=False, kind="see", dictionary_path="the dictionary", coverage=None, norm="layernorm",
                 init=DEFAULT_INIT):
        super().__init__()
        vocab, rank, order = unit_ids.shape
        check_see_dimensions(embedding_dim, order, rank, tables)
        self.kind = kind  # "see", or "see_random" (the ablation: same module, randomised index)
        self.num_embeddings, self.embedding_dim, self.padding_idx, self.side = vocab, embedding_dim, padding_idx, side
        self.tables = tables
        self.units = list(units)
        self.dictionary_checksum = dictionary_checksum
        # named in the one-line errors of a checkpoint that does not fit this dictionary
        self.dictionary_path = dictionary_path
        self._coverage = coverage
        # a placeholder is built when no index is at hand (generation without the lexicon); it
        # becomes the real thing when a checkpoint is loaded into it, and refuses to run before
        self.placeholder = placeholder
        self.register_buffer("unit_ids", torch.as_tensor(unit_ids))
        self.unit_vectors = nn.Parameter(torch.empty(len(self.units), unit_size(embedding_dim, order)))  # (U, q)
        if norm not in NORMS:
            raise UserInputError(f"--see-norm {norm}: expected one of {', '.join(NORMS)}")
        self.norm = norm
        if init not in INITS:
            raise UserInputError(f"--see-init {init}: expected one of {', '.join(INITS)}")
        self.init = init
        # "affine" keeps LayerNorm's gain and bias (the same 2d parameters) without normalising, so a
        # row's norm is free (the tied output can express frequency by it), as in word2ketXS and TT
        self.layer_norm = nn.LayerNorm(embedding_dim)
        self.reset_parameters()

    def initial_unit_std(self):
        if self.init == "sum":
            # word2ketXS's leaf scale: components of std (R d)^(-1/2o), so the sum of R products has
            # components of std d^-1/2 (rows of norm ~1 before the norm). Adam moves every parameter by
            # about the learning rate whatever its scale, so smaller units turn faster (the ablation)
            return (self.rank * self.embedding_dim) ** (-0.5 / self.order)
        return self.unit_vectors.shape[-1] ** -0.5  # unit vectors of norm ~1: products of norm ~1 at any o

    def restore_unit_scale(self):
        """Back to the starting scale, the table unchanged (``rescale_units``; after every step of a fit
        to the teacher's table); with ``--see-norm affine`` the scale is not free, and nothing changes."""
        if self.norm == "layernorm":
            rescale_units(self.unit_vectors, self.initial_unit_std())
            self.invalidate()

    def reset_parameters(self):
        nn.init.normal_(self.unit_vectors, std=self.initial_unit_std())
        nn.init.zeros_(self.layer_norm.bias)
        # LayerNorm outputs unit variance per component; a gain of d^-1/2 gives rows the scale of
        # fairseq's N(0, d^-1/2) embeddings, so embed_scale and tied logits behave as usual
        nn.init.constant_(self.layer_norm.weight, self.embedding_dim ** -0.5)
        if self.norm == "affine":
            # no normalisation: with unit init the raw rows sum R products of norm ~1 truncated to d of
            # their q^o components (norm ~ sqrt(R d / q^o)); this gain starts the rows at norm ~1, as
            # LayerNorm's does (with sum init they start there: the gain is 1)
            products = unit_size(self.embedding_dim, self.order) ** self.order
            raw_norm = 1.0 if self.init == "sum" else (self.rank * self.embedding_dim / products) ** 0.5
            nn.init.constant_(self.layer_norm.weight, 1.0 / raw_norm)
        self.invalidate()

    @property
    def order(self):
        return self.unit_ids.shape[2]

    @property
    def rank(self):
        return self.unit_ids.shape[1]

    @staticmethod
    def count(dim, order, rows):
        return table_parameters(dim, order, rows)

    # ---- stats (see embedding_stats.py) ---------------------------------------------------------

    def unit_count(self):
        return len({unit.split("/", 1)[-1] for unit in self.units})

    def live_parameters(self):
        """All parameters but the table rows no token's slot reads (none, for an index of this version)."""
        unread = self.unit_vectors.shape[0] - self.unit_ids.unique().numel()
        return self.num_parameters() - unread * self.unit_vectors.shape[1]

    def sizes(self):
        return {"order": self.order, "rank": self.rank, "tables": self.tables, "q": self.unit_vectors.shape[-1]}

    def coverage(self):
        return self._coverage

    # ---- the rebuilt table (cached by RebuiltTableEmbedding) ------------------------------------

    def check_ready(self):
        if self.placeholder:
            raise RuntimeError(f"SEE embedding ({self.side}) has no sememe index: pass --sememe-lexicon, "
                               "build one with fairseq-see-index, or load a trained checkpoint")

    def build_table(self):
        raw = entangle(self.unit_vectors, self.unit_ids, self.embedding_dim)  # (V, d)
        if self.norm == "affine":
            return raw * self.layer_norm.weight + self.layer_norm.bias  # (V, d)
        return self.layer_norm(raw)  # (V, d)

    # ---- checkpoints ---------------------------------------------------------------------------

    def get_extra_state(self):
        return {"units": self.units, "dictionary_checksum": self.dictionary_checksum, "tables": self.tables}

    def set_extra_state(self, state):
        # _load_from_state_dict has checked that it was built for this dictionary
        self.units = list(state["units"])
        self.tables = state["tables"]
        self.placeholder = False

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs):
        ids = state_dict.get(prefix + "unit_ids")
        extra = state_dict.get(prefix + "_extra_state")
        if prefix + "sense_mask" in state_dict:
            raise UserInputError(f"{self.dictionary_path}: the checkpoint's SEE index ({self.side}) is of the first "
                                 "format (m full unit tables and a sense mask, before every slot was filled); "
                                 "this version cannot use it: rebuild the index with fairseq-see-index and retrain")
        if ids is not None:
            checksum = extra.get("dictionary_checksum") if isinstance(extra, dict) else None
            check_index_fits_dictionary(ids.shape[0], checksum, self.num_embeddings, self.dictionary_checksum,
                                        self.dictionary_path, f"the checkpoint's SEE index ({self.side})",
                                        "pass the data directory the model was trained with (or retrain on this one)")
            # the checkpoint's index is the model's: adopt its shapes before copying values in
            if ids.shape != self.unit_ids.shape or ids.dtype != self.unit_ids.dtype:
                self.unit_ids = torch.empty_like(ids, device=self.unit_ids.device)
        vectors = state_dict.get(prefix + "unit_vectors")
        if vectors is not None and vectors.shape != self.unit_vectors.shape:
            self.unit_vectors = nn.Parameter(self.unit_vectors.new_empty(vectors.shape))
        self.invalidate()
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)


def placeholder_index(num_embeddings, order, rank):
    """Shapes to build a model before its checkpoint supplies the real index."""
    return torch.zeros(num_embeddings, rank, order, dtype=torch.int32), ["t0/placeholder"]
