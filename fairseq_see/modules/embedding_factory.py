"""One factory for every token-embedding type a ``see_transformer`` side can have.

Types (V vocabulary, d model dimension, n order, r rank, q = ceil(d^(1/n))):

=========== ======================================================= ==============================
type        row of token v                                          parameters
=========== ======================================================= ==============================
see         LN(Σ_k ⊗_j T_(k mod m)[u_kj])   (sememe/morpheme units)  m·|U|·q + 2d
see_random  the same with every word's sememes replaced at random   m·|U|·q + 2d
full        an ``nn.Embedding`` row                                  V·d
low_rank    A[v] @ B   (ALBERT)                                     V·e + e·d
word2ket    Σ_k ⊗_j L[k, v, j]   (Panahi et al., ICLR 2020)          r·V·n·q
word2ketxs  row v of Σ_k ⊗_j F[j, k]   (F: t × q, t^n >= V)          n·r·t·q
tt          G_1[v_1] G_2[v_2] … G_n[v_n]   (Hrinchuk et al. 2020)    Σ_j r_(j-1)·v_j·d_j·r_j
morphte     LN(Σ_k ⊗_j T_k[m_vj])   (Gan et al., NeurIPS 2022)       r·|M|·q + 2d
=========== ======================================================= ==============================

Where a product is longer than d (q^n > d) the first d components are kept, as in SEE and in the
word2ket reference code. Initialisations give every table entry variance ~1/d (rows of norm ~1),
fairseq's N(0, d^-1/2) scale, so ``embed_scale`` and tied logits behave as with ``nn.Embedding``.
Only SEE and MorphTE have a LayerNorm (MorphTE's paper's); word2ket's reference code has its
LayerNorms commented out ("not used in experiments"), TT and low-rank have none.
"""

import logging

from fairseq.models.transformer import Embedding

from ..errors import UserInputError
from ..lexicon.dictionary import dictionary_checksum
from ..lexicon.index import morpheme_index, randomize_sememes
from .embedding_sizes import (DEFAULT_SIZES, MAX_SLOTS, check_ratio, missed, pick_see_size, pick_size,
                              ratio_beside, ratio_note)
from .embedding_stats import full_embedding_stats
from .low_rank_embedding import LowRankEmbedding
from .morph_te_embedding import MorphTEEmbedding
from .sememe_entanglement import check_see_dimensions
from .sememe_entanglement_embedding import DEFAULT_INIT, SememeEntanglementEmbedding, placeholder_index
from .tt_embedding import TTEmbedding
from .word2ket_embedding import Word2KetEmbedding
from .word2ket_xs_embedding import Word2KetXSEmbedding

BASELINE_TYPES = ("low_rank", "word2ket", "word2ketxs", "tt", "morphte")
EMBEDDING_TYPES = ("see", "full", "see_random") + BASELINE_TYPES
FACTORED = {"word2ket": Word2KetEmbedding, "word2ketxs": Word2KetXSEmbedding, "tt": TTEmbedding}

logger = logging.getLogger(__name__)


def _ratio_note(notes, side, kind, ratio, achieved, config, max_slots=None):
    """The picker's line: among ``notes`` (logged with the stats), or at once as a warning when the
    ratio is out of the type's reach, so that it stands out before training."""
    line = ratio_note(side, kind, ratio, achieved, config, max_slots)
    if missed(ratio, achieved):
        logger.warning(line)
    else:
        notes.append(line)


class Dictionary:
    """What the factory needs of a fairseq dictionary: symbols, counts, padding id, file path."""

    def __init__(self, symbols, counts, pad, path="the dictionary"):
        self.symbols, self.counts, self.pad, self.path = list(symbols), list(counts), pad, path


def build_embedding(kind, side, dictionary, dim, sizes=None, ratio=None, see=None, indexes=None, output_bias=False,
                    dense_rows=0, dense_option="--dense-rows", dense_offset=0):
    """A token embedding of ``kind`` for ``dictionary``. Returns ``(embedding, stats, notes)``.

    ``sizes``: the baselines' size options (``DEFAULT_SIZES`` keys; missing ones take the defaults).
    ``ratio``: pick the size knob for |V|·d/params ~= ratio instead (the configured order preferred).
    ``see``: SEE's ``{"order", "rank", "tables", "identity_ranks", "min_readers", "random_seed"}`` and, for the ratio
    picker, ``fixed_order`` (an order the user chose; None: the picker chooses it too) and ``max_slots`` (None:
    ``MAX_SLOTS``).
    ``indexes``: this side's indexes: ``indexes.index(order, rank, tables, required, identity_ranks,
    min_readers)`` (None when there is none to build: then the model is a placeholder a checkpoint
    fills, or, when not ``required``, those sizes are skipped), ``indexes.builder()`` (the
    ``IndexBuilder`` the ratio picker prices sizes with; None without a lexicon) and
    ``indexes.segmenter`` (morphemes of non-Chinese pieces).
    ``output_bias``: give a compressed table a per-token bias for the tied output logits.
    ``dense_rows``: give the K most frequent tokens of a compressed table full rows of their own (added
    to the rebuilt ones). With ``ratio`` the compressor is sized so that it and these reach it together.
    ``dense_option``: the option that asked for them (--dense-rows, or a side's own), named in refusals.
    ``dense_offset``: the rows go to the K tokens after the ``dense_offset`` most frequent instead.
    ``notes`` are log lines of what the ratio picker chose.
    """
    vocab = len(dictionary.symbols)
    if ratio is not None:
        check_ratio(ratio)
    if kind == "full":
        if output_bias:
            raise UserInputError("--tied-output-bias is for compressed tables; a full table's tied output is fairseq's own")
        return Embedding(vocab, dim, dictionary.pad), full_embedding_stats(vocab, dim, side), []
    if kind not in ("see", "see_random") + BASELINE_TYPES:
        raise UserInputError(f"unknown embedding type {kind!r}; one of {', '.join(EMBEDDING_TYPES)}")
    dense_ids = most_frequent_tokens(dictionary, dense_rows, dense_option, dense_offset) if dense_rows else []
    # the ratio counts what is added beside the compressor, so the compressor is sized for what is left
    compressor_ratio = (ratio_beside(vocab, dim, ratio, dense_rows, output_bias, dense_option)
                        if ratio and (dense_rows or output_bias) else ratio)
    if kind in ("see", "see_random"):
        embedding, notes = _see_embedding(kind, side, dictionary, dim, compressor_ratio, see, indexes)
    else:
        embedding, notes = _baseline_embedding(kind, side, dictionary, dim, dict(DEFAULT_SIZES, **(sizes or {})),
                                               compressor_ratio, indexes)
    sizing = f"; {kind} sized for {compressor_ratio:.2f}x beside them" if ratio else ""
    if output_bias:
        embedding.add_output_bias()
        notes.append(f"tied output bias ({side}): {vocab} parameters" + ("" if dense_ids else sizing))
    if dense_ids:
        embedding.add_dense_rows(dense_ids)
        total = sum(c for v, c in enumerate(dictionary.counts) if v != dictionary.pad)
        mass = sum(dictionary.counts[v] for v in dense_ids) / max(total, 1)
        which = (f"tokens of frequency ranks {dense_offset + 1}-{dense_offset + len(dense_ids)}" if dense_offset
                 else "most frequent tokens")
        notes.append(f"dense rows ({side}): the {len(dense_ids)} {which} ({100 * mass:.1f}% of the "
                     f"dictionary's counts) have rows of their own, {len(dense_ids) * dim} parameters" + sizing)
    return embedding, embedding.stats(), notes


def most_frequent_tokens(dictionary, k, option="--dense-rows", offset=0):
    """The ids of the ``k`` tokens of highest count after the ``offset`` highest (ties: the lower id),
    padding excluded."""
    candidates = [v for v in range(len(dictionary.symbols)) if v != dictionary.pad]
    if offset < 0:
        raise UserInputError(f"--dense-rows-offset {offset}: expected a whole number >= 0 (the most frequent "
                             "tokens the dense rows skip)")
    if not 0 < k <= len(candidates) - offset:
        raise UserInputError(f"{option} {k}" + (f" after --dense-rows-offset {offset}" if offset else "") +
                             f": expected 1 to {len(candidates) - offset} (the tokens of {dictionary.path} "
                             "but padding" + (", after the offset" if offset else "") + ")")
    return sorted(candidates, key=lambda v: (-dictionary.counts[v], v))[offset:offset + k]


def _baseline_embedding(kind, side, dictionary, dim, sizes, ratio, indexes):
    vocab, notes = len(dictionary.symbols), []
    if kind == "morphte":
        morpheme_ids, units = morpheme_index(dictionary.symbols, sizes["morphte_order"],
                                             indexes.segmenter if indexes is not None else None)
        config = {"order": sizes["morphte_order"], "rank": sizes["morphte_rank"]}
        if ratio is not None:
            config, _, achieved = pick_size(kind, vocab, dim, ratio, order=config["order"], units=len(units))
            _ratio_note(notes, side, kind, ratio, achieved, config)
        return MorphTEEmbedding(morpheme_ids, units, dim, dictionary.pad, config["rank"], side=side), notes
    config = ({"rank": sizes["low_rank_dim"]} if kind == "low_rank"
              else {"order": sizes[f"{kind}_order"], "rank": sizes[f"{kind}_rank"]})
    if ratio is not None:
        config, _, achieved = pick_size(kind, vocab, dim, ratio, order=config.get("order"))
        _ratio_note(notes, side, kind, ratio, achieved, config)
    if kind == "low_rank":
        return LowRankEmbedding(vocab, dim, dictionary.pad, config["rank"], side=side), notes
    return FACTORED[kind](vocab, dim, dictionary.pad, config["order"], config["rank"], side=side), notes


def _see_embedding(kind, side, dictionary, dim, ratio, see, indexes):
    order, rank, tables = see["order"], see["rank"], see["tables"]
    # 'is None', not 'or': an explicit 0 must reach check_index_sizes' one-line error, not become the default
    identity_ranks = 1 if see.get("identity_ranks") is None else see["identity_ranks"]
    min_readers = 2 if see.get("min_readers") is None else see["min_readers"]
    notes = []
    builder = indexes.builder() if ratio is not None else None
    if builder is not None:
        # the rows depend on the order, the slots, the tables and the identity ranks: price them all
        max_slots = MAX_SLOTS if see.get("max_slots") is None else see["max_slots"]
        config, _, achieved = pick_see_size(builder.row_count, len(dictionary.symbols), dim, ratio,
                                            order=see.get("fixed_order"), max_slots=max_slots)
        order, rank, tables, identity_ranks, min_readers = (
            config[k] for k in ("order", "rank", "tables", "identity_ranks", "min_readers"))
        _ratio_note(notes, side, kind, ratio, achieved, config, max_slots)
    check_see_dimensions(dim, order, rank, tables)
    index = indexes.index(order, rank, tables, required=True, identity_ranks=identity_ranks, min_readers=min_readers)
    if index is None:
        unit_ids, units = placeholder_index(len(dictionary.symbols), order, rank)
        notes.append(f"SEE embedding ({side}): no lexicon or saved index; the checkpoint supplies it")
        coverage = None
    else:
        if kind == "see_random":
            index = randomize_sememes(index, 1 if see.get("random_seed") is None else see["random_seed"])
        unit_ids, units, coverage = index.unit_ids, index.units, index.coverage()[0]
    embedding = SememeEntanglementEmbedding(
        unit_ids, units, dictionary_checksum(dictionary.symbols), dim, dictionary.pad, tables=tables, side=side,
        placeholder=index is None, kind=kind, dictionary_path=dictionary.path, coverage=coverage,
        norm=see.get("norm") or "layernorm", init=see.get("init") or DEFAULT_INIT)
    return embedding, notes
