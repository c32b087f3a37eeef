"""A checkpoint with only what inference needs, in a hub-ready directory (``fairseq-see-export``).

Kept: model weights (SEE unit tables, LayerNorms, the index buffers and unit names), the config,
and the few bookkeeping fields fairseq's loader expects. Dropped: optimizer state and its history
details. Never present anyway: rebuilt tables (a cache, not state) and the teacher (kept by the
task, not the model). Output directory: model.pt, dict.<src>.txt, dict.<tgt>.txt, the source
sentencepiece model as sentencepiece.bpe.model (fairseq's hub file name) and, when jieba kept a
lexicon's words whole (as the recipes segment), those words as jieba_lexicon.txt (thunlp format:
a word line, then its sememes). The config records both (``tokenizer``, ``bpe``), and
``SEETransformerModel.from_pretrained`` segments the same way.

Checked before anything is written: the dictionaries are those the checkpoint was trained with,
the sentencepiece model loads, the jieba lexicon reads.
"""

import os
import shutil

import torch

from .checkpoint_files import language_pair, load_checkpoint, save_atomic
from .errors import CheckpointError
from .lexicon import dictionary_checksum, load_lexicons, read_fairseq_dictionary
from .lexicon.files import atomic_output
from .lexicon.text import has_chinese

SENTENCEPIECE_FILE = "sentencepiece.bpe.model"  # the name fairseq's hub loader looks for
JIEBA_LEXICON_FILE = "jieba_lexicon.txt"
PLAIN_JIEBA = "none"


def embedding_parameters(model_state):
    """Parameters of the token tables (and the tied output projection), SEE or full."""
    return sum(t.numel() for name, t in model_state.items()
               if torch.is_tensor(t) and t.is_floating_point()
               and (".embed_tokens." in name or name.startswith("decoder.output_projection.")))


def all_parameters(model_state):
    return sum(t.numel() for t in model_state.values() if torch.is_tensor(t) and t.is_floating_point())


def inference_state(state, fp16, src, tgt, jieba_lexicon):
    from omegaconf import open_dict
    cfg = state["cfg"]
    with open_dict(cfg):
        # recorded, so the hub interface needs no language-pair-named files to infer them from
        cfg["task"]["source_lang"], cfg["task"]["target_lang"] = src, tgt
        # how the source is segmented and encoded (file names inside the export directory)
        cfg["tokenizer"] = {"_name": "jieba", "jieba_lexicon": JIEBA_LEXICON_FILE if jieba_lexicon else None}
        cfg["bpe"] = {"_name": "sentencepiece", "sentencepiece_model": SENTENCEPIECE_FILE}
    model = {}
    for name, value in state["model"].items():
        # only floating weights shrink; the index (int64 ids, bool mask) keeps its exact type
        model[name] = value.half() if fp16 and torch.is_tensor(value) and value.is_floating_point() else value
    history = [{k: v for k, v in entry.items() if k != "optimizer"} for entry in state["optimizer_history"][-1:]]
    return {"cfg": cfg, "model": model, "optimizer_history": history,
            "extra_state": {"epoch": state.get("extra_state", {}).get("epoch", 1)}, "last_optimizer_state": None}


def size_line(label, path, model_state):
    emb, total = embedding_parameters(model_state), all_parameters(model_state)
    return (f"{label}: {os.path.getsize(path) / 2**20:.2f} MiB, {total:,} parameters, token embeddings "
            f"{emb:,} ({100 * emb / max(total, 1):.1f}%)")


def _trained_dictionary(state, lang):
    """The dictionary path the checkpoint's training recorded (its --data), or None."""
    data = str(state["cfg"]["task"].get("data") or "").split(os.pathsep)[0]
    return os.path.join(data, f"dict.{lang}.txt") if data else None


def check_dictionaries(checkpoint, state, data, src, tgt):
    """Each side's dictionary in ``data`` must be the one the checkpoint was trained with: its SEE
    index's checksum, else its table's size, else the training run's recorded dictionary decides."""
    model = state["model"]
    for side, prefix, lang in (("source", "encoder", src), ("target", "decoder", tgt)):
        given = os.path.join(data, f"dict.{lang}.txt")
        symbols, _ = read_fairseq_dictionary(given)
        trained = _trained_dictionary(state, lang)
        trained_here = trained is not None and os.path.isfile(trained)
        extra = model.get(f"{prefix}.embed_tokens._extra_state")
        weight = model.get(f"{prefix}.embed_tokens.weight")
        problem = None
        if isinstance(extra, dict) and extra.get("dictionary_checksum"):
            rows = model[f"{prefix}.embed_tokens.unit_ids"].shape[0]
            if rows != len(symbols):
                problem = f"{len(symbols)} symbols, but the checkpoint's {side} SEE index has {rows} rows"
            elif extra["dictionary_checksum"] != dictionary_checksum(symbols):
                problem = f"same size, other symbols or order than the {side} SEE index was built for"
        elif torch.is_tensor(weight) and weight.dim() == 2:
            if weight.shape[0] != len(symbols):
                problem = f"{len(symbols)} symbols, but the checkpoint's {side} table has {weight.shape[0]} rows"
        elif trained_here and not os.path.samefile(trained, given):
            if dictionary_checksum(read_fairseq_dictionary(trained)[0]) != dictionary_checksum(symbols):
                problem = "other symbols than the dictionary of the training run"
        if problem:
            where = (f"pass --data {os.path.dirname(trained) or '.'}" if trained_here
                     else "pass the data-bin it was trained on")
            raise CheckpointError(f"{given}: not the dictionary {checkpoint} was trained with ({trained or 'unrecorded'}"
                                  f"{'' if trained_here else ', not found here'}): {problem}; {where}")


def check_sentencepiece_model(path):
    if not path:
        raise CheckpointError("--sentencepiece-model is needed: the hub interface encodes the "
                              "source with it; pass the source side's model (the recipes' work/<name>/spm/zh.model)")
    if not os.path.isfile(path):
        raise CheckpointError(f"{path}: sentencepiece model not found; pass the source side's model "
                              "(the recipes' work/<name>/spm/zh.model)")
    import sentencepiece as spm
    try:
        pieces = spm.SentencePieceProcessor(model_file=path).get_piece_size()
    except Exception as e:  # sentencepiece raises RuntimeError/OSError with a C++ message
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise CheckpointError(f"{path}: not a sentencepiece model ({first}); pass the source side's .model file "
                              "(the one spm-train wrote, not the .vocab)") from None
    return pieces


def jieba_lexicon_of(checkpoint, state, jieba_lexicon):
    """The lexicon whose Chinese words jieba kept whole when the training source was segmented (None: plain
    jieba): ``jieba_lexicon`` (files, or "none"), else the lexicon the checkpoint was trained with."""
    if jieba_lexicon == PLAIN_JIEBA:
        return None, "plain jieba (--jieba-lexicon none)"
    task = state["cfg"]["task"]
    how = "--jieba-lexicon"
    if not jieba_lexicon:
        jieba_lexicon, how = task.get("sememe_lexicon"), "the checkpoint's --sememe-lexicon, as the recipes segment"
        if not jieba_lexicon:
            raise CheckpointError(f"{checkpoint}: trained without --sememe-lexicon, so the export cannot tell how its "
                                  "source was segmented; pass --jieba-lexicon LEXICON (as given to fairseq-see-recipe "
                                  "segment) or --jieba-lexicon none (plain jieba)")
        missing = [s for s in str(jieba_lexicon).split(",") if s.strip() and s.strip() != "openhownet"
                   and not os.path.exists(s.strip())]
        if missing:
            raise CheckpointError(f"{missing[0]}: the lexicon {checkpoint} was trained with is not here, so the "
                                  "export cannot tell which words jieba kept whole; pass --jieba-lexicon LEXICON "
                                  "or --jieba-lexicon none (plain jieba)")
    lexicon = load_lexicons(jieba_lexicon, wordnet=task.get("wordnet"))
    words = sum(1 for word in lexicon.entries if _jieba_word(word))
    if not words:
        return None, f"plain jieba ({jieba_lexicon}, {how}, has no Chinese word)"
    return lexicon, f"jieba with the {words:,} Chinese word{'s' * (words != 1)} of {jieba_lexicon} ({how})"


def _jieba_word(word):
    """A word jieba_with_lexicon adds to jieba's dictionary."""
    return has_chinese(word) and not any(c.isspace() for c in word)


def write_jieba_lexicon(lexicon, path):
    """The lexicon's Chinese words (what jieba keeps whole) in thunlp's format, which --jieba-lexicon reads."""
    with atomic_output(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        for word, entry in lexicon.entries.items():
            if not _jieba_word(word):
                continue
            sememes = dict.fromkeys("_".join(s.split()) for sense in entry.senses for s in sense)
            f.write(f"{word}\n{' '.join(s for s in sememes if s)} \n")


def copy_atomic(source, target):
    with atomic_output(target) as tmp:
        shutil.copyfile(source, tmp)


def export(checkpoint, data, output, fp16=False, sentencepiece_model=None, teacher=None, jieba_lexicon=None):
    """Write the export; returns the lines to print (segmentation, sizes)."""
    check_sentencepiece_model(sentencepiece_model)
    state = load_checkpoint(checkpoint)
    src, tgt = language_pair(state, data)
    dictionaries = [os.path.join(data, f"dict.{lang}.txt") for lang in (src, tgt)]
    for path in dictionaries:
        if not os.path.isfile(path):
            raise CheckpointError(f"{path}: not found; pass the data-bin the model was trained on")
    check_dictionaries(checkpoint, state, data, src, tgt)
    lexicon, segmentation = jieba_lexicon_of(checkpoint, state, jieba_lexicon)
    teacher_state = load_checkpoint(teacher)["model"] if teacher else None
    os.makedirs(output, exist_ok=True)
    target = os.path.join(output, "model.pt")
    student_state = state["model"]
    save_atomic(inference_state(state, fp16, src, tgt, lexicon), target)
    for path in dictionaries:
        copy_atomic(path, os.path.join(output, os.path.basename(path)))
    copy_atomic(sentencepiece_model, os.path.join(output, SENTENCEPIECE_FILE))
    stale = os.path.join(output, JIEBA_LEXICON_FILE)
    if lexicon:
        write_jieba_lexicon(lexicon, stale)
    elif os.path.exists(stale):
        os.unlink(stale)  # an earlier export's words: this model's source was segmented without them
    lines = [f"source segmentation: {segmentation}; then {SENTENCEPIECE_FILE}"]
    if teacher_state is not None:
        lines.append(size_line("teacher checkpoint", teacher, teacher_state))
    lines.append(size_line("student checkpoint", checkpoint, student_state))
    lines.append(size_line("exported" + (" (fp16)" if fp16 else ""), target, student_state))
    return lines
