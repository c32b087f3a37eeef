#!/usr/bin/env python
"""Every embedding compressor against full tables: training step, generation, memory, size, BLEU.

    .venv/bin/python benchmarks/compare_embeddings.py --speed --json benchmarks/speed.json
    .venv/bin/python benchmarks/compare_embeddings.py --quick --json /tmp/quick.json
    .venv/bin/python benchmarks/compare_embeddings.py --quality --quality-data work/iwslt17-cpu --json q.json --plot q.png
    .venv/bin/python benchmarks/compare_embeddings.py --index

One mode a module, each described there:
  --speed, --quick  speed.py        training step and generation time (wall and CPU) against full's,
                                    peak memory, checkpoint size; --quick at toy sizes (< 2 minutes
                                    on 2 cores, tests/test_benchmark.py runs it)
  --quality         quality.py      every type trained with the same budget on a recipe's data;
                                    BLEU, chrF per test set and validation NLL
  --index           index_build.py  the sememe index build time, real lexicons, 40k dictionary
Shared (synthetic dictionaries and task, model building, output): common.py.

Records (--json): one per type and ratio with at least
``{type, params, ratio, step_time_ratio, gen_speed_ratio, peak_mem_mb, ckpt_mb}`` (--speed, --quick);
``params`` is the embedding parameters of both sides, ``ratio`` = (|V_src| + |V_tgt|)·d / params.
"""

import argparse
import contextlib
import logging
import os
import sys
import time

import common
import index_build
import quality
import speed


def parser():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = p.add_mutually_exclusive_group(required=True)
    mode.add_argument("--speed", action="store_true", help="speed, memory and size at full shapes")
    mode.add_argument("--quick", action="store_true", help="a reduced --speed (< 2 min on 2 cores)")
    p.add_argument("--cpu-profile-shape", action="store_true",
                   help="--speed at the IWSLT17 recipe's cpu-profile shape (8k + 8k, d 256, 3+3 layers) instead of "
                        "16k + 16k, d 512, 6+6")
    mode.add_argument("--quality", action="store_true", help="train every type; BLEU, chrF, validation NLL")
    mode.add_argument("--index", action="store_true", help="time the sememe index build (real lexicons)")
    p.add_argument("--types", default=",".join(common.TYPES), help="comma-separated embedding types")
    p.add_argument("--ratios", help="comma-separated compression ratios (default 20,80; --quick and --quality 20)")
    p.add_argument("--rounds", type=int, help="measured training rounds (default 5; --quick 3)")
    p.add_argument("--gen-rounds", type=int, help="measured generation rounds (default 15; --quick 3)")
    p.add_argument("--warmup", type=int, help="warm-up rounds (default 1)")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory processes")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads (default 1: on a small machine shared with other jobs, OpenMP regions "
                        "wait for descheduled threads and multi-threaded timings measure the scheduler; 0 keeps "
                        "torch's default)")
    p.add_argument("--model-args", help="--speed/--quick: fairseq options after every compressed model's own, e.g. "
                                        "'--see-max-slots 32' (the sizes a recipe row trains with)")
    p.add_argument("--index-words", type=int, default=40000, help="--index: dictionary size")
    p.add_argument("--json", help="write the records here")
    p.add_argument("--markdown", help="also write the table here")
    p.add_argument("--quality-dir", default=os.path.join(common.REPO, "benchmarks", "work"),
                   help="--quality: checkpoints and scores, and the recipe's data when it is prepared here "
                        "(default benchmarks/work, git-ignored)")
    p.add_argument("--quality-data", help="--quality: a recipe work dir (its bin/ and test sets) instead of "
                   "running the recipe's data steps")
    p.add_argument("--quality-profile", default="smoke", choices=("smoke", "cpu", "converge", "gpu", "paper"),
                   help="--quality without --quality-data: the IWSLT17 recipe profile whose data steps run "
                        "(default smoke: 3,000 TVsub pairs, 100 lines of each test set)")
    p.add_argument("--quality-arch", default="see_transformer_tiny", help="--quality: architecture")
    p.add_argument("--quality-arch-args", help="--quality: extra model options, e.g. '--encoder-layers 3'")
    p.add_argument("--quality-updates", type=int, default=300, help="--quality: updates per type")
    p.add_argument("--quality-max-tokens", type=int, default=4096)
    p.add_argument("--quality-lr", type=float, default=2e-3)
    p.add_argument("--quality-seed", type=int, default=1,
                   help="--quality: the training seed (other than 1, it is part of each run's name)")
    p.add_argument("--plot", help="--quality: write a BLEU vs parameters PNG here")
    return p


def main(argv=None):
    p = parser()
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, force=True)  # importing fairseq turned on INFO
    types = [t for t in args.types.split(",") if t]
    unknown = set(types) - set(common.TYPES)
    if unknown:
        p.error(f"unknown types {sorted(unknown)}; choose from {', '.join(common.TYPES)}")
    command = " ".join([".venv/bin/python", "benchmarks/compare_embeddings.py"]
                       + list(sys.argv[1:] if argv is None else argv))
    start = time.time()
    if args.index:
        records, table, meta = index_build.main(args, p)
    elif args.quality:
        records, table, meta = quality.main(args, types)
    else:
        records, table, meta = speed.main(args, types)
    meta = dict(command=command, **meta)
    meta["load_average_after"] = common.machine()["load_average"]
    meta["seconds"] = round(time.time() - start, 1)
    common.say("\n" + table)
    common.say(f"\n{meta['seconds']}s; load average after: {meta.get('load_average_after')}")
    common.write_outputs(meta, records, table, args.json, args.markdown)
    if args.quality and args.plot:
        quality.plot(records, args.plot)
    return records


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        main()
