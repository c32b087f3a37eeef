"""fairseq-see-extend: give a trained SEE model words it never saw, from their sememes (zero-shot).

A SEE embedding is a function of a word's units, so a word absent from training but present in
the lexicon gets a real embedding without retraining. New words are appended to the dictionary,
the index gains their rows (same rules as fairseq-see-index), and units the model never trained
are appended too, initialised to the mean of the trained units of their table, and reported.
Writes a new checkpoint and data directory that fairseq-generate / fairseq-interactive load as usual.
"""

import argparse
import os
import shutil
import sys

import torch

from .export import CheckpointError, language_pair, load_checkpoint, save_atomic
from .lexicon import LexiconError, dictionary_checksum, load_lexicons, read_fairseq_dictionary
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
    if extra["dictionary_checksum"] != dictionary_checksum(symbols):
        raise CheckpointError(f"{checkpoint}: was not trained with {dict_path}; pass the data-bin it was trained on")
    new_tokens = words_to_add(words, corpus, symbols, lexicon)
    unit_ids, sense_mask = model[f"{prefix}.embed_tokens.unit_ids"], model[f"{prefix}.embed_tokens.sense_mask"]
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


def main(argv=None):
    parser = argparse.ArgumentParser(prog="fairseq-see-extend", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("checkpoint")
    parser.add_argument("--data", required=True, help="data-bin the model was trained on")
    parser.add_argument("--output", required=True, help="directory for checkpoint.pt and the extended dictionaries")
    parser.add_argument("--sememe-lexicon", required=True)
    parser.add_argument("--sememe-names")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--words", help="file with one new token per line (as it appears in the data)")
    source.add_argument("--corpus", help="tokenised text: every token missing from the dictionary and in the lexicon")
    parser.add_argument("--side", choices=("source", "target"), default="source")
    args = parser.parse_args(argv)
    try:
        lexicon = load_lexicons(args.sememe_lexicon, sememe_names=args.sememe_names)
        path = args.words or args.corpus
        if not os.path.isfile(path):
            raise CheckpointError(f"{path}: not found; pass a file of new words or a tokenised corpus")
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
        words = [w.strip() for w in lines if w.strip()] if args.words else None
        report, added_units = extend(args.checkpoint, args.data, args.output, lexicon, words=words,
                                     corpus=None if args.words else lines, side=args.side)
    except (CheckpointError, LexiconError) as e:
        print(f"fairseq-see-extend: error: {e}", file=sys.stderr)
        return 1
    for token, covered, fresh in report:
        note = f"untrained units: {' '.join(fresh)}" if fresh else "all units trained"
        print(f"+ {token}  ({'sememes' if covered else 'morphemes only'}; {note})")
    print(f"added {len(report)} tokens to the {args.side} dictionary, {added_units} untrained units; "
          f"wrote {os.path.join(args.output, 'checkpoint.pt')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
