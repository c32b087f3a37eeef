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
from .errors import CheckpointError
from .lexicon import check_index_fits_dictionary, dictionary_checksum, read_fairseq_dictionary
from .lexicon.files import atomic_output
from .lexicon.index import lookup_key, token_senses


def words_to_add(words, corpus, symbols, lexicon):
    """The new tokens: given words, or every corpus token missing from the dictionary but in the lexicon."""
    known = set(symbols)
    if words:
        candidates = words
    else:
        candidates = [t for line in corpus for t in line.split()]
    new = []
    for token in dict.fromkeys(candidates):
        if token not in known and (words or lookup_key(token) in lexicon):
            new.append(token)
    return new


def extend(checkpoint, data, output, lexicon, words=None, corpus=None, side="source"):
    """Append ``words`` (or the corpus tokens the lexicon knows) to the ``side`` dictionary and index."""
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
    new_tokens = words_to_add(words, corpus, symbols, lexicon)
    sense_mask = model[f"{prefix}.embed_tokens.sense_mask"]
    vectors = model[f"{prefix}.embed_tokens.unit_vectors"]  # (m, U, q)
    units = list(extra["units"])
    unit_of = {u: i for i, u in enumerate(units)}
    _, rank, order = unit_ids.shape
    rows, masks, report = [], [], []
    for token in new_tokens:
        senses, covered = token_senses(token, lexicon, order, rank)
        fresh = [u for sense in senses for u in sense if u not in unit_of]
        for unit in dict.fromkeys(fresh):
            unit_of[unit] = len(units)
            units.append(unit)
        row = torch.zeros(rank, order, dtype=unit_ids.dtype)
        mask = torch.zeros(rank, dtype=torch.bool)
        for k, sense in enumerate(senses):
            row[k] = torch.tensor([unit_of[u] for u in sense])
            mask[k] = True
        rows.append(row)
        masks.append(mask)
        report.append((token, covered, sorted(set(fresh))))
    added_units = len(units) - vectors.shape[1]
    if added_units:
        # untrained units start at their table's mean trained vector rather than at zero
        mean = vectors.mean(dim=1, keepdim=True).expand(-1, added_units, -1)
        vectors = torch.cat([vectors, mean.to(vectors.dtype)], dim=1)
    new_symbols = symbols + list(new_tokens)
    model[f"{prefix}.embed_tokens.unit_ids"] = torch.cat([unit_ids, torch.stack(rows)]) if rows else unit_ids
    model[f"{prefix}.embed_tokens.sense_mask"] = torch.cat([sense_mask, torch.stack(masks)]) if masks else sense_mask
    model[f"{prefix}.embed_tokens.unit_vectors"] = vectors
    model[f"{prefix}.embed_tokens._extra_state"] = {"units": units, "dictionary_checksum": dictionary_checksum(new_symbols)}
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
