"""examples/iwslt17_zh_en/device_check.sh, the GPU check: its CPU dry run (tiny sizes, --cpu) end to end,
and bad data in one line. The GPU run itself needs a lent H200 (its results: examples/iwslt17_zh_en/RESULTS.md)."""

import json
import os
import subprocess

import pytest

from conftest import GLOSSARY, HOWNET, REPO, SEMEME_NAMES, THUNLP, VENV_BIN, ZH_EN, shared_or_skip, write

SCRIPT = os.path.join(REPO, "examples", "iwslt17_zh_en", "device_check.sh")
COLUMNS = ["model", "updates", "train s", "eval s", "valid NLL (bits)", "tst2017 BLEU", "tst2017 chrF",
           "emb. params", "ratio", "live ratio"]


def device_check(tmp_path, data_root, timeout):
    env = dict(os.environ, PATH=VENV_BIN + os.pathsep + os.environ["PATH"], OMP_NUM_THREADS="1",
               SACREBLEU=str(tmp_path / "sacrebleu"))  # sacrebleu's cache stays out of $HOME
    return subprocess.run(["bash", SCRIPT, "--dry-run", "--data-root", str(data_root), "--workdir",
                           str(tmp_path / "work")], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=timeout)


def table_rows(text):
    """The markdown table's rows as {model: {column: cell}}, and its header."""
    lines = [line.strip("| ").split(" | ") for line in text.splitlines() if line.startswith("| ")]
    header = lines[0]
    return {cells[0]: dict(zip(header, cells)) for cells in lines[1:]}, header


def test_dry_run_trains_distils_scores_and_prints_one_table(tmp_path):
    shared_or_skip(os.path.join(ZH_EN, "train", "tvsub", "train.zh.xz"), os.path.join(ZH_EN, "test", "iwslt17"),
                   GLOSSARY, THUNLP, SEMEME_NAMES, os.path.join(os.path.dirname(HOWNET), "wordnet"))
    run = device_check(tmp_path, ZH_EN, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    work = tmp_path / "work"
    table = (work / "DEVICE_CHECK.md").read_text(encoding="utf-8")
    assert table.strip() in run.stdout  # printed as written
    rows, header = table_rows(table)
    assert header == COLUMNS
    assert list(rows) == ["teacher", "see 20x stage 1", "see 20x stage 2"]
    for row in rows.values():
        assert float(row["valid NLL (bits)"]) > 0
        assert float(row["tst2017 BLEU"]) >= 0 and float(row["tst2017 chrF"]) >= 0
        assert int(row["train s"]) > 0 and int(row["eval s"]) > 0
    assert [int(rows[m]["updates"]) for m in rows] == [40, 10, 20]  # the dry run's caps
    teacher, student = rows["teacher"], rows["see 20x stage 2"]
    assert teacher["ratio"] == "1.0x" and 10 < float(student["ratio"].rstrip("x")) < 40
    assert int(student["emb. params"].replace(",", "")) < int(teacher["emb. params"].replace(",", "")) / 10
    assert "machine: CPU dry run" in table and "tst2017: its first 50 lines" in table

    data = json.loads((work / "DEVICE_CHECK.json").read_text(encoding="utf-8"))
    assert data["machine"].startswith("CPU dry run") and len(data["rows"]) == 3
    assert set(data["phases_s"]) == {"slice", "data", "train.teacher", "eval.teacher", "train.stage1",
                                     "eval.stage1", "train.stage2", "eval.stage2"}
    assert data["rows"][2]["valid_nll_bits"] == float(student["valid NLL (bits)"])
    assert "--init-student-from-teacher: copied" in (work / "logs" / "train.stage1.log").read_text()


def broken_mirror(root):
    """A data root with every file the check looks for, the TVsub text not xz."""
    for path in ("train/tvsub/train.zh.xz", "train/tvsub/train.en.xz", "test/iwslt17/IWSLT17.TED.tst2017.zh-en.zh",
                 "test/iwslt17/IWSLT17.TED.tst2017.zh-en.en"):
        write(root / "zh-en" / path, "not xz\n")
    write(root / "zh-en" / "train" / "tvsub" / "train.episodes.tsv", "episode_file_id\tfirst_line\tn_lines\n")
    write(root / "hownet" / "openhownet__sememe_dict_all.json", "{}")
    return root / "zh-en"


@pytest.mark.parametrize("case", ["missing", "broken"])
def test_bad_data_root_is_one_line_and_a_failure(tmp_path, case):
    root = tmp_path / "nowhere" if case == "missing" else broken_mirror(tmp_path / "mirror")
    run = device_check(tmp_path, root, timeout=120)
    assert run.returncode != 0
    assert run.stderr.count("\n") == 1, run.stderr
    if case == "missing":  # refused before anything is written
        assert "train.zh.xz not found" in run.stderr and not (tmp_path / "work").exists()
    else:  # the failing phase, named with its log
        assert "phase slice failed" in run.stderr and str(tmp_path / "work" / "logs" / "slice.log") in run.stderr
