"""Paired bootstrap resampling of BLEU and chrF: sacreBLEU's own test, as data.

``sacrebleu REF -i BASELINE SYSTEM... -m bleu chrf --paired-bs`` prints a table; its JSON output
(``-f json``) fails in sacreBLEU 2.6 on the test's numpy floats, so the recipe calls the class that
command runs (``sacrebleu.significance.PairedTest``, 1,000 resamples, sacreBLEU's fixed seed 12345
unless ``SACREBLEU_SEED`` says otherwise) and keeps the numbers.
"""

import logging


def read_lines(path):
    """A text file's lines as sacreBLEU's command line reads them (trailing whitespace dropped)."""
    with open(path, encoding="utf-8") as f:
        return [line.rstrip() for line in f]


def paired_bootstrap(reference, baseline, systems, resamples=1000):
    """Each system against the baseline on one test set.

    ``reference``: the reference file; ``baseline`` and each of ``systems``: (name, hypotheses file).
    Returns ``{"baseline": {"bleu", "chrf"}, "systems": {name: {"bleu", "bleu_p", "chrf", "chrf_p"}},
    "signatures": [...]}``: scores, and the p-value of each system's difference from the baseline.
    """
    from sacrebleu.metrics import BLEU, CHRF
    from sacrebleu.significance import PairedTest
    logging.getLogger("sacrebleu").setLevel(logging.WARNING)  # its progress lines, one per system
    references = [read_lines(reference)]
    named = [(name, read_lines(path)) for name, path in [baseline, *systems]]
    metrics = {"BLEU": BLEU(references=references), "CHRF": CHRF(references=references)}
    signatures, scores = PairedTest(named, metrics, references=None, test_type="bs", n_samples=resamples)()
    results = {name: {} for name, _ in named}
    for metric, column in scores.items():
        if metric == "System":
            continue
        key = "chrf" if metric.lower().startswith("chrf") else "bleu"
        for (name, _), result in zip(named, column):
            results[name][key] = float(result.score)
            if result.p_value is not None:
                results[name][f"{key}_p"] = float(result.p_value)
    return {"baseline": results.pop(baseline[0]), "systems": results,
            "signatures": sorted(f"{metric}|{sig.format()}" for metric, sig in signatures.items())}
