"""``translation_sememe``: fairseq's translation task plus the sememe index of both dictionaries."""

import logging
import os
from dataclasses import dataclass, field
from typing import Optional

from fairseq.tasks import register_task
from fairseq.tasks.translation import TranslationConfig, TranslationTask

from ..distillation import fit_tables_to_teacher, freeze_non_embedding, init_student_from_teacher, load_teacher
from ..errors import UserInputError
from ..index_identity_across_ranks import check_index_identity_across_ranks
from ..lexicon import lexicon_name, load_lexicons
from .side_indexes import SideIndexes, checkpoint_to_restore

logger = logging.getLogger(__name__)


@dataclass
class TranslationSememeConfig(TranslationConfig):
    sememe_lexicon: Optional[str] = field(
        default=None,
        metadata={"help": "sememe lexicon(s), comma-separated, first wins per word: files in HowNet-2000, "
                          "thunlp or SE-WRL format, or 'openhownet' for OpenHowNet's installed data. "
                          "Not needed when see_index.<lang>.npz is in the data directory, nor to "
                          "generate from a trained checkpoint"})
    sememe_lexicon_format: str = field(
        default="auto", metadata={"help": "auto, hownet2000, thunlp, sewrl or openhownet"})
    wordnet: Optional[str] = field(
        default=None,
        metadata={"help": "the WordNet 3.0 database folder (index.noun, data.noun, *.exc, ...), for a "
                          "WordNet-synset -> HowNet-sememe file among --sememe-lexicon: English sememes"})
    morpheme_segmenter: str = field(
        default="morfessor",
        metadata={"help": "morphemes of non-Chinese pieces: morfessor (see_morfessor.<lang>.txt beside the "
                          "dictionary, else trained on its pieces) or none (a piece is one morpheme)"})
    sememe_names: Optional[str] = field(
        default=None,
        metadata={"help": "OpenHowNet's sememe_dict_all JSON: maps every source's sememe names to "
                          "'english|中文' so that sources agree on sememe identities"})
    teacher_checkpoint: Optional[str] = field(
        default=None,
        metadata={"help": "trained teacher (a normal transformer on the same dictionaries) for "
                          "--criterion see_distillation and --init-student-from-teacher"})
    init_student_from_teacher: bool = field(
        default=False,
        metadata={"help": "copy every teacher weight whose name and shape match into the new model "
                          "(all but the token tables SEE replaces)"})
    fit_tables_steps: int = field(
        default=0,
        metadata={"help": "with --init-student-from-teacher: before training, fit the student's rebuilt token "
                          "tables to the teacher's by this many full-batch Adam steps on the count-weighted "
                          "relative squared error (not done when resuming from a checkpoint)"})
    fit_tables_lr: float = field(default=0.02, metadata={"help": "the Adam lr of --fit-tables-steps"})
    freeze_non_embedding: bool = field(
        default=False, metadata={"help": "train only token-embedding parameters (distillation stage 1)"})


@register_task("translation_sememe", dataclass=TranslationSememeConfig)
class TranslationSememeTask(TranslationTask):
    """Translation whose models may rebuild token embeddings from sememes (see ``see_transformer``)."""

    def __init__(self, cfg, src_dict, tgt_dict):
        super().__init__(cfg, src_dict, tgt_dict)
        self._lexicon = None
        self._teacher = None
        self._index_from_checkpoint = False
        self._restoring = None
        self._side_indexes = {}

    def lexicon(self):
        if self._lexicon is None:
            self._lexicon = load_lexicons(self.cfg.sememe_lexicon, self.cfg.sememe_lexicon_format,
                                          self.cfg.sememe_names, wordnet=self.cfg.wordnet)
            logger.info(self._lexicon.summary())
        return self._lexicon

    def teacher(self):
        """The teacher of --teacher-checkpoint, loaded once per process."""
        if self._teacher is None:
            if not self.cfg.teacher_checkpoint:
                raise UserInputError("distillation needs a teacher: pass --teacher-checkpoint TEACHER.pt")
            self._teacher = load_teacher(self.cfg.teacher_checkpoint, self)
        return self._teacher

    def build_model(self, cfg, from_checkpoint=False):
        # a model about to receive a checkpoint takes its index from there: no lexicon needed
        self._index_from_checkpoint = from_checkpoint
        self._restoring = checkpoint_to_restore(cfg)  # fairseq-train resuming: the checkpoint has the index
        model = super().build_model(cfg, from_checkpoint)
        # this task's own options, not the model's: a checkpoint's saved args never re-trigger them
        if self.cfg.fit_tables_steps < 0:
            raise UserInputError(f"--fit-tables-steps {self.cfg.fit_tables_steps}: expected 0 or more steps")
        if self.cfg.fit_tables_steps and not self.cfg.init_student_from_teacher:
            raise UserInputError("--fit-tables-steps fits the tables of a student made from its teacher: "
                                 "add --init-student-from-teacher")
        if self.cfg.init_student_from_teacher and not from_checkpoint:
            init_student_from_teacher(model, self.teacher())
            if self.cfg.fit_tables_steps and self._restoring is None:  # a resumed run has its tables
                fit_tables_to_teacher(model, self.teacher(), {"encoder": self.source_dictionary,
                                                              "decoder": self.target_dictionary},
                                      self.cfg.fit_tables_steps, self.cfg.fit_tables_lr)
        if self.cfg.freeze_non_embedding and not from_checkpoint:
            freeze_non_embedding(model)
        embedding_stats = getattr(model, "embedding_stats", None)
        if embedding_stats and not from_checkpoint:
            # saved in every checkpoint (trainer.state_dict's "task_state"): the recipes read it there
            self.state.merge_state_dict({"embedding_stats": embedding_stats})
        check_index_identity_across_ranks(model)
        return model

    def language(self, side):
        return self.cfg.source_lang if side == "source" else self.cfg.target_lang

    def dictionary_path(self, lang):
        return os.path.join(self.cfg.data.split(os.pathsep)[0], f"dict.{lang}.txt")

    def side_indexes(self, side):
        """The ``source`` or ``target`` dictionary's indexes and morpheme segmenter."""
        if side not in self._side_indexes:
            lang = self.language(side)
            dictionary = self.src_dict if side == "source" else self.tgt_dict
            self._side_indexes[side] = SideIndexes(
                self.cfg.data.split(os.pathsep)[0], lang, dictionary, self.dictionary_path(lang),
                self.lexicon if self.cfg.sememe_lexicon else None,
                lexicon_name(self.cfg.sememe_lexicon) if self.cfg.sememe_lexicon else None,
                self.cfg.morpheme_segmenter, from_checkpoint=lambda: self._index_from_checkpoint,
                restoring=lambda: self._restoring)
        return self._side_indexes[side]
