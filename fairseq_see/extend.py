"""Give a trained SEE model words it never saw, from their sememes (zero-shot; ``fairseq-see-extend``).

A SEE embedding is a function of a word's units, so a word absent from training but present in
the lexicon gets a real embedding without retraining. New words are appended to the dictionary,
the index gains their rows (same rules as fairseq-see-index), and units the model never trained
are appended too, initialised to the mean of the trained units of their table, and reported.
Writes a new checkpoint and data directory that fairseq-generate / fairseq-interactive load as usual.
"""

import os
import shutil

import torch

from .checkpoint_files import language_pair, load_checkpoint, save_atomic
from .errors import CheckpointError, UserInputError
from .lexicon import check_index_fits_dictionary, dictionary_checksum, read_fairseq_dictionary
from .lexicon.files import atomic_output
from .lexicon.index import identity_base, index_dtype, lookup_key, token_slots
from .lexicon.morfessor_segmenter import side_segmenter


def words_to_add(words, corpus, symbols, lexicon):
    """The new tokens: given words, or every corpus token missing from the dictionary but in the lexicon."""
    known = set(symbols)
    if words is not None:
        for word in words:
            if not word or any(c.isspace() for c in word):
                raise UserInputError(f"new word {word!r}: a dictionary token is non-empty and holds no whitespace; "
                                     "give one token as it appears in the data (e.g. '▁量子力学')")
        candidates = words
    elif corpus is not None:
        candidates = [t for line in corpus for t in line.split()]
    else:
        raise UserInputError("fairseq-see-extend: give the new words (--words) or a tokenised corpus (--corpus)")
    new = []
    for token in dict.fromkeys(candidates):
        if token not in known and (words is not None or lookup_key(token) in lexicon):
            new.append(token)
    return new


def extend(checkpoint, data, output, lexicon, words=None, corpus=None, side="source", segmenter="morfessor"):
    """Append ``words`` (or the corpus tokens the lexicon knows) to the ``side`` dictionary and index.

    ``segmenter``: "morfessor" (the data directory's see_morfessor.<lang>.txt, else one trained on the
    dictionary's pieces: what the task does) or "none"."""
    state = load_checkpoint(checkpoint)
    src, tgt = language_pair(state, data)
    lang = src if side == "source" else tgt
    prefix = "encoder" if side == "source" else "decoder"
    model = state["model"]
    if f"{prefix}.embed_tokens.unit_ids" not in model:
        raise CheckpointError(f"{checkpoint}: the {side} side has no SEE embedding; only SEE tables can be extended")
    dict_path = os.path.join(data, f"dict.{lang}.txt")
    symbols, counts = read_fairseq_dictionary(dict_path)
    extra = model[f"{prefix}.embed_tokens._extra_state"]
    unit_ids = model[f"{prefix}.embed_tokens.unit_ids"]
    check_index_fits_dictionary(unit_ids.shape[0], extra["dictionary_checksum"], len(symbols),
                                dictionary_checksum(symbols), dict_path, f"{checkpoint}'s SEE index ({side})",
                                "pass the data-bin it was trained on")
    if f"{prefix}.embed_tokens.sense_mask" in model:
        raise CheckpointError(f"{checkpoint}: a SEE index of the first format (m full tables and a sense mask); "
                              "rebuild the index with fairseq-see-index and retrain before extending")
    segmenter = side_segmenter(data, lang, symbols, counts) if segmenter == "morfessor" else None
    new_tokens = words_to_add(words, corpus, symbols, lexicon)
    vectors = model[f"{prefix}.embed_tokens.unit_vectors"]  # (U, q)
    units, tables = list(extra["units"]), extra["tables"]
    row_of = {u: i for i, u in enumerate(units)}
    _, rank, order = unit_ids.shape
    # identity digits in the base the trained index used (its dictionary's size decides it)
    base = identity_base(len(symbols), order)
    rows, report = [], []
    for v, token in enumerate(new_tokens, start=len(symbols)):
        slots, covered = token_slots(v, token, lexicon, order, rank, base, segmenter)
        names = [[f"t{k % tables}/{unit}" for unit in slot] for k, slot in enumerate(slots)]
        fresh = [name for slot in names for name in slot if name not in row_of]
        for name in dict.fromkeys(fresh):
            row_of[name] = len(units)
            units.append(name)
        rows.append(torch.tensor([[row_of[name] for name in slot] for slot in names]))
        report.append((token, covered, sorted(set(fresh))))
    added_units = len(units) - vectors.shape[0]
    if added_units:
        # an untrained row starts at the mean trained row of its table rather than at zero
        table_of = [int(name.split("/", 1)[0][1:]) for name in units]
        means = {k: vectors[[i for i in range(vectors.shape[0]) if table_of[i] == k]].mean(0) for k in range(tables)}
        fresh_rows = torch.stack([means[table_of[i]] for i in range(vectors.shape[0], len(units))])
        vectors = torch.cat([vectors, fresh_rows.to(vectors.dtype)])
    ids_dtype = getattr(torch, index_dtype(len(units)).__name__)
    new_symbols = symbols + list(new_tokens)
    all_ids = torch.cat([unit_ids.long()] + ([torch.stack(rows)] if rows else []))
    model[f"{prefix}.embed_tokens.unit_ids"] = all_ids.to(ids_dtype)
    model[f"{prefix}.embed_tokens.unit_vectors"] = vectors
    model[f"{prefix}.embed_tokens._extra_state"] = dict(extra, units=units,
                                                        dictionary_checksum=dictionary_checksum(new_symbols))
    os.makedirs(output, exist_ok=True)
    for other in os.listdir(data):
        if other.startswith("dict.") and other != os.path.basename(dict_path):
            shutil.copyfile(os.path.join(data, other), os.path.join(output, other))
    fairseq_symbols = symbols[4:]  # fairseq writes its four specials implicitly
    with atomic_output(os.path.join(output, os.path.basename(dict_path))) as tmp, open(tmp, "w", encoding="utf-8") as f:
        for token, count in zip(fairseq_symbols + list(new_tokens), counts[4:] + [0] * len(new_tokens)):
            f.write(f"{token} {count}\n")
    save_atomic(state, os.path.join(output, "checkpoint.pt"))
    return report, added_units
