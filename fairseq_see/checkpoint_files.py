"""Reading and writing fairseq checkpoint files, with one-line errors that name the file."""

import os

import torch

from .errors import CheckpointError
from .lexicon.files import atomic_output


def load_checkpoint(path, what="checkpoint", fix="pass the trained checkpoint (checkpoint_best.pt)"):
    """A fairseq checkpoint on CPU, or a one-line CheckpointError naming the file (``what`` it is
    and ``fix``, what to pass instead)."""
    from fairseq import checkpoint_utils
    if not os.path.isfile(path):
        raise CheckpointError(f"{path}: {what} not found; {fix}")
    try:
        return checkpoint_utils.load_checkpoint_to_cpu(path)
    except Exception as e:  # truncated zip, pickle garbage, ...: one line, not a traceback of torch internals
        raise CheckpointError(f"{path}: not a readable fairseq checkpoint ({type(e).__name__}); {fix}") from None


def save_atomic(obj, path):
    """torch.save that leaves no half-written file (and any previous file intact) when interrupted."""
    with atomic_output(path) as tmp:
        torch.save(obj, tmp)


def language_pair(state, data):
    """The checkpoint's languages; fairseq leaves them unset when it inferred them from the data-bin."""
    from fairseq.data import data_utils
    task_cfg = state["cfg"]["task"]
    src, tgt = task_cfg.get("source_lang"), task_cfg.get("target_lang")
    if src is None or tgt is None:
        src, tgt = data_utils.infer_language_pair(data)
    if src is None or tgt is None:
        raise CheckpointError(f"{data}: cannot tell the language pair; pass the data-bin the model was trained on")
    return src, tgt


def embedding_stats(state):
    """Both sides' embedding stats of a loaded checkpoint (embedding_stats.py): what the task saved
    at training start, or, for a stock fairseq transformer (a teacher), its full tables' sizes."""
    saved = (state.get("task_state") or {}).get("embedding_stats")
    if saved:
        return saved
    from .modules.embedding_stats import full_embedding_stats
    stats = {}
    for side, prefix in (("source", "encoder"), ("target", "decoder")):
        weight = state["model"].get(f"{prefix}.embed_tokens.weight")
        if weight is not None:
            stats[side] = full_embedding_stats(weight.shape[0], weight.shape[1], side)
    return stats
