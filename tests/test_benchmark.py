"""benchmarks/compare_embeddings.py runs every mode end to end at toy size and its records are right.

No timing is asserted: the figures depend on the machine and its load; only their presence and
the parameter accounting are checked."""

import json
import os
import subprocess
import sys

import pytest

from conftest import HOWNET, REPO

sys.path.insert(0, os.path.join(REPO, "benchmarks"))
import common  # noqa: E402

SCRIPT = os.path.join(REPO, "benchmarks", "compare_embeddings.py")
KEYS = {"type", "params", "ratio", "step_time_ratio", "step_cpu_time_ratio", "gen_speed_ratio", "gen_cpu_speed_ratio",
        "peak_mem_mb", "ckpt_mb"}
RATIOS = ("step_time_ratio", "step_cpu_time_ratio", "gen_speed_ratio", "gen_cpu_speed_ratio")


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    path = tmp_path_factory.mktemp("bench") / "quick.json"
    result = subprocess.run([sys.executable, SCRIPT, "--quick", "--json", str(path)], cwd=REPO,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    with open(path, encoding="utf-8") as f:
        return json.load(f), result.stdout


def test_quick_records_every_type_with_positive_figures(quick):
    data, stdout = quick
    records = data["records"]
    expected = set(common.TYPES)
    if not os.path.exists(HOWNET):
        expected -= set(common.SEE_TYPES)
        assert "see and see_random are skipped" in stdout
    assert {r["type"] for r in records} == expected
    for r in records:
        assert KEYS <= set(r), r
        for key in ("params", "ratio", "peak_mem_mb", "ckpt_mb") + RATIOS:
            assert r[key] > 0, (r["type"], key, r[key])
    full = next(r for r in records if r["type"] == "full")
    assert full["ratio"] == 1.0 and all(full[key] == 1.0 for key in RATIOS)
    assert all(r["ratio"] > 2 for r in records if r["type"] != "full")
    assert "| type | ratio | emb. params | step time vs full | step CPU time vs full |" in stdout
    assert data["meta"]["cpus"] and data["meta"]["torch"] and data["meta"]["cpu_clock"] == "thread_time"


def test_quick_params_are_the_models_counts(quick):
    data, _ = quick
    shape = data["meta"]["shape"]
    lexicon, _ = common.load_lexicon()
    task = common.make_task(shape, lexicon)
    full = (len(task.source_dictionary) + len(task.target_dictionary)) * shape["dim"]
    for record in data["records"]:
        model, lines = common.build_model(record["type"], record["group"], shape, task)
        params = sum(p.numel() for side in (model.encoder, model.decoder) for p in side.embed_tokens.parameters())
        assert record["params"] == params, record["type"]
        assert record["model_params"] == sum(p.numel() for p in model.parameters())
        assert record["ratio"] == pytest.approx(full / params)
        # and the stats the model reports (and logs) add up to the same count
        assert sum(s["parameters"] for s in model.embedding_stats.values()) == params, lines


def test_index_mode_times_the_real_lexicon_and_a_40k_dictionary(tmp_path):
    if not os.path.exists(HOWNET):
        pytest.skip(f"real data not found: {HOWNET} (set FAIRSEQ_SEE_SHARED)")
    path = tmp_path / "index.json"
    result = subprocess.run([sys.executable, SCRIPT, "--index", "--json", str(path)], cwd=REPO,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    record = json.loads(path.read_text())["records"][0]
    assert record["lexicon_words"] > 100_000 and record["dictionary_tokens"] == 40_004
    assert record["read_s"] > 0 and record["build_s"] > 0
    assert record["total_s"] == pytest.approx(record["read_s"] + record["build_s"], abs=0.02)
    assert "| lexicon words | dictionary tokens |" in result.stdout


def test_quality_mode_trains_scores_and_plots_each_type(tmp_path):
    """--quality at toy size on real data: the recipe's smoke data steps, each type trained, then
    scored with BLEU and chrF on both of the recipe's test sets."""
    zh_en = os.path.join(os.path.dirname(HOWNET), "zh-en")
    for path in (HOWNET, os.path.join(zh_en, "train", "tvsub", "train.zh.xz"), os.path.join(zh_en, "test", "iwslt17")):
        if not os.path.exists(path):
            pytest.skip(f"real data not found: {path} (set FAIRSEQ_SEE_SHARED)")
    out, png = tmp_path / "quality.json", tmp_path / "quality.png"
    result = subprocess.run([sys.executable, SCRIPT, "--quality", "--types", "full,see", "--ratios", "8",
                             "--quality-dir", str(tmp_path / "work"), "--quality-profile", "smoke",
                             "--quality-updates", "4", "--json", str(out), "--plot", str(png)],
                            cwd=REPO, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert (tmp_path / "work" / "iwslt17-smoke" / "bin" / "TEST_SPLITS").read_text().split() == [
        "iwslt17_tst2017", "tvsub_test"]
    records = json.loads(out.read_text())["records"]
    assert [(r["type"], r["requested_ratio"]) for r in records] == [("full", None), ("see", 8.0)]
    full = records[0]
    assert full["ratio"] == 1.0
    for r in records[1:]:
        assert r["params"] < full["params"] and 4 < r["ratio"] < 16, r
        assert r["params"] == sum(s["parameters"] for s in r["embedding_stats"].values())  # the checkpoint's
    for r in records:
        assert set(r["tests"]) == {"iwslt17_tst2017", "tvsub_test"} and r["valid_nll"] > 0
        for scores in r["tests"].values():
            assert 0 <= scores["bleu"] <= 100 and 0 < scores["chrf"] <= 100
    assert "| type | ratio | emb. params | valid NLL | iwslt17_tst2017 BLEU |" in result.stdout
    assert png.stat().st_size > 1000


def test_model_args_reach_every_compressed_model_and_not_full():
    """--model-args (shape["model_args"]): the options follow each compressed model's own, so a recipe row's
    sizes (here --see-max-slots 32) are what the speed benchmark builds; the full model is left as it is."""
    shape = dict(vocab=2000, dim=64, layers=1, ffn=128, heads=2,
                 model_args=["--see-max-slots", "32", "--see-init", "unit"])
    see = common.model_args("see", 20, shape)
    assert see.see_max_slots == 32 and see.see_init == "unit" and see.embedding_compression_ratio == 20
    full = common.model_args("full", 20, shape)
    assert getattr(full, "see_max_slots", None) is None and getattr(full, "embedding_compression_ratio", None) is None
