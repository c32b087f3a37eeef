"""A checkpoint with only what inference needs, in a hub-ready directory (``fairseq-see-export``).

Kept: model weights (SEE unit tables, LayerNorms, the index buffers and unit names), the config,
and the few bookkeeping fields fairseq's loader expects. Dropped: optimizer state and its history
details. Never present anyway: rebuilt tables (a cache, not state) and the teacher (kept by the
task, not the model). Output directory: model.pt, dict.<src>.txt, dict.<tgt>.txt and, when given,
the source sentencepiece model as sentencepiece.bpe.model (fairseq's hub file name).
"""

import os
import shutil

import torch

from .checkpoint_files import language_pair, load_checkpoint, save_atomic
from .errors import CheckpointError


def embedding_parameters(model_state):
    """Parameters of the token tables (and the tied output projection), SEE or full."""
    return sum(t.numel() for name, t in model_state.items()
               if torch.is_tensor(t) and t.is_floating_point()
               and (".embed_tokens." in name or name.startswith("decoder.output_projection.")))


def all_parameters(model_state):
    return sum(t.numel() for t in model_state.values() if torch.is_tensor(t) and t.is_floating_point())


def inference_state(state, fp16, src, tgt):
    from omegaconf import open_dict
    with open_dict(state["cfg"]):
        # recorded, so the hub interface needs no language-pair-named files to infer them from
        state["cfg"]["task"]["source_lang"], state["cfg"]["task"]["target_lang"] = src, tgt
    model = {}
    for name, value in state["model"].items():
        # only floating weights shrink; the index (int64 ids, bool mask) keeps its exact type
        model[name] = value.half() if fp16 and torch.is_tensor(value) and value.is_floating_point() else value
    history = [{k: v for k, v in entry.items() if k != "optimizer"} for entry in state["optimizer_history"][-1:]]
    return {"cfg": state["cfg"], "model": model, "optimizer_history": history,
            "extra_state": {"epoch": state.get("extra_state", {}).get("epoch", 1)}, "last_optimizer_state": None}


def size_line(label, path, model_state):
    emb, total = embedding_parameters(model_state), all_parameters(model_state)
    return (f"{label}: {os.path.getsize(path) / 2**20:.2f} MiB, {total:,} parameters, token embeddings "
            f"{emb:,} ({100 * emb / max(total, 1):.1f}%)")


def export(checkpoint, data, output, fp16=False, sentencepiece_model=None, teacher=None):
    state = load_checkpoint(checkpoint)
    src, tgt = language_pair(state, data)
    dictionaries = [os.path.join(data, f"dict.{lang}.txt") for lang in (src, tgt)]
    for path in dictionaries + ([sentencepiece_model] if sentencepiece_model else []):
        if not os.path.isfile(path):
            raise CheckpointError(f"{path}: not found; pass the data-bin the model was trained on"
                              if path in dictionaries else f"{path}: sentencepiece model not found")
    os.makedirs(output, exist_ok=True)
    target = os.path.join(output, "model.pt")
    save_atomic(inference_state(state, fp16, src, tgt), target)
    for path in dictionaries:
        shutil.copyfile(path, os.path.join(output, os.path.basename(path)))
    if sentencepiece_model:
        shutil.copyfile(sentencepiece_model, os.path.join(output, "sentencepiece.bpe.model"))
    lines = []
    if teacher:
        lines.append(size_line("teacher checkpoint", teacher, load_checkpoint(teacher)["model"]))
    lines.append(size_line("student checkpoint", checkpoint, state["model"]))
    lines.append(size_line("exported" + (" (fp16)" if fp16 else ""), target, state["model"]))
    return lines
