"""Where a compressed model loses: validation NLL by the target token's frequency band, beside a reference.

    .venv/bin/python benchmarks/nll_by_frequency.py work/converge128/bin \
        work/converge128/ckpt/teacher/checkpoint_best.pt work/converge128/ckpt/see20x.scratch.seed1/checkpoint_best.pt

The first checkpoint is the reference (the full model). Every model scores the validation set with
teacher forcing (eval mode, no label smoothing); each target token's NLL (bits) goes to the band of its
frequency rank in the target dictionary (the training counts fairseq-preprocess wrote; fairseq's
special symbols first). Printed per
band: the share of the validation tokens, each model's mean NLL, and each model's part of its total
gap to the reference (the band's tokens' extra bits over all validation tokens, so the parts add up
to the gap in valid NLL). ``--json`` writes the same as data.
"""

import argparse
import json
import math
import os
import sys

import torch

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
USER_DIR = os.path.join(REPO, "fairseq_see")
BANDS = (0, 64, 256, 1024, 4096)  # frequency-rank band starts; the last band runs to |V|


def band_starts(vocab):
    return [start for start in BANDS if start < vocab]


def band_names(vocab):
    starts = band_starts(vocab)
    return [f"{start + 1}-{end}" for start, end in zip(starts, starts[1:] + [vocab])]


def rank_bands(dictionary):
    """(|V|,) band index of every target id, by its count's rank; fairseq's specials (</s> ends every
    sentence, but dict.txt holds no count for it) rank first."""
    order = sorted(range(len(dictionary)), key=lambda v: (v >= dictionary.nspecial, -dictionary.count[v], v))
    starts = band_starts(len(dictionary))
    bands = torch.empty(len(dictionary), dtype=torch.long)
    for rank, token in enumerate(order):
        bands[token] = sum(rank >= start for start in starts) - 1
    return bands


def token_nll(checkpoint, data, subset):
    """(target ids, NLL bits) of every non-padding target token of ``subset``, and the task."""
    from fairseq import checkpoint_utils, utils
    utils.import_user_module(argparse.Namespace(user_dir=USER_DIR))
    models, cfg, task = checkpoint_utils.load_model_ensemble_and_task([checkpoint], arg_overrides={"data": data})
    model = models[0].eval()
    task.load_dataset(subset)
    batches = task.get_batch_iterator(task.dataset(subset), max_tokens=4096, required_batch_size_multiple=1,
                                      max_positions=utils.resolve_max_positions(task.max_positions(),
                                                                                model.max_positions()))
    targets, nll = [], []
    with torch.no_grad():
        for sample in batches.next_epoch_itr(shuffle=False):
            output = model(**sample["net_input"])
            lprobs = model.get_normalized_probs(output, log_probs=True)  # (B, T, V)
            target = sample["target"]  # (B, T)
            picked = -lprobs.gather(-1, target.unsqueeze(-1)).squeeze(-1) / math.log(2)  # (B, T) bits
            keep = target.ne(task.target_dictionary.pad())
            targets.append(target[keep])
            nll.append(picked[keep].double())  # float64: the bands' parts then add up to the gap exactly
    return torch.cat(targets), torch.cat(nll), task


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data", help="the data-bin the models were trained on")
    parser.add_argument("checkpoints", nargs="+", help="the reference checkpoint first, then the others")
    parser.add_argument("--subset", default="valid")
    parser.add_argument("--json", help="also write the table as JSON here")
    args = parser.parse_args(argv)
    missing = [path for path in args.checkpoints if not os.path.isfile(path)]
    if missing:  # one line, not fairseq's traceback
        sys.exit(f"{missing[0]}: no such checkpoint; pass checkpoint files (e.g. ckpt/NAME/checkpoint_best.pt)")
    torch.set_num_threads(1)
    rows, reference = [], None
    for checkpoint in args.checkpoints:
        targets, nll, task = token_nll(checkpoint, args.data, args.subset)
        bands = rank_bands(task.target_dictionary)[targets]
        if reference is None:
            reference = (targets, nll)
            names = band_names(len(task.target_dictionary))
        elif not torch.equal(targets, reference[0]):
            sys.exit(f"{checkpoint}: its {args.subset} targets differ from {args.checkpoints[0]}'s; "
                     "compare models of one data-bin")
        gap = nll - reference[1]
        rows.append({"checkpoint": checkpoint, "valid_nll": nll.mean().item(), "bands": [
            {"band": names[b], "token_share": bands.eq(b).float().mean().item(),
             "nll": nll[bands.eq(b)].mean().item(),
             "gap_part": (gap * bands.eq(b)).sum().item() / len(gap)} for b in range(len(names))]})
    print(f"{args.subset}: {len(reference[0])} target tokens; bands by the token's frequency rank in the target dictionary")
    print("| band | tokens | " + " | ".join(f"NLL {os.path.basename(os.path.dirname(r['checkpoint']))}"
                                          for r in rows) + " | " +
          " | ".join(f"gap part {os.path.basename(os.path.dirname(r['checkpoint']))}" for r in rows[1:]) + " |")
    print("|---" * (2 + len(rows) + len(rows) - 1) + "|")
    for b, name in enumerate(names):
        cells = [f"{rows[0]['bands'][b]['token_share']:.1%}"] + [f"{r['bands'][b]['nll']:.3f}" for r in rows]
        cells += [f"{r['bands'][b]['gap_part']:+.3f}" for r in rows[1:]]
        print(f"| {name} | " + " | ".join(cells) + " |")
    print("| all | 100% | " + " | ".join(f"{r['valid_nll']:.3f}" for r in rows) + " | " +
          " | ".join(f"{r['valid_nll'] - rows[0]['valid_nll']:+.3f}" for r in rows[1:]) + " |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"data": args.data, "subset": args.subset, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
