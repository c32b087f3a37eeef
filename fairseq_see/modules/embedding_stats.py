"""What every token embedding reports about itself, as data, and the one log line made from it.

``stats`` (a dict, JSON-ready) is produced by each embedding's ``stats()`` (or
``full_embedding_stats`` for a plain ``nn.Embedding``) and travels as data: the task keeps both
sides' stats in its state, which fairseq saves in every checkpoint (``checkpoint["task_state"]
["embedding_stats"]``), and the recipes and benchmarks read them from there. Keys:

  side, kind                 "source"/"target"; "see", "full", "word2ketxs", ...
  vocab, dim                 |V| and d
  parameters                 trainable parameters of the embedding
  live_parameters            those the rebuilt table actually reads (a unit row no token's sense
                             reads never gets a gradient)
  ratio, live_ratio          |V|·d over each
  units                      row vectors the table is assembled from
  coverage                   share of vocabulary types with >= 1 sememe (SEE types only), or None
  sizes                      the type's size knobs, e.g. {"order": 3, "tables": 2}
"""


def make_stats(side, kind, vocab, dim, parameters, live_parameters, units, sizes, coverage=None):
    full = vocab * dim
    return {"side": side, "kind": kind, "vocab": vocab, "dim": dim, "parameters": parameters,
            "live_parameters": live_parameters, "ratio": full / parameters,
            "live_ratio": full / live_parameters if live_parameters else float("inf"), "units": units,
            "coverage": coverage, "sizes": dict(sizes)}


def full_embedding_stats(vocab, dim, side):
    """Stats of a plain |V| x d table."""
    return make_stats(side, "full", vocab, dim, vocab * dim, vocab * dim, vocab, {})


def format_stats(stats):
    """The one log line of an embedding's stats."""
    line = (f"embedding ({stats['side']}): type={stats['kind']} |V|={stats['vocab']} d={stats['dim']} "
            f"params={stats['parameters']} live={stats['live_parameters']} ratio={stats['ratio']:.2f}x "
            f"live_ratio={stats['live_ratio']:.2f}x units={stats['units']}")
    if stats.get("coverage") is not None:
        line += f" coverage={100 * stats['coverage']:.1f}%"
    if stats.get("sizes"):
        line += " " + " ".join(f"{k}={v}" for k, v in stats["sizes"].items())
    return line


def embedding_parameters(stats_by_side):
    """(parameters, full-table parameters) of both sides together."""
    params = sum(s["parameters"] for s in stats_by_side.values())
    full = sum(s["vocab"] * s["dim"] for s in stats_by_side.values())
    return params, full
