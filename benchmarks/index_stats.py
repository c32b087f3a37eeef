"""What the SEE index gives each side of a recipe's data: distinct rows, live rows, free parameters
per token and sememe coverage, at the sizes --embedding-compression-ratio picks.

    python benchmarks/index_stats.py work/cpu --dim 256 --ratios 20 80

Reads WORK/bin/dict.<lang>.txt and WORK/bin/see_morfessor.<lang>.txt (written by the recipe's
fairseq-see-index), the lexicon of ../shared/data (glossary + thunlp + WordNet synsets), prints a
markdown table and, with --json, writes the records.
"""

import argparse
import json
import os
import sys

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from fairseq_see.lexicon import load_lexicons, read_fairseq_dictionary  # noqa: E402
from fairseq_see.lexicon.index import IndexBuilder  # noqa: E402
from fairseq_see.lexicon.morfessor_segmenter import SEGMENTER_FILE, MorfessorSegmenter  # noqa: E402
from fairseq_see.modules.embedding_sizes import pick_see_size  # noqa: E402
from fairseq_see.modules.sememe_entanglement import unit_size  # noqa: E402

SHARED = os.environ.get("FAIRSEQ_SEE_SHARED", os.path.join(os.path.dirname(REPO), "shared"))
HOWNET = os.path.join(SHARED, "data", "hownet")
LEXICON = ",".join(os.path.join(HOWNET, name) for name in (
    "pypi_similarities-1.2.4__hownet_glossary.txt", "thunlp_sememe_prediction__hownet.txt",
    "yeyn19_structured_sememe_prediction__synsetStructed.txt"))
NAMES = os.path.join(HOWNET, "openhownet__sememe_dict_all.json")
WORDNET = os.path.join(SHARED, "data", "wordnet")


def side_stats(index, dim):
    """The figures of one index (see the module notes)."""
    types, mass = index.coverage()
    flat = np.sort(index.unit_ids.reshape(len(index.unit_ids), -1), axis=1)
    rows_per_token = 1 + (np.diff(flat, axis=1) != 0).sum(axis=1)
    return {"distinct_rows": index.distinct_rows(), "vocab": len(index.unit_ids), "live_rows": index.live_rows(),
            "median_free_parameters": float(np.median(rows_per_token)) * unit_size(dim, index.order),
            "coverage_types": types, "coverage_mass": mass, "rows": len(index.units)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("work", help="a recipe work dir (its bin/ holds the dictionaries)")
    parser.add_argument("--dim", type=int, default=256)
    parser.add_argument("--ratios", type=float, nargs="+", default=[20, 80])
    parser.add_argument("--json")
    args = parser.parse_args(argv)
    lexicon = load_lexicons(LEXICON, sememe_names=NAMES, wordnet=WORDNET)
    records = []
    for lang in ("zh", "en"):
        symbols, counts = read_fairseq_dictionary(os.path.join(args.work, "bin", f"dict.{lang}.txt"))
        segmenter_path = os.path.join(args.work, "bin", SEGMENTER_FILE.format(lang=lang))
        segmenter = MorfessorSegmenter.load(segmenter_path) if os.path.exists(segmenter_path) else None
        builder = IndexBuilder(symbols, counts, lexicon, segmenter)
        for ratio in args.ratios:
            config, params, achieved = pick_see_size(builder.row_count, len(symbols), args.dim, ratio)
            index = builder.build(config["order"], config["rank"], config["tables"], config["identity_ranks"],
                                  config["min_readers"])
            records.append(dict(side_stats(index, args.dim), lang=lang, requested=ratio, achieved=achieved,
                                parameters=params, **config))
    print("| side | requested | achieved (live) | o, R, I, m, min readers | distinct rows / V | live rows | "
          "median free params per token | sememe coverage: types / mass |")
    print("|---|---|---|---|---|---|---|---|")
    for r in records:
        print(f"| {r['lang']} | {r['requested']:.0f}x | {r['achieved']:.1f}x | {r['order']}, {r['rank']}, {r['identity_ranks']}, "
              f"{r['tables']}, {r['min_readers']} | "
              f"{r['distinct_rows']:,} / {r['vocab']:,} | {100 * r['live_rows']:.0f}% | "
              f"{r['median_free_parameters']:.0f} | {100 * r['coverage_types']:.1f}% / {100 * r['coverage_mass']:.1f}% |")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(records, f, indent=1)


if __name__ == "__main__":
    main()
