import json
import os
import re
import subprocess

from conftest import GLOSSARY, REPO, SEMEME_NAMES, THUNLP, VENV_BIN, ZH_EN, cli, shared_or_skip, write


def recipe(*args):
    return subprocess.run([cli("fairseq-see-recipe"), *map(str, args)], capture_output=True, text=True, timeout=120)


def test_check_refuses_bad_raw_text_in_one_line(tmp_path):
    zh, en = write(tmp_path / "a.zh", "你好\n谢谢\n"), write(tmp_path / "a.en", "hello\nthanks\n")
    ok = recipe("check", zh, en)
    assert ok.returncode == 0 and "2 aligned pairs" in ok.stdout
    (tmp_path / "gbk.zh").write_bytes("你好\n谢谢\n".encode("gb18030"))
    cases = [(tmp_path / "gbk.zh", en, r"gbk.zh:1: not UTF-8 text"),
             (write(tmp_path / "gap.zh", "你好\n\n"), write(tmp_path / "gap.en", "hello\nx\n"), r"gap.zh:2: empty line"),
             (zh, write(tmp_path / "long.en", "a\nb\nc\n"), r"long.en: 3 lines but .*a.zh has 2")]
    for source, target, message in cases:
        result = recipe("check", source, target)
        assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr
        assert re.search(message, result.stderr), result.stderr


def test_collect_and_report_build_the_table(tmp_path):
    # the embedding stats come from the checkpoint (the task saves them in its state); the rest from
    # the lines fairseq-train / fairseq-generate / sacrebleu print
    import torch
    from fairseq_see.modules.embedding_stats import make_stats
    stats = {"source": make_stats("source", "see", 2000, 256, 25600, 25000, 900, {"order": 3}, coverage=0.88),
             "target": make_stats("target", "see", 1000, 256, 12800, 12000, 700, {"order": 3}, coverage=0.01)}
    checkpoint = tmp_path / "checkpoint_best.pt"
    torch.save({"model": {}, "cfg": None, "extra_state": {"train_iterator": {}}, "task_state": {"embedding_stats": stats},
                "optimizer_history": [{"criterion_name": "x", "optimizer_name": "adam", "lr_scheduler_state": {},
                                       "num_updates": 10}]}, checkpoint)
    train_log = write(tmp_path / "student.log", "\n".join([
        "INFO | valid | epoch 001 | valid on 'valid' subset | loss 7.1 | nll_loss 6.500 | ppl 90.5",
        "INFO | valid | epoch 002 | valid on 'valid' subset | loss 6.9 | nll_loss 6.250 | ppl 76.1",
        "INFO | fairseq_cli.train | done training in 120.0 seconds",
        "INFO | fairseq_cli.train | done training in 60.0 seconds"]) + "\n")
    gen_log = write(tmp_path / "student.gen",
                    "INFO:fairseq_cli.generate:Translated 100 sentences (2,000 tokens) in 4.0s "
                    "(25.00 sentences/s, 500.00 tokens/s)\n")
    scores = write(tmp_path / "student.json", json.dumps([
        {"name": "BLEU", "score": 12.34, "signature": "nrefs:1|tok:13a"},
        {"name": "chrF2", "score": 40.5, "signature": "nrefs:1|nc:6"}]))
    out = tmp_path / "work" / "results" / "student.json"
    collected = recipe("collect", "--name", "student", "--trained-on", "TVsub first 10 pairs", "--train-log", train_log,
                       "--checkpoint", checkpoint, "--test", f"tst2017:{gen_log}:{scores}", "--output", out)
    assert collected.returncode == 0, collected.stderr
    row = json.loads(out.read_text())
    assert row["embedding_params"] == 38400 and row["ratio"] == 20.0 and row["embedding_stats"] == stats
    assert row["valid_nll"] == 6.25 and row["train_seconds"] == 180.0  # the last validation; both runs' time
    assert row["gen_sentences_per_second"] == 25.0 and row["gen_tokens_per_second"] == 500.0
    assert row["tests"]["tst2017"]["bleu"] == 12.34 and row["tests"]["tst2017"]["chrf"] == 40.5

    reported = recipe("report", "--workdir", tmp_path / "work", "--title", "T")
    assert reported.returncode == 0, reported.stderr
    assert "DEBUG" not in reported.stderr  # fairseq's import turns on DEBUG logging; the plot stays quiet
    table = (tmp_path / "work" / "RESULTS.md").read_text()
    assert "| student | TVsub first 10 pairs | 38,400 | 20.0x | 6.250 | 12.34 | 40.5 | 3.0 | 25.0 | 500 |" in table
    assert (tmp_path / "work" / "bleu_vs_ratio.png").stat().st_size > 1000


def test_report_without_results_is_one_line(tmp_path):
    result = recipe("report", "--workdir", tmp_path)
    assert result.returncode == 1 and result.stderr.count("\n") == 1
    assert "no results yet" in result.stderr


def test_smoke_profile_goes_from_raw_text_to_a_results_table(tmp_path):
    """The iwslt17 recipe's smoke profile on the real data: every step, then a rerun that resumes."""
    tvsub = os.path.join(ZH_EN, "train", "tvsub", "train.zh.xz")
    shared_or_skip(tvsub, os.path.join(ZH_EN, "test", "iwslt17"), GLOSSARY, THUNLP, SEMEME_NAMES)
    env = dict(os.environ, PATH=VENV_BIN + os.pathsep + os.environ["PATH"], OMP_NUM_THREADS="1",
               SACREBLEU=str(tmp_path / "sacrebleu"))  # sacrebleu's cache stays out of $HOME
    command = ["bash", os.path.join(REPO, "examples", "iwslt17_zh_en", "run.sh"), "--profile", "smoke",
               "--data-root", ZH_EN, "--workdir", str(tmp_path / "work")]
    run = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=1200)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert re.search(r"embedding compression \(source\): type=see requested=20.00x achieved=\d", run.stdout)
    assert "init-student-from-teacher: copied" in run.stdout
    table = (tmp_path / "work" / "RESULTS.md").read_text(encoding="utf-8")
    rows = {line.split(" | ")[0].strip("| "): line for line in table.splitlines() if line.startswith("| ")}
    assert {"teacher", "see20x.stage1.seed1", "see20x.stage2.seed1", "see20x.scratch.seed1"} <= set(rows)
    header = rows["model"].strip("| ").split(" | ")
    assert "iwslt17_tst2017 BLEU" in header and "tvsub_test chrF" in header
    for name in ("teacher", "see20x.stage2.seed1"):
        cells = dict(zip(header, rows[name].strip("| ").split(" | ")))
        assert cells["trained on"] == "TVsub first 3000 pairs (not IWSLT17 training data)"
        assert float(cells["iwslt17_tst2017 BLEU"]) >= 0 and float(cells["tvsub_test chrF"]) >= 0
        assert float(cells["valid NLL"]) > 0
    student = dict(zip(header, rows["see20x.stage2.seed1"].strip("| ").split(" | ")))
    assert 10 < float(student["ratio"].rstrip("x")) < 40
    assert (tmp_path / "work" / "bleu_vs_ratio.png").stat().st_size > 1000

    rerun = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert not re.search(r"^\[[\d:]+\] (train|evaluate) ", rerun.stdout, re.M), rerun.stdout  # all done before
