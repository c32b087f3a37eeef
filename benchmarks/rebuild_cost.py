"""CPU time of one SEE table rebuild, forward and backward, at given sizes (one thread, random index).

    python benchmarks/rebuild_cost.py 6000,64,2,16 8000,256,2,16 16000,512,2,16 6000,64,3,56

Each argument is V,d,order,slots (rows of the unit table: V/2). A training step rebuilds each side's
table once; this is what every slot the ratio picker allows costs (MAX_SLOTS in embedding_sizes.py).
"""

import os
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from fairseq_see.modules.sememe_entanglement_embedding import SememeEntanglementEmbedding  # noqa: E402


def rebuild_ms(vocab, dim, order, slots, rounds=5, warmup=2):
    rows = vocab // 2
    ids = torch.randint(0, rows, (vocab, slots, order), dtype=torch.int32)
    embedding = SememeEntanglementEmbedding(ids, [f"t0/u{i}" for i in range(rows)], "-", dim, 1)
    embedding.train()
    for round_ in range(warmup + rounds):
        if round_ == warmup:
            start = time.process_time()
        embedding.invalidate()
        embedding.build_table().sum().backward()
    return (time.process_time() - start) / rounds * 1000


if __name__ == "__main__":
    torch.set_num_threads(1)
    for spec in sys.argv[1:]:
        vocab, dim, order, slots = map(int, spec.split(","))
        print(f"|V| {vocab}, d {dim}, order {order}, {slots} slots: {rebuild_ms(vocab, dim, order, slots):.0f} ms",
              flush=True)
