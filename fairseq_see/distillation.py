"""Teacher side of distillation: load a trained teacher, check it fits, initialise a student from it."""

import logging
import os

import torch
from fairseq import models
from fairseq.data import Dictionary

from .checkpoint_files import load_checkpoint
from .errors import UserInputError
from .lexicon import dictionary_checksum

logger = logging.getLogger(__name__)


def token_table(embedding):
    """An embedding module's (V, d) table: a SEE-style module's rebuilt table, else its weight."""
    return embedding.table() if hasattr(embedding, "table") else embedding.weight


def _check_dictionaries(path, state, task):
    """Teacher and student must index the same tokens: compare dictionaries, else table sizes."""
    teacher_task = state["cfg"]["task"]
    teacher_data = str(teacher_task.get("data") or "").split(os.pathsep)[0]
    for side, lang, dictionary in (("encoder", task.cfg.source_lang, task.source_dictionary),
                                   ("decoder", task.cfg.target_lang, task.target_dictionary)):
        ours = task.dictionary_path(lang)
        theirs = os.path.join(teacher_data, f"dict.{lang}.txt")
        if os.path.isfile(theirs):
            if dictionary_checksum(Dictionary.load(theirs).symbols) != dictionary_checksum(dictionary.symbols):
                raise UserInputError(f"teacher {path} was trained with {theirs}, which differs from {ours}; "
                                     "distil on the teacher's data-bin (same dictionaries)")
            continue
        weight = state["model"].get(f"{side}.embed_tokens.weight")
        if weight is not None and weight.shape[0] != len(dictionary):
            raise UserInputError(f"teacher {path} has a {weight.shape[0]}-token {side} table but {ours} has "
                                 f"{len(dictionary)} symbols; distil on the teacher's data-bin (same dictionaries)")


def load_teacher(path, task):
    """The teacher model on CPU, in eval mode, without gradients (never part of the student)."""
    state = load_checkpoint(path, "teacher checkpoint", "pass the teacher's checkpoint_best.pt to --teacher-checkpoint")
    _check_dictionaries(path, state, task)
    teacher = models.build_model(state["cfg"].model, task)
    teacher.load_state_dict(state["model"], strict=True, model_cfg=state["cfg"].model)
    teacher.eval()
    for parameter in teacher.parameters():
        parameter.requires_grad_(False)
    logger.info(f"teacher {path}: {sum(p.numel() for p in teacher.parameters()):,} parameters "
                f"({type(teacher).__name__}, eval mode, no gradients)")
    return teacher


def _is_token_embedding(name):
    return ".embed_tokens." in name or name.startswith("decoder.output_projection.")


def init_student_from_teacher(student, teacher):
    """Copy every teacher tensor whose name and shape match; token tables may differ (SEE replaces them).

    Everything else must match exactly: a different number of layers or model dimension is an
    error naming the first mismatching tensor.
    """
    ours, theirs = student.state_dict(), teacher.state_dict()
    for name in sorted(set(ours) | set(theirs)):
        if _is_token_embedding(name) or name.endswith("._extra_state"):
            continue
        if name not in theirs or name not in ours:
            where = "teacher" if name not in theirs else "student"
            raise UserInputError(f"--init-student-from-teacher: {name} is missing from the {where}; student and "
                             "teacher need the same architecture (layers, dimensions) apart from token embeddings")
        if ours[name].shape != theirs[name].shape:
            raise UserInputError(f"--init-student-from-teacher: {name} is {tuple(ours[name].shape)} in the student "
                             f"but {tuple(theirs[name].shape)} in the teacher; use the teacher's architecture")
    copied = {n: theirs[n] for n in ours if n in theirs and ours[n].shape == theirs[n].shape
              and not n.endswith("._extra_state")}
    # nn.Module's own loader: fairseq's would "upgrade" the partial state dict first
    torch.nn.Module.load_state_dict(student, copied, strict=False)
    params = dict(student.named_parameters())
    copied_params = sum(params[n].numel() for n in copied if n in params)
    kept = [n for n in params if n not in copied]
    logger.info(f"--init-student-from-teacher: copied {len(copied)} tensors ({copied_params:,} parameters); "
                f"not copied (student's own): {', '.join(kept) or 'none'}")
    return sorted(copied), kept


def fit_tables_to_teacher(student, teacher, dictionaries, steps, lr):
    """Fit every rebuilt token table of the student to the teacher's, before any training data is read.

    Full-batch Adam on the count-weighted relative squared error
    ``Σ_v c_v |E_v − Ê_v|² / Σ_v c_v |E_v|²`` (c_v: the token's count in its fairseq dictionary, the
    padding row left out), ``steps`` steps at ``lr``. A compressed table cannot fit every row; weighted
    by counts it spends its parameters on the rows training reads most. Measured on the converge
    profile (d 64, SEE 20x): the teacher's body reading the stage-1 tables reached valid NLL 10.96 after
    stage 1's 150 updates alone, 8.61 after 1,500 such steps (35 s of one CPU thread) and before any
    update. ``dictionaries``: {"encoder": Dictionary, "decoder": Dictionary}. Returns
    {side: {"before", "after"}} of the weighted error; a side whose table is the other's is fitted once.
    """
    errors, fitted = {}, set()
    for side in ("encoder", "decoder"):
        module = getattr(student, side).embed_tokens
        if not hasattr(module, "compose_table") or id(module) in fitted:
            continue
        fitted.add(id(module))
        target = getattr(teacher, side).embed_tokens.weight.detach().float()  # (V, d)
        counts = torch.tensor(dictionaries[side].count, dtype=torch.float32)  # (V,)
        counts[module.padding_idx] = 0
        scale = (counts * (target ** 2).sum(1)).sum()

        def weighted_error():
            return (counts * ((module.compose_table() - target) ** 2).sum(1)).sum() / scale  # ()

        parameters = [p for name, p in module.named_parameters() if name != "output_bias"]
        optimizer = torch.optim.Adam(parameters, lr=lr)
        with torch.no_grad():
            before = float(weighted_error())
        # LayerNorm'd units (SEE, MorphTE) have a free common scale that Adam inflates, and larger units
        # turn slower in training: each step puts them back at their starting scale (rescale_units)
        restore_scale = getattr(module, "restore_unit_scale", lambda: None)
        for _ in range(steps):
            optimizer.zero_grad()
            loss = weighted_error()
            loss.backward()
            optimizer.step()
            restore_scale()
        optimizer.zero_grad(set_to_none=True)
        module.invalidate()
        with torch.no_grad():
            errors[side] = {"before": before, "after": float(weighted_error())}
        logger.info(f"--fit-tables-steps {steps}: {side} table fitted to the teacher's, count-weighted relative "
                    f"error {before:.3f} -> {errors[side]['after']:.3f}")
    return errors


def freeze_non_embedding(model):
    """Train only token-embedding parameters (stage 1's --freeze-non-embedding)."""
    trainable = 0
    for name, parameter in model.named_parameters():
        parameter.requires_grad_(_is_token_embedding(name))
        trainable += parameter.numel() if parameter.requires_grad else 0
    if not trainable:
        raise UserInputError("--freeze-non-embedding: the model has no token-embedding parameters to train")
    logger.info(f"--freeze-non-embedding: training {trainable:,} token-embedding parameters only")
