"""A model's results row (results/<model>.json) and the work dir's table and plot made from the rows.

Embedding sizes come from the checkpoint (the stats the task saved, ``checkpoint_files.embedding_stats``);
validation NLL and training time from fairseq-train's own progress lines; speed from
fairseq-generate's summary line; scores from sacreBLEU's JSON output.
"""

import glob
import json
import os
import re

from ..errors import RecipeError
from .corpus import write_atomic


def training_log_figures(log):
    """From fairseq-train output (several runs concatenated): the last validation NLL and the
    seconds of every run."""
    valid = re.findall(r"valid on 'valid' subset \|.*?\| nll_loss ([\d.]+)", log)
    seconds = [float(x) for x in re.findall(r"done training in ([\d.]+) seconds", log)]
    return {"valid_nll": float(valid[-1]) if valid else None, "train_seconds": sum(seconds)}


def checkpoint_embedding_stats(path):
    """Both sides' embedding stats, read from a checkpoint file."""
    from ..checkpoint_files import embedding_stats, load_checkpoint
    return embedding_stats(load_checkpoint(path))


def collect(name, trained_on, train_log, checkpoint, tests, output, extra_seconds=0.0):
    """One results/<model>.json. ``tests``: (name, generate log, sacreBLEU JSON) per test set."""
    with open(train_log, encoding="utf-8") as f:
        figures = training_log_figures(f.read())
    stats = checkpoint_embedding_stats(checkpoint)
    params = sum(s["parameters"] for s in stats.values())
    full = sum(s["vocab"] * s["dim"] for s in stats.values())
    row = {"model": name, "trained_on": trained_on, "embedding_params": params, "ratio": full / params,
           "embedding_stats": stats, "valid_nll": figures["valid_nll"],
           "train_seconds": figures["train_seconds"] + extra_seconds, "tests": {}}
    speeds = []
    for test, gen_log, scores in tests:
        with open(scores, encoding="utf-8") as f:
            metrics = json.load(f)
        row["tests"][test] = {("chrf" if m["name"].lower().startswith("chrf") else "bleu"): m["score"]
                              for m in metrics}
        row["tests"][test]["signatures"] = [f"{m['name']}|{m['signature']}" for m in metrics]
        with open(gen_log, encoding="utf-8") as f:
            speeds += re.findall(r"\(([\d.]+) sentences/s, ([\d.]+) tokens/s\)", f.read())
    # sentences/s depends on how long the outputs are (an untrained model runs to the length limit);
    # tokens/s is nearer the per-step speed
    row["gen_sentences_per_second"] = sum(float(s) for s, _ in speeds) / len(speeds) if speeds else 0.0
    row["gen_tokens_per_second"] = sum(float(t) for _, t in speeds) / len(speeds) if speeds else 0.0
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    write_atomic(output, [json.dumps(row, ensure_ascii=False, indent=1)])
    return row


def read_rows(workdir):
    rows = []
    for path in sorted(glob.glob(os.path.join(workdir, "results", "*.json"))):
        with open(path, encoding="utf-8") as f:
            rows.append(json.load(f))
    if not rows:
        raise RecipeError(f"{workdir}/results: no results yet; run the recipe first")
    return rows


def results_table(rows, title, note=""):
    """RESULTS.md's lines."""
    tests = sorted({t for row in rows for t in row["tests"]})
    header = ["model", "trained on", "emb. params", "ratio", "valid NLL"]
    header += [f"{t} {m}" for t in tests for m in ("BLEU", "chrF")] + ["train min", "gen sent/s", "gen tok/s"]
    lines = [f"# {title}", "", note, "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [row["model"], row["trained_on"], f"{row['embedding_params']:,}", f"{row['ratio']:.1f}x",
                 f"{row['valid_nll']:.3f}" if row.get("valid_nll") is not None else "-"]
        for t in tests:
            score = row["tests"].get(t, {})
            cells += [f"{score['bleu']:.2f}" if "bleu" in score else "-",
                      f"{score['chrf']:.1f}" if "chrf" in score else "-"]
        cells += [f"{row['train_seconds'] / 60:.1f}", f"{row.get('gen_sentences_per_second', 0):.1f}",
                  f"{row.get('gen_tokens_per_second', 0):.0f}"]
        lines.append("| " + " | ".join(cells) + " |")
    signatures = sorted({s for row in rows for t in row["tests"].values() for s in t.get("signatures", [])})
    lines += ["", "sacreBLEU signatures: " + "; ".join(f"`{s}`" for s in signatures)] if signatures else []
    return lines


def plot_bleu_vs_ratio(rows, title, path):
    import logging
    # importing fairseq runs logging.basicConfig(level=DEBUG) (fairseq/models/wav2vec/
    # wav2vec2_classification.py): quiet matplotlib before its import logs
    logging.getLogger("matplotlib").setLevel(logging.WARNING)
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    figure, axes = plt.subplots(figsize=(6, 4))
    for t in sorted({t for row in rows for t in row["tests"]}):
        points = sorted((row["ratio"], row["tests"][t]["bleu"]) for row in rows if "bleu" in row["tests"].get(t, {}))
        axes.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=t)
    axes.set_xscale("log")
    axes.set_xlabel("embedding compression ratio (x)")
    axes.set_ylabel("BLEU")
    axes.set_title(title)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def report(workdir, title, note=""):
    """RESULTS.md and bleu_vs_ratio.png in ``workdir``; returns the table's lines."""
    rows = read_rows(workdir)
    lines = results_table(rows, title, note)
    write_atomic(os.path.join(workdir, "RESULTS.md"), lines)
    plot_bleu_vs_ratio(rows, title, os.path.join(workdir, "bleu_vs_ratio.png"))
    return lines
