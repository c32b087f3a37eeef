import json
import os
import re
import subprocess

import pytest

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


def save_checkpoint(path, stats):
    """A checkpoint file holding only what collect reads: the embedding stats the task saves."""
    import torch
    history = [{"criterion_name": "x", "optimizer_name": "adam", "lr_scheduler_state": {}, "num_updates": 10}]
    torch.save({"model": {}, "cfg": None, "extra_state": {"train_iterator": {}},
                "task_state": {"embedding_stats": stats}, "optimizer_history": history}, path)
    return path


def valid_line(updates, loss, nll):
    return (f"INFO | valid | epoch 001 | valid on 'valid' subset | loss {loss} | nll_loss {nll} | ppl 9.1 "
            f"| num_updates {updates}")


DONE = "INFO | fairseq_cli.train | done training in {} seconds"


def test_collect_and_report_build_the_table(tmp_path):
    # the embedding stats come from the checkpoint (the task saves them in its state); the rest from
    # the lines fairseq-train / fairseq-generate / sacrebleu print, and the hypotheses generate wrote
    from fairseq_see.modules.embedding_stats import full_embedding_stats, make_stats
    from fairseq_see.recipe.results import collect
    see = {"source": make_stats("source", "see", 2000, 256, 25600, 25000, 900, {"order": 3}, coverage=0.88),
           "target": make_stats("target", "see", 1000, 256, 12800, 12000, 700, {"order": 3}, coverage=0.01)}
    full = {"source": full_embedding_stats(2000, 256, "source"),
            "target": full_embedding_stats(1000, 256, "target")}
    words = ["the cat sat on the mat", "a dog ran in the park", "we like tea", "it rains a lot"] * 25
    reference = write(tmp_path / "ref.en", "\n".join(words) + "\n")
    work = tmp_path / "work"

    def model(name, stats, logs, hypotheses, bleu):
        """One model's files, then its row through collect (the student's through the command line)."""
        gen_log = write(tmp_path / f"{name}.gen", "INFO:fairseq_cli.generate:Translated 100 sentences (2,000 "
                                                  "tokens) in 4.0s (25.00 sentences/s, 500.00 tokens/s)\n")
        scores = write(tmp_path / f"{name}.json", json.dumps([
            {"name": "BLEU", "score": bleu, "signature": "nrefs:1|tok:13a"},
            {"name": "chrF2", "score": bleu + 20, "signature": "nrefs:1|nc:6"}]))
        hyp = write(tmp_path / f"{name}.hyp", "\n".join(hypotheses) + "\n")
        train_logs = [write(tmp_path / f"{name}.{i}.log", "\n".join(lines) + "\n")
                      for i, lines in enumerate(logs)]
        checkpoint = save_checkpoint(tmp_path / f"{name}.pt", stats)
        output = work / "results" / f"{name}.json"
        test = ("tvsub_test", gen_log, scores, hyp, reference)
        if name != "see20x.stage2.seed1":
            return collect(name, "TVsub first 10 pairs", train_logs, checkpoint, [test], output)
        collected = recipe("collect", "--name", name, "--trained-on", "TVsub first 10 pairs",
                           *[f"--train-log={log}" for log in train_logs], "--checkpoint", checkpoint,
                           "--test", ":".join(map(str, test)), "--output", output)
        assert collected.returncode == 0, collected.stderr
        return json.loads(output.read_text())

    # the teacher: its last quarter (updates 75..100) gained 1% of valid NLL, a plateau
    teacher = model("teacher", full, [[valid_line(50, 5.2, 5.100), valid_line(75, 5.1, 5.050),
                                       valid_line(100, 5.0, 5.000), DONE.format(600.0)]], words, 40.0)
    assert teacher["valid_curve"] == [[50, 5.1], [75, 5.05], [100, 5.0]] and teacher["updates"] == 100
    # stage 1 (20 updates) then stage 2 (80), which stopped early: its best validation is the row's
    student = model("see20x.stage2.seed1", see, [
        ["train | epoch 001 | loss 3.0 | num_updates 20", DONE.format(120.0)],
        [valid_line(40, 5.2, 5.060), valid_line(80, 5.3, 5.200),
         "INFO | fairseq_cli.train | early stop since valid performance hasn't improved for last 4 runs",
         DONE.format(60.0)]], words[:60] + ["the cat"] * 40, 39.8)
    assert student["embedding_params"] == 38400 and student["ratio"] == 20.0
    assert student["embedding_stats"] == see
    assert student["live_ratio"] == (3000 * 256) / 37000
    assert student["valid_nll"] == 5.06 and student["stopped_early"]  # checkpoint_best: the lowest valid loss
    assert student["stage_updates"] == [20, 80] and student["updates"] == 100
    assert student["train_seconds"] == 180.0  # both stages
    assert student["gen_sentences_per_second"] == 25.0 and student["gen_tokens_per_second"] == 500.0
    assert student["tests"]["tvsub_test"]["bleu"] == 39.8 and student["tests"]["tvsub_test"]["chrf"] == 59.8
    scratch_log = [valid_line(100, 6.0, 6.000), DONE.format(170.0)]
    model("see20x.scratch.seed1", see, [scratch_log], ["a dog"] * 100, 5.0)

    reported = recipe("report", "--workdir", work, "--title", "T")
    assert reported.returncode == 0, reported.stderr
    assert "DEBUG" not in reported.stderr  # fairseq's import turns on DEBUG logging; the plot stays quiet
    table = (work / "RESULTS.md").read_text()
    lines = table.splitlines()
    assert ("| row | valid NLL | BLEU / chrF tvsub_test | emb. params | live ratio | train min | updates |"
            in lines)
    assert "| teacher | 5.000 | 40.00 / 60.0 | 768,000 | 1.0x | 10.0 | 100 |" in lines
    assert ("| see20x.stage2.seed1 | 5.060 | 39.80 / 59.8 | 38,400 | 20.8x | 3.0 | 20+80 (early stop) |"
            in lines)
    rows = [line.split(" | ")[0] for line in lines if line.startswith("| ") and "---" not in line]
    assert rows[1:4] == ["| teacher", "| see20x.stage2.seed1", "| see20x.scratch.seed1"]
    # the gaps: valid NLL in %, BLEU with the paired bootstrap's p against the teacher, then from scratch
    gaps = next(line for line in lines if line.startswith("| see20x.stage2.seed1 | +1.2%"))
    assert re.search(r"\| -0\.20 \(p 0\.\d{3}\) \| \+34\.80 \(p 0\.001\) \|$", gaps), gaps
    assert ("- Teacher at a plateau (best valid NLL's gain over its last quarter of updates < 2%): **met**: "
            "best 5.050 (update 75) by 3/4 of training -> best 5.000 (update 100): 0.99%") in lines
    assert any(line.startswith("- SEE 20x two-stage: within 2% of the teacher's valid NLL and 0.5 BLEU in "
                               "domain (tvsub_test): **met**: valid NLL +1.2%, BLEU -0.20") for line in lines)
    assert ("- SEE 80x two-stage: within 5% of the teacher's valid NLL and 1 BLEU in domain (tvsub_test): "
            "not measured (no such student)") in lines
    data = json.loads((work / "RESULTS.json").read_text())  # the same report as data
    assert [row["model"] for row in data["rows"]] == [name.strip("| ") for name in rows[1:4]]
    distilled = data["rows"][1]
    assert distilled["vs_teacher"]["tests"]["tvsub_test"]["bleu_delta"] == pytest.approx(-0.2)
    assert 0 < distilled["vs_teacher"]["tests"]["tvsub_test"]["bleu_p"] <= 1
    assert distilled["vs_scratch"]["baseline"] == "see20x.scratch.seed1"
    assert data["goals"][0]["met"] and data["teacher_plateau"]["reached"]
    assert (work / "bleu_vs_ratio.png").stat().st_size > 1000


def test_ablation_rows_are_compared_with_their_own_scratch_row_and_not_with_the_goals():
    """--extra-row / --extra-distilled rows (KIND RATIO x . NAME [-stage2] . seed N): a distilled ablation is
    compared with the from-scratch row of the same NAME, listed after the recipe's own rows of its kind,
    and given goal checks of their own beside the recipe's student's (distilled: issue 13's goal, from
    scratch: issue 12's valid-NLL goal, each named after its ablation)."""
    from fairseq_see.recipe.results import goal_line, model_name_parts, summarize

    def row(name, nll, bleu):
        return {"model": name, "valid_nll": nll, "trained_on": "TVsub", "embedding_params": 10, "ratio": 20.0,
                "train_seconds": 60.0, "tests": {"tvsub_test": {"bleu": bleu, "chrf": bleu + 20,
                                                                "signatures": []}}}
    assert model_name_parts("see20x.asym-stage2.seed1") == {
        "kind": "see", "ratio": 20, "variant": "stage2", "ablation": "asym", "seed": 1}
    assert model_name_parts("see.ident.seed1")["ablation"] == "ident"
    assert model_name_parts("tt20x.asym-seqkd-kd.seed2") == {
        "kind": "tt", "ratio": 20, "variant": "seqkd-kd", "ablation": "asym", "seed": 2}
    assert model_name_parts("see20x.a-b-seqkd.seed1")["ablation"] == "a-b"
    assert model_name_parts("see.ident.seed1")["ratio"] is None
    assert model_name_parts("see.stage2.seed1") is None and model_name_parts("teacher.seed2") is None
    rows = [row("see20x.asym-stage2.seed1", 5.05, 39.9), row("teacher", 5.0, 40.0),
            row("see20x.asym.seed1", 5.5, 39.0), row("see20x.scratch.seed1", 6.0, 38.0),
            row("see20x.stage2.seed1", 5.5, 39.0), row("word2ketxs20x.stage2.seed1", 5.4, 39.0),
            row("word2ketxs20x.scratch.seed1", 5.9, 38.0)]
    summary = summarize(rows)
    assert [e["model"] for e in summary["rows"]] == [
        "teacher", "see20x.stage2.seed1", "see20x.scratch.seed1", "see20x.asym-stage2.seed1",
        "see20x.asym.seed1", "word2ketxs20x.stage2.seed1", "word2ketxs20x.scratch.seed1"]
    baselines = {e["model"]: e.get("vs_scratch", {}).get("baseline") for e in summary["rows"]}
    assert baselines["see20x.asym-stage2.seed1"] == "see20x.asym.seed1"
    assert baselines["see20x.stage2.seed1"] == "see20x.scratch.seed1"
    assert baselines["word2ketxs20x.stage2.seed1"] == "word2ketxs20x.scratch.seed1"
    goal = next(check for check in summary["goals"] if check["ratio"] == 20)
    assert goal["seeds"] == [1] and goal["valid_nll_percent"] == [pytest.approx(10.0)]  # not the ablation's 1%
    assert not goal["met"] and goal["ablation"] is None and goal["variant"] == "stage2"
    checks = {(c["ratio"], c["variant"], c["ablation"]): c for c in summary["goals"]}
    assert set(checks) == {(20, "stage2", None), (20, "stage2", "asym"), (80, "stage2", None),
                           (20, "scratch", None), (20, "scratch", "asym")}
    asym = checks[20, "stage2", "asym"]
    assert asym["met"] and asym["mean_valid_nll_percent"] == pytest.approx(1.0)
    assert asym["mean_bleu_delta"] == pytest.approx(-0.1)
    scratch = checks[20, "scratch", "asym"]  # 10% behind: issue 12's goal is 3%, with no BLEU goal
    assert scratch["goal_bleu_drop"] is None and scratch["goal_valid_nll_percent"] == 3.0 and not scratch["met"]
    lines = [goal_line(check) for check in summary["goals"]]
    assert ("- SEE 20x two-stage (asym): within 2% of the teacher's valid NLL and 0.5 BLEU in domain "
            "(tvsub_test): **met**: valid NLL +1.0%, BLEU -0.10 (mean of 1 seed: seed 1 +1.0% / -0.10)") in lines
    assert ("- SEE 20x from scratch (asym): within 3% of the teacher's valid NLL: **not met**: valid NLL +10.0%, "
            "BLEU -1.00 (mean of 1 seed: seed 1 +10.0% / -1.00)") in lines
    assert "- SEE 80x two-stage: within 5%" in lines[-3] and "not measured (no such student)" in lines[-3]


def test_plateau_compares_best_checkpoints():
    """The converge teacher's curve: its last validation (5.887) is worse than its best (5.850), so the
    gain that counts is best-by-3/4 (6.004 at 1,056) -> best (5.850): 2.6%, not a plateau."""
    from fairseq_see.recipe.results import plateau
    curve = [[924, 6.136], [1000, 6.113], [1056, 6.004], [1188, 5.946], [1320, 5.894], [1452, 5.85], [1500, 5.887]]
    check = plateau(curve)
    assert (check["from_updates"], check["to_updates"], check["to_nll"]) == (1056, 1452, 5.85)
    assert check["gain_percent"] == pytest.approx(100 * (6.004 - 5.85) / 6.004) and not check["reached"]
    assert plateau([[100, 5.0]]) is None and plateau([]) is None


def test_report_without_results_is_one_line(tmp_path):
    result = recipe("report", "--workdir", tmp_path)
    assert result.returncode == 1 and result.stderr.count("\n") == 1
    assert "no results yet" in result.stderr


def test_smoke_profile_goes_from_raw_text_to_a_results_table(tmp_path):
    """The iwslt17 recipe's smoke profile on the real data, every step: the teacher, SEE's student in
    both stages (--stage1 fit-kd: stage 1 starting with the table fit) and from scratch, see_random
    from scratch, the sequence-level KD data and its two students, word2ketxs distilled the same way,
    the table with its gaps and goal lines; then a rerun that redoes nothing."""
    tvsub = os.path.join(ZH_EN, "train", "tvsub", "train.zh.xz")
    shared_or_skip(tvsub, os.path.join(ZH_EN, "test", "iwslt17"), GLOSSARY, THUNLP, SEMEME_NAMES)
    env = dict(os.environ, PATH=VENV_BIN + os.pathsep + os.environ["PATH"], OMP_NUM_THREADS="1",
               SACREBLEU=str(tmp_path / "sacrebleu"))  # sacrebleu's cache stays out of $HOME
    work = tmp_path / "work"
    command = ["bash", os.path.join(REPO, "examples", "iwslt17_zh_en", "run.sh"), "--profile", "smoke",
               "--data-root", ZH_EN, "--workdir", str(work), "--stage1", "fit-kd"]
    run = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=1200)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert re.search(r"embedding compression \(source\): type=see requested=20.00x achieved=\d", run.stdout)
    assert re.search(r"embedding \(target\): type=word2ketxs ", run.stdout)
    assert run.stdout.count("init-student-from-teacher: copied") == 2  # SEE's stage 1 and word2ketxs's
    students = ["see20x.stage2.seed1", "see20x.seqkd.seed1", "see20x.seqkd-kd.seed1", "see20x.scratch.seed1",
                "see_random20x.scratch.seed1", "word2ketxs20x.stage2.seed1"]
    for name in ["teacher", "see20x.stage1.seed1", *students, "word2ketxs20x.stage1.seed1"]:
        assert re.search(rf"^\[[\d:]+\] train {re.escape(name)} done", run.stdout, re.M), name
    stage1_log = (work / "logs" / "see20x.stage1.seed1.log").read_text()
    for side in ("encoder", "decoder"):
        assert re.search(rf"--fit-tables-steps 20: {side} table fitted to the teacher's", stage1_log), side
    # the sequence-level KD students train on the teacher's translations, from SEE's stage 1
    assert "sequence-level KD data" in run.stdout and (work / "bin-seqkd").is_dir()
    for name in ("see20x.seqkd.seed1", "see20x.seqkd-kd.seed1"):
        made_from = (work / "ckpt" / name / "MADE_FROM").read_text()
        assert f"option data {work}/bin-seqkd" in made_from and "step train.see20x.stage1.seed1 " in made_from

    lines = (work / "RESULTS.md").read_text(encoding="utf-8").splitlines()
    assert "Trained on: TVsub first 3000 pairs (not IWSLT17 training data)." in lines
    first = lines.index(next(line for line in lines if line.startswith("| row | valid NLL |")))
    table = lines[first:lines.index("", first)]  # the header, the rule, then a line a row
    header = table[0].strip("| ").split(" | ")
    assert header == ["row", "valid NLL", "BLEU / chrF iwslt17_tst2017", "BLEU / chrF tvsub_test",
                      "emb. params", "live ratio", "train min", "updates"]
    cells = [row.strip("| ").split(" | ") for row in table[2:]]
    rows = {row[0]: dict(zip(header, row)) for row in cells}
    assert list(rows) == ["teacher", *students]
    for row in rows.values():
        # the table rounds minutes to one decimal (a smoke row trains in seconds): > 0 is checked on RESULTS.json
        assert float(row["valid NLL"]) > 0 and float(row["train min"]) >= 0
        assert re.fullmatch(r"\d+\.\d\d / \d+\.\d", row["BLEU / chrF tvsub_test"])
    assert rows["teacher"]["live ratio"] == "1.0x" and rows["teacher"]["updates"] == "40"
    for name in students:
        assert 10 < float(rows[name]["live ratio"].rstrip("x")) < 40
        # the budget: stage 1 + stage 2 = the teacher's 40 updates (from scratch: 40 at once)
        assert rows[name]["updates"] == ("40" if "scratch" in name else "10+30"), rows[name]
    # the second table: the gap to the teacher in valid NLL, BLEU with the paired bootstrap's p
    gap = r"\| see20x\.stage2\.seed1 \| [+-]\d+\.\d% \| [+-]\d+\.\d\d \(p "
    assert any(re.match(gap, line) for line in lines)
    plateau = "- Teacher at a plateau (best valid NLL's gain over its last quarter of updates < 2%): **"
    assert any(line.startswith(plateau) for line in lines)
    assert any(re.match(r"- SEE 20x two-stage: within 2% of the teacher's valid NLL and 0.5 BLEU in domain "
                        r"\(tvsub_test\): \*\*(met|not met)\*\*: valid NLL [+-]", line) for line in lines)
    data = json.loads((work / "RESULTS.json").read_text())
    assert [row["model"] for row in data["rows"]] == list(rows)
    assert all(row["train_minutes"] > 0 for row in data["rows"])
    compared = {row["model"]: row for row in data["rows"]}["see20x.stage2.seed1"]
    for baseline in ("vs_teacher", "vs_scratch"):  # paired bootstrap on both test sets
        assert set(compared[baseline]["tests"]) == {"iwslt17_tst2017", "tvsub_test"}
        assert all(0 < test["bleu_p"] <= 1 for test in compared[baseline]["tests"].values())
    assert (work / "bleu_vs_ratio.png").stat().st_size > 1000

    made = {path: path.stat().st_mtime_ns for path in (work / "ckpt").glob("*/*.pt")}
    rows_made = {path: path.stat().st_mtime_ns for path in (work / "results").glob("*.json")}
    rerun = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert not re.search(r"^\[[\d:]+\] (train|evaluate|sequence-level) ", rerun.stdout, re.M), rerun.stdout
    assert {path: path.stat().st_mtime_ns for path in (work / "ckpt").glob("*/*.pt")} == made
    assert {path: path.stat().st_mtime_ns for path in (work / "results").glob("*.json")} == rows_made

    # a step marked done whose output was deleted since is done again (and only it): a hypothesis file
    # redoes that evaluation (the same inputs: its row stands), a row's JSON only the row
    (work / "eval" / "see20x.scratch.seed1.tvsub_test.hyp").unlink()
    (work / "results" / "word2ketxs20x.stage2.seed1.json").unlink()
    redo = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert redo.returncode == 0, redo.stderr[-3000:]
    assert re.findall(r"^\[[\d:]+\] (train|evaluate|sequence-level) (\S+)", redo.stdout, re.M) == [
        ("evaluate", "see20x.scratch.seed1")], redo.stdout
    assert (work / "eval" / "see20x.scratch.seed1.tvsub_test.hyp").stat().st_size > 0
    assert {path: path.stat().st_mtime_ns for path in (work / "ckpt").glob("*/*.pt")} == made
    remade = {path: path.stat().st_mtime_ns for path in (work / "results").glob("*.json")}
    assert set(remade) == set(rows_made)
    assert [path.name for path in remade if remade[path] != rows_made[path]] == ["word2ketxs20x.stage2.seed1.json"]

    # train_longer.sh: the teacher and SEE from scratch go on from their last checkpoints to 60 updates
    # with their own options; the rows above stay as they are
    longer_sh = os.path.join(REPO, "examples", "common", "train_longer.sh")
    rows = ["teacher", "see20x.scratch.seed1"]
    longer = subprocess.run(["bash", longer_sh, str(work), "60", *rows], cwd=REPO, env=env, capture_output=True,
                            text=True, timeout=600)
    assert longer.returncode == 0, longer.stdout[-3000:] + longer.stderr[-3000:]
    u60 = work / "longer" / "u60"
    for name in rows:
        log = (u60 / "logs" / f"{name}.log").read_text()
        assert re.search(r"Loaded checkpoint \S+checkpoint_last\.pt \(epoch \d+ @ 40 updates\)", log), name
        assert "'max_update': 60" in log and "'seed': 1" in log
        row = json.loads((u60 / "results" / f"{name}.json").read_text())
        assert row["updates"] == 60 and row["valid_nll"] > 0, row
        assert set(row["tests"]) == {"iwslt17_tst2017", "tvsub_test"}
        assert all(test["bleu"] >= 0 for test in row["tests"].values())
    assert "see_transformer" in (u60 / "logs" / "see20x.scratch.seed1.log").read_text()
    assert (u60 / "RESULTS.md").stat().st_size > 0
    assert {path: path.stat().st_mtime_ns for path in (work / "ckpt").glob("*/*.pt")} == made
    # a rerun finds the rows done
    again = subprocess.run(["bash", longer_sh, str(work), "60", *rows], cwd=REPO, env=env, capture_output=True,
                           text=True, timeout=600)
    assert again.returncode == 0 and " on to 60 updates" not in again.stdout, again.stdout + again.stderr


def test_train_longer_refuses_a_row_the_recipe_has_not_made(tmp_path):
    """train_longer.sh names a row that was never trained (or never evaluated) in one line, and makes nothing."""
    work = tmp_path / "work"
    for part in ("raw", "bin", "ckpt/teacher"):
        (work / part).mkdir(parents=True)
    write(work / "raw" / "TRAINED_ON", "TVsub\n")
    write(work / "bin" / "TEST_SPLITS", "tvsub_test\n")
    result = subprocess.run(["bash", os.path.join(REPO, "examples", "common", "train_longer.sh"), str(work), "60",
                             "teacher"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.endswith(f"error: {work}/ckpt/teacher: no trained and evaluated row teacher; "
                                  "train it with the recipe first\n")
    assert not (work / "longer").exists()
