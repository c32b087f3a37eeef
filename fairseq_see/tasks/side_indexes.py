"""``SideIndexes``: one side's SEE indexes at any sizes, and its morpheme segmenter (the task's, for the factory)."""

import logging
import os

from ..lexicon import INDEX_FILE, LexiconError, SememeIndex
from ..lexicon.index import IndexBuilder
from ..lexicon.morfessor_segmenter import SEGMENTER_FILE, side_segmenter

logger = logging.getLogger(__name__)


def checkpoint_to_restore(cfg):
    """The checkpoint fairseq-train will load into the model it is building from ``cfg`` (its
    options), as ``fairseq.checkpoint_utils.load_checkpoint`` picks it, or None: a fresh run, or not
    fairseq-train."""
    def option(name):
        try:
            return getattr(cfg, name, None)
        except Exception:  # an omegaconf node without that key
            return None
    restore, save_dir = option("restore_file"), option("save_dir")
    if not restore or save_dir is None:
        return None
    if restore == "checkpoint_last.pt":  # fairseq's default: the save dir's last checkpoint, if any
        candidates = [os.path.join(save_dir, f"checkpoint_last{option('checkpoint_suffix') or ''}.pt"),
                      option("continue_once"), option("finetune_from_model")]
    else:
        candidates = [restore]
    return next((path for path in candidates if path and os.path.isfile(path)), None)


class SideIndexes:
    """The indexes of one dictionary (``source`` or ``target`` of a translation_sememe task).

    A saved ``see_index.<lang>.npz`` beside the dictionary is used when it has the sizes asked for
    (and the lexicon, when one is named); any other size is built from the lexicon. Non-Chinese
    pieces are cut into morphs by the saved ``see_morfessor.<lang>.txt`` (written by
    fairseq-see-index, trained on running text), else by a Morfessor model trained here on the
    dictionary's pieces, else (``--morpheme-segmenter none``) kept whole.
    """

    def __init__(self, data_dir, lang, dictionary, dictionary_path, lexicon, lexicon_name, segmenter_kind,
                 from_checkpoint, restoring=lambda: None):
        self.lang, self.dictionary, self.dictionary_path = lang, dictionary, dictionary_path
        self.saved_index_path = os.path.join(data_dir, INDEX_FILE.format(lang=lang))
        self.saved_segmenter_path = os.path.join(data_dir, SEGMENTER_FILE.format(lang=lang))
        self._lexicon, self.lexicon_name, self.segmenter_kind = lexicon, lexicon_name, segmenter_kind
        self._segmenter, self._builder, self._saved = None, None, None
        # True while the task builds a model a checkpoint is about to fill: the index comes from there
        self._from_checkpoint = from_checkpoint
        # the checkpoint fairseq-train is about to resume from (None: a fresh run), see checkpoint_to_restore
        self._restoring = restoring

    @property
    def segmenter(self):
        """The morpheme segmenter of non-Chinese pieces (None: pieces stay whole)."""
        if self.segmenter_kind == "none":
            return None
        if self._segmenter is None:
            self._segmenter = side_segmenter(os.path.dirname(self.saved_segmenter_path), self.lang,
                                             self.dictionary.symbols, self.dictionary.count)
            if os.path.exists(self.saved_segmenter_path):
                logger.info(f"morphemes ({self.lang}): {self.saved_segmenter_path}")
            else:
                logger.info(f"morphemes ({self.lang}): Morfessor trained on the word-like pieces of "
                            f"{self.dictionary_path} (fairseq-see-index --segmenter-corpus trains it on "
                            "running text, which splits more)")
        return self._segmenter

    def saved(self):
        if self._saved is None and os.path.exists(self.saved_index_path):
            self._saved = SememeIndex.load(self.saved_index_path)
            self._saved.check_dictionary(self.dictionary.symbols, self.saved_index_path, self.dictionary_path)
        return self._saved

    def index(self, order, rank, tables, required=True, identity_ranks=1, min_readers=2):
        """The index at these sizes, or None for a model about to receive its checkpoint, which
        carries its index (fairseq's loaders, or fairseq-train resuming), or for sizes that cannot
        be had when not ``required``. Neither a lexicon nor a saved index that fits: an error when
        ``required``."""
        if self._from_checkpoint():
            return None
        saved = self.saved()
        if saved is not None:
            fits = ((saved.order, saved.rank, saved.tables, saved.identity_ranks, saved.meta.get("min_readers"))
                    == (order, rank, tables, identity_ranks, min_readers))
            if fits and self.lexicon_name in (None, saved.meta.get("lexicon")):
                logger.info(f"using {self.saved_index_path} (built from {saved.meta.get('lexicon')})")
                return saved
            if self._lexicon is None and required:
                raise LexiconError(f"{self.saved_index_path}: built for --see-order {saved.order} --see-rank "
                                   f"{saved.rank} --see-tables {saved.tables} --see-identity-ranks "
                                   f"{saved.identity_ranks} (units of at least {saved.meta.get('min_readers')} "
                                   f"tokens), not {order}, {rank}, {tables} and {identity_ranks} ({min_readers}); "
                                   "rebuild it with fairseq-see-index or pass --sememe-lexicon")
        if self._lexicon is None:
            if required and self._restoring() is None:
                # a model without its index would train a placeholder (and crash at the first step)
                raise LexiconError(f"{self.dictionary_path}: no sememe lexicon and no {self.saved_index_path}, so "
                                   "no SEE index; pass --sememe-lexicon (lexicon files or 'openhownet') or build "
                                   "the index beside the dictionary with fairseq-see-index")
            return None  # the checkpoint fairseq-train resumes from carries the index
        index = self.builder().build(order, rank, tables, identity_ranks, min_readers)
        logger.info(index.summary(self.lang))
        return index

    def builder(self):
        """The IndexBuilder of this side (None without a lexicon, or for a model a checkpoint fills)."""
        if self._from_checkpoint() or self._lexicon is None:
            return None
        if self._builder is None:
            self._builder = IndexBuilder(self.dictionary.symbols, self.dictionary.count, self._lexicon(),
                                         self.segmenter, self.lexicon_name)
        return self._builder
