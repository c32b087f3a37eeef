"""fairseq-see-export: a checkpoint with only what inference needs, in a hub-ready directory.

Kept: model weights (SEE unit tables, LayerNorms, the index buffers and unit names), the config,
and the few bookkeeping fields fairseq's loader expects. Dropped: optimizer state and its history
details. Never present anyway: rebuilt tables (a cache, not state) and the teacher (kept by the
task, not the model). Output directory: model.pt, dict.<src>.txt, dict.<tgt>.txt and, when given,
the source sentencepiece model as sentencepiece.bpe.model (fairseq's hub file name).
"""

import argparse
import os
import shutil
import sys

import torch

from .lexicon.files import atomic_output


class CheckpointError(Exception):
    pass


def load_checkpoint(path):
    """A fairseq checkpoint on CPU, or a one-line CheckpointError naming the file."""
    from fairseq import checkpoint_utils
    if not os.path.isfile(path):
        raise CheckpointError(f"{path}: checkpoint not found; pass the trained checkpoint (checkpoint_best.pt)")
    try:
        return checkpoint_utils.load_checkpoint_to_cpu(path)
    except Exception as e:
        raise CheckpointError(f"{path}: not a readable fairseq checkpoint ({type(e).__name__}); "
                          "pass an intact checkpoint") from None


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


def save_atomic(obj, path):
    with atomic_output(path) as tmp:
        torch.save(obj, tmp)


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


def main(argv=None):
    parser = argparse.ArgumentParser(prog="fairseq-see-export", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint", help="trained checkpoint (e.g. checkpoint_best.pt)")
    parser.add_argument("--data", required=True, help="data-bin with the dictionaries it was trained on")
    parser.add_argument("--output", required=True, help="directory to write model.pt and dictionaries into")
    parser.add_argument("--fp16", action="store_true", help="store floating weights in half precision")
    parser.add_argument("--sentencepiece-model", help="source sentencepiece model, for the hub interface")
    parser.add_argument("--teacher", help="teacher checkpoint, only to report its size beside the student's")
    args = parser.parse_args(argv)
    try:
        for line in export(args.checkpoint, args.data, args.output, args.fp16, args.sentencepiece_model,
                           args.teacher):
            print(line)
    except CheckpointError as e:
        print(f"fairseq-see-export: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
