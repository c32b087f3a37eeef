"""How closely can each compressor, at one parameter budget, represent a trained model's full table?

    python benchmarks/table_fit.py work/converge --checkpoint work/converge/ckpt/teacher/checkpoint_best.pt \
        --ratio 20 --side target --json benchmarks/table_fit_20x.json

Stage 1 of the distillation fits a student's table to the teacher's by MSE; this measures that fit
alone, cheaply (seconds to minutes a variant, one thread), for choices that a full training run
cannot afford to compare one by one: which SEE sizes the ratio picker should prefer, against
word2ketXS and TT at the same ratio. Each variant's table is fitted to the checkpoint's
``encoder.embed_tokens.weight`` (source) or ``decoder.embed_tokens.weight`` (target) by Adam on the
full-batch MSE; reported: the relative squared error ``|E - Ê|² / |E|²`` over all rows, and the same
weighted by each token's training count (the dictionary's), which is what the rows' use weighs.
Rare tokens' rows keep much of their random initialisation in any trained table, so the unweighted
error stays high for every compressor; the weighted one ranks them.

Variants (``--variants``, space-separated): ``see`` (the picker's sizes), ``see:o=O,s=S`` (the picker
restricted to order O and S semantic slots, one table; s=0: identity ranks only), ``see:o=O,s=S,i=I``
(those sizes exactly, I identity ranks, whatever the ratio), ``word2ketxs:o=O``, ``tt:o=O``. The lexicon is ../shared/data's (as benchmarks/index_stats.py).
"""

import argparse
import json
import os
import sys
import time

import numpy as np
import torch

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from index_stats import LEXICON, NAMES, WORDNET  # noqa: E402
from fairseq_see.checkpoint_files import load_checkpoint  # noqa: E402
from fairseq_see.lexicon import load_lexicons, read_fairseq_dictionary  # noqa: E402
from fairseq_see.lexicon.index import IndexBuilder  # noqa: E402
from fairseq_see.lexicon.morfessor_segmenter import SEGMENTER_FILE, MorfessorSegmenter  # noqa: E402
from fairseq_see.modules.embedding_sizes import pick_see_size, pick_size  # noqa: E402
from fairseq_see.modules.sememe_entanglement_embedding import SememeEntanglementEmbedding  # noqa: E402
from fairseq_see.modules.tt_embedding import TTEmbedding  # noqa: E402
from fairseq_see.modules.word2ket_xs_embedding import Word2KetXSEmbedding  # noqa: E402

TABLE_KEYS = {"source": "encoder.embed_tokens.weight", "target": "decoder.embed_tokens.weight"}
DEFAULT_VARIANTS = ["see", "see:o=3,s=0", "see:o=2,s=1", "see:o=2,s=2", "word2ketxs:o=2", "word2ketxs:o=3", "tt:o=3"]


def parse_variant(text):
    """'see:o=3,s=0' -> ('see', {'o': 3, 's': 0}); 'see' -> ('see', {})."""
    kind, _, spec = text.partition(":")
    return kind, {key: int(value) for key, value in (item.split("=") for item in spec.split(",") if item)}


def build_variant(kind, options, builder, vocab, dim, ratio, pad):
    """The module of one variant at ``ratio``, and its sizes."""
    if kind == "see":
        if "i" in options:  # explicit sizes, not the ratio's
            config = {"order": options["o"], "rank": options["s"] + options["i"], "tables": 1,
                      "identity_ranks": options["i"], "min_readers": options.get("m", 2)}
        else:
            preference = [(options["o"], options["s"], 1)] if "s" in options else None
            config, _, _ = pick_see_size(builder.row_count, vocab, dim, ratio, order=options.get("o"),
                                         preference=preference)
        index = builder.build(config["order"], config["rank"], config["tables"], config["identity_ranks"],
                              config["min_readers"])
        module = SememeEntanglementEmbedding(torch.as_tensor(index.unit_ids), index.units, index.checksum, dim, pad,
                                             tables=config["tables"])
        return module, config
    classes = {"word2ketxs": Word2KetXSEmbedding, "tt": TTEmbedding}
    config, _, _ = pick_size(kind, vocab, dim, ratio, order=options.get("o"))
    return classes[kind](vocab, dim, pad, config["order"], config["rank"]), config


def fit(module, target, weights, steps, lr):
    """Adam on the full-batch relative MSE; (relative error, count-weighted relative error)."""
    optimizer = torch.optim.Adam(module.parameters(), lr=lr)
    scale = (target ** 2).sum()
    module.train()
    for _ in range(steps):
        loss = ((module.build_table() - target) ** 2).sum() / scale  # (V, d) -> ()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        errors = ((module.build_table() - target) ** 2).sum(1)  # (V,)
        weighted = (errors * weights).sum() / ((target ** 2).sum(1) * weights).sum()
        return float(errors.sum() / scale), float(weighted)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("work", help="a recipe work dir (its bin/ holds the dictionaries and segmenters)")
    parser.add_argument("--checkpoint", required=True, help="a trained model with full tables (the teacher)")
    parser.add_argument("--side", choices=("source", "target"), default="target")
    parser.add_argument("--lang", help="the side's language (default: zh for source, en for target)")
    parser.add_argument("--ratio", type=float, default=20)
    parser.add_argument("--variants", nargs="+", default=DEFAULT_VARIANTS)
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--lr", type=float, default=0.02)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    state = load_checkpoint(args.checkpoint)
    table = state["model"][TABLE_KEYS[args.side]].float()  # (V, d)
    lang = args.lang or {"source": "zh", "target": "en"}[args.side]
    symbols, counts = read_fairseq_dictionary(os.path.join(args.work, "bin", f"dict.{lang}.txt"))
    if len(symbols) != table.shape[0]:
        sys.exit(f"{args.checkpoint}: its {args.side} table has {table.shape[0]} rows, {args.work}/bin/dict.{lang}.txt "
                 f"{len(symbols)} symbols; pass the work dir the checkpoint was trained on (or --lang)")
    segmenter_path = os.path.join(args.work, "bin", SEGMENTER_FILE.format(lang=lang))
    segmenter = MorfessorSegmenter.load(segmenter_path) if os.path.exists(segmenter_path) else None
    builder = IndexBuilder(symbols, counts, load_lexicons(LEXICON, sememe_names=NAMES, wordnet=WORDNET), segmenter)
    weights = torch.as_tensor(np.asarray(counts, dtype=np.float64) / max(sum(counts), 1), dtype=torch.float32)
    vocab, dim = table.shape
    records = []
    print("| variant | sizes | params | ratio | relative error | count-weighted relative error | s |")
    print("|---|---|---|---|---|---|---|")
    for kind, options in map(parse_variant, args.variants):
        torch.manual_seed(args.seed)
        start = time.process_time()
        module, config = build_variant(kind, options, builder, vocab, dim, args.ratio, pad=1)
        params = sum(p.numel() for p in module.parameters())
        error, weighted = fit(module, table, weights, args.steps, args.lr)
        name = kind + (":" + ",".join(f"{k}={v}" for k, v in options.items()) if options else "")
        record = {"variant": name, "side": args.side, "sizes": config, "params": params, "ratio": vocab * dim / params,
                  "relative_error": error, "weighted_relative_error": weighted,
                  "cpu_seconds": time.process_time() - start}
        records.append(record)
        sizes = " ".join(f"{k}={v}" for k, v in config.items())
        print(f"| {name} | {sizes} | {params:,} | {record['ratio']:.1f}x | {error:.3f} | {weighted:.3f} | "
              f"{record['cpu_seconds']:.0f} |", flush=True)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump({"checkpoint": args.checkpoint, "steps": args.steps, "lr": args.lr, "records": records}, f,
                      indent=1)


if __name__ == "__main__":
    main()
