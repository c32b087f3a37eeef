"""CPU time of one SEE table rebuild, forward and backward, at given sizes (one thread, random index).

    python benchmarks/rebuild_cost.py 6000,64,2,16 8000,256,2,16 16000,512,2,16 6000,64,3,56
    python benchmarks/rebuild_cost.py --baseline HEAD~1 6296,128,2,13 8000,256,2,16

Each argument is V,d,order,slots (rows of the unit table: V/2). A training step rebuilds each side's
table once; this is what every slot the ratio picker allows costs (MAX_SLOTS in embedding_sizes.py).
With --baseline REV, `entangle` as it was at git revision REV is timed against the working tree's in
one process, the two interleaved round by round (this machine is shared: load changes between
separate runs), medians of the rounds, and their ratio printed.
"""

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import time

import torch

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
from fairseq_see.modules.sememe_entanglement import entangle, unit_size  # noqa: E402

MODULE = "fairseq_see/modules/sememe_entanglement.py"


def entangle_at(revision):
    """``entangle`` from the math module as it was at ``revision``, loaded beside the current one."""
    source = subprocess.run(["git", "-C", REPO, "show", f"{revision}:{MODULE}"], capture_output=True, text=True)
    if source.returncode != 0:
        sys.exit(f"rebuild_cost.py: cannot read {MODULE} at {revision}: {source.stderr.strip()}")
    spec = importlib.util.spec_from_loader("fairseq_see.modules.baseline_entanglement", loader=None)
    module = importlib.util.module_from_spec(spec)
    module.__package__ = "fairseq_see.modules"  # its relative imports resolve against the current package
    exec(compile(source.stdout, f"{revision}:{MODULE}", "exec"), module.__dict__)
    return module.entangle


def rebuild_round(entangle_fn, unit_vectors, ids, layer_norm, repeats):
    """CPU ms of one rebuild (entangle, LayerNorm, backward), the mean of ``repeats``."""
    start = time.process_time()
    for _ in range(repeats):
        layer_norm(entangle_fn(unit_vectors, ids, layer_norm.normalized_shape[0])).sum().backward()
    return (time.process_time() - start) / repeats * 1000


def rebuild_inputs(vocab, dim, order, slots):
    torch.manual_seed(0)
    rows = vocab // 2
    ids = torch.randint(0, rows, (vocab, slots, order), dtype=torch.int32)
    return torch.randn(rows, unit_size(dim, order), requires_grad=True), ids, torch.nn.LayerNorm(dim)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("sizes", nargs="+", help="V,d,order,slots")
    parser.add_argument("--baseline", metavar="REV", help="time entangle at git revision REV beside this one")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--repeats", type=int, default=3, help="rebuilds a round")
    args = parser.parse_args()
    torch.set_num_threads(1)
    variants = [("this tree", entangle)]
    if args.baseline:
        variants.insert(0, (args.baseline, entangle_at(args.baseline)))
    for spec in args.sizes:
        vocab, dim, order, slots = map(int, spec.split(","))
        inputs = rebuild_inputs(vocab, dim, order, slots)
        times = {name: [] for name, _ in variants}
        for round_ in range(args.rounds + 1):  # round 0 warms up
            for name, fn in variants:
                ms = rebuild_round(fn, *inputs, args.repeats)
                if round_:
                    times[name].append(ms)
        medians = {name: statistics.median(values) for name, values in times.items()}
        line = ", ".join(f"{name} {ms:.1f} ms" for name, ms in medians.items())
        if args.baseline:
            line += f" (ratio {medians['this tree'] / medians[args.baseline]:.2f})"
        print(f"|V| {vocab}, d {dim}, order {order}, {slots} slots: {line}", flush=True)


if __name__ == "__main__":
    main()
