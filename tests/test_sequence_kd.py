"""Sequence-level knowledge distillation data (fairseq-see-recipe sequence-kd, pipeline.sh's
sequence_kd_data): a real teacher, fairseq-generate and fairseq-preprocess on a few dozen tiny pairs."""

import filecmp
import os
import random
import re
import shutil
import signal
import subprocess
import time

import pytest

from conftest import REPO, VENV_BIN, cli, write, write_dictionary
from fairseq_see.errors import RecipeError

# one intra-op thread per process: tiny models on shared cores (more threads only spin)
ENV = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1", PATH=VENV_BIN + os.pathsep + os.environ["PATH"])
# 24 words a side: the dictionaries of a few pairs are smaller even once fairseq pads them to a multiple of 8
ZH = "▁我 ▁你 ▁他 ▁她 ▁们 ▁吃 ▁喝 ▁看 ▁买 ▁卖 ▁苹果 ▁梨 ▁水 ▁茶 ▁书 ▁猫 ▁狗 很 好 ▁不 ▁大 ▁小 ▁红 ▁新".split()
EN = ("▁I ▁you ▁he ▁she s ▁eat ▁drink ▁see ▁buy ▁sell ▁apple ▁pear ▁water ▁tea ▁book ▁cat ▁dog ▁very ▁good "
      "▁not ▁big ▁small ▁red ▁new").split()
PAIRS = 40
TEACHER = ("--task", "translation", "--arch", "transformer", "--encoder-layers", "1", "--decoder-layers", "1",
           "--encoder-embed-dim", "16", "--decoder-embed-dim", "16", "--encoder-ffn-embed-dim", "16",
           "--decoder-ffn-embed-dim", "16", "--encoder-attention-heads", "2", "--decoder-attention-heads", "2",
           "--optimizer", "adam", "--lr", "5e-3", "--max-tokens", "200", "--max-update", "8", "--cpu",
           "--no-epoch-checkpoints", "--num-workers", "0", "--required-batch-size-multiple", "1")
TEACHER_CHECKPOINT = "ckpt/teacher/checkpoint_best.pt"
# 40 pairs, 20 a shard (in batches of 8): two shards
TWO_SHARDS = {"sentences_per_shard": 20, "batch_size": 8, "device_args": ["--cpu"]}
TWO_SHARDS_OPTIONS = ("--sentences-per-shard", "20", "--batch-size", "8", "--cpu")


def run(argv, cwd, check=True):
    result = subprocess.run([str(a) for a in argv], cwd=cwd, env=ENV, capture_output=True, text=True, timeout=300)
    if check:
        assert result.returncode == 0, f"{argv[0]} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def sequence_kd(work, data, teacher, output, shard_dir, *extra, check=True):
    return run([cli("fairseq-see-recipe"), "sequence-kd", data, "--teacher", teacher, "--output", output,
                "--shard-dir", shard_dir, *extra], cwd=work, check=check)


def write_pairs(work, prefix, pairs):
    """Word-for-word translations, so that a model trained longer would learn them."""
    generator = random.Random(prefix)
    lines = {"zh": [], "en": []}
    for _ in range(pairs):
        words = [generator.randrange(len(ZH)) for _ in range(generator.randint(2, 6))]
        lines["zh"].append(" ".join(ZH[w] for w in words))
        lines["en"].append(" ".join(EN[w] for w in words))
    for lang, text in lines.items():
        write(work / f"{prefix}.{lang}", "\n".join(text) + "\n")
    return lines


def preprocess(work, destination, *prefixes):
    run([cli("fairseq-preprocess"), "--source-lang", "zh", "--target-lang", "en", *prefixes, "--destdir",
         destination, "--workers", "1"], cwd=work)


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """A recipe work dir: bin/ (40 training pairs, TEST_SPLITS) and a teacher trained a few updates."""
    work = tmp_path_factory.mktemp("sequence_kd")
    write_pairs(work, "train", PAIRS)
    write_pairs(work, "valid", 6)
    write_pairs(work, "test", 6)
    preprocess(work, "bin", "--trainpref", "train", "--validpref", "valid", "--testpref", "test")
    write(work / "bin" / "TEST_SPLITS", "tvsub_test\n")
    run([cli("fairseq-train"), work / "bin", "--user-dir", os.path.join(REPO, "fairseq_see"), *TEACHER,
         "--save-dir", work / "ckpt" / "teacher"], cwd=work)
    return work


@pytest.fixture(scope="module")
def two_shards(work):
    """A run in two shards (the library, in this process): the shard dir and the data-bin it made."""
    from fairseq_see.recipe.sequence_kd import sequence_kd_data
    lines = list(sequence_kd_data(str(work / "bin"), str(work / TEACHER_CHECKPOINT), str(work / "bin-two"),
                                  str(work / "two"), **TWO_SHARDS))
    assert [line.split(": ")[1] for line in lines[:2]] == ["shard 1 of 2 generated", "shard 2 of 2 generated"]
    return work / "two", work / "bin-two"


def train_lines(data, lang):
    """The training side ``lang`` of a data-bin, decoded with its dictionary (pieces, as fairseq reads them)."""
    from fairseq.data import Dictionary, data_utils
    dictionary = Dictionary.load(os.path.join(data, f"dict.{lang}.txt"))
    dataset = data_utils.load_indexed_dataset(os.path.join(data, f"train.zh-en.{lang}"), dictionary)
    return [dictionary.string(dataset[i]) for i in range(len(dataset))]


def hypotheses(shard):
    """{pair id: hypothesis} of a shard's H- lines."""
    found = {}
    for line in shard.read_text(encoding="utf-8").splitlines():
        if line.startswith("H-"):
            tag, _, text = line.split("\t")
            found[int(tag[2:])] = text
    return found


def pipeline(work, *lines):
    script = "\n".join(["set -euo pipefail", "source examples/common/pipeline.sh", f"WORKDIR={work}",
                        "DEVICE_ARGS=(--cpu)", *lines])
    return run(["bash", "-c", script], cwd=REPO)


def test_sequence_kd_data_makes_bin_seqkd_and_a_rerun_does_nothing(work):
    # the steps it is made from, as the recipe's markers record them
    (work / "logs").mkdir()
    write(work / ".done" / "binarize", "sha256 " + "1" * 64 + "\n")
    write(work / ".done" / "train.teacher", "sha256 " + "2" * 64 + "\n")
    first = pipeline(work, f'sequence_kd_data "$WORKDIR/{TEACHER_CHECKPOINT}"')
    summary = first.stdout.strip().splitlines()[-1]
    assert f"bin-seqkd: {PAIRS} pairs" in summary and "empty hypotheses kept as references: 0;" in summary, summary
    assert (work / ".done" / "seqkd").is_file()
    for log in ("seqkd.log", "seqkd.shard0-of-1.log", "seqkd.preprocess.log"):
        assert (work / "logs" / log).stat().st_size > 0, log

    teacher = hypotheses(work / "seqkd" / "shard0-of-1.gen")
    targets, references = train_lines(work / "bin-seqkd", "en"), train_lines(work / "bin", "en")
    assert len(targets) == PAIRS and targets == [teacher[i] for i in range(PAIRS)]
    assert targets != references
    assert train_lines(work / "bin-seqkd", "zh") == train_lines(work / "bin", "zh")
    for name in ("dict.zh.txt", "dict.en.txt", "TEST_SPLITS", "valid.zh-en.en.bin", "test.zh-en.zh.idx"):
        assert filecmp.cmp(work / "bin" / name, work / "bin-seqkd" / name, shallow=False), name

    made = (work / "bin-seqkd" / "train.zh-en.en.bin").stat().st_mtime_ns
    again = pipeline(work, f'sequence_kd_data "$WORKDIR/{TEACHER_CHECKPOINT}"')
    assert again.stdout == "" and (work / "bin-seqkd" / "train.zh-en.en.bin").stat().st_mtime_ns == made


def test_a_teacher_of_other_dictionaries_is_refused_before_any_generation(work):
    from fairseq_see.recipe.sequence_kd import check_teacher
    # bin/ with other dictionaries (fewer words): refused on them alone, before the pairs are read
    shutil.copytree(work / "bin", work / "bin-few")
    write_dictionary(work / "bin-few" / "dict.zh.txt", ZH[:6])
    write_dictionary(work / "bin-few" / "dict.en.txt", EN[:6])
    refused = sequence_kd(work, "bin-few", TEACHER_CHECKPOINT, "out-few", "shards-few", "--cpu", check=False)
    assert refused.returncode == 1 and refused.stderr.count("\n") == 1, refused.stderr
    assert (f"error: teacher {TEACHER_CHECKPOINT} was trained with {work}/bin/dict.zh.txt, which differs from "
            "bin-few/dict.zh.txt; translate with a teacher trained on bin-few" in refused.stderr), refused.stderr
    assert not (work / "out-few").exists() and not (work / "shards-few").exists()
    # the teacher's data-bin gone: the rows of its token tables against the dictionaries
    os.rename(work / "bin", work / "bin.away")
    try:
        with pytest.raises(RecipeError, match=rf"-token encoder table \(its dictionary {work}/bin/dict.zh.txt is "
                                              rf"gone\) but {work}/bin-few/dict.zh.txt has 10 symbols"):
            check_teacher(str(work / "bin-few"), str(work / TEACHER_CHECKPOINT))
    finally:
        os.rename(work / "bin.away", work / "bin")


def damaged_copy(shard_dir, destination, damage):
    """A copy of the shards and their MADE_FROM (not the text the run wrote beside them), with
    ``damage(lines)`` the lines of the second shard."""
    destination.mkdir()
    for path in shard_dir.iterdir():
        if path.name == "MADE_FROM" or path.suffix == ".gen":
            shutil.copy2(path, destination / path.name)
    shard = destination / "shard1-of-2.gen"
    shard.write_text("\n".join(damage(shard.read_text(encoding="utf-8").splitlines())) + "\n", encoding="utf-8")
    return destination


def test_a_garbled_shard_is_one_line_naming_it_and_nothing_is_written(work, two_shards):
    shard_dir, _ = two_shards
    # a hypothesis line cut after its score
    shards = damaged_copy(shard_dir, work / "garbled",
                          lambda lines: [re.sub(r"^(H-\d+\t-?[\d.]{4}).*", r"\1", line) for line in lines])
    result = sequence_kd(work, "bin", TEACHER_CHECKPOINT, "bin-garbled", shards, *TWO_SHARDS_OPTIONS, check=False)
    assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr
    assert re.search(r"garbled/shard1-of-2.gen:3: expected H-<id>, a tab, the score, a tab, then the hypothesis: "
                     r"'H-\d+\\t", result.stderr), result.stderr
    assert sorted(p.name for p in shards.iterdir()) == ["MADE_FROM", "shard0-of-2.gen", "shard1-of-2.gen"]
    assert not any(p.name.startswith("bin-garbled") for p in work.iterdir())


def test_an_incomplete_shard_a_missing_or_a_repeated_pair_is_refused(work, two_shards):
    from fairseq_see.recipe.sequence_kd import collect
    shard_dir, _ = two_shards
    first = shard_dir / "shard0-of-2.gen"
    pair = re.match(r"S-(\d+)\t", first.read_text(encoding="utf-8")).group(1)
    of_pair = [line for line in first.read_text(encoding="utf-8").splitlines() if re.match(rf"[STHDP]-{pair}\t", line)]
    cases = [("cut", lambda lines: lines[:-1],
              r"cut/shard1-of-2.gen: no 'Generate train with beam=...' line at its end"),
             # each pair's lines come as S-, T-, H-, D-, P-: the first pair's H- line gone
             ("missing", lambda lines: lines[:2] + lines[3:], r"missing/shard1-of-2.gen: pair \d+ has no H- line"),
             ("repeated", lambda lines: of_pair + lines, rf"repeated/shard1-of-2.gen: pair {pair} again \(also in "
                                                         rf"{work}/repeated/shard0-of-2.gen\)")]
    for name, damage, message in cases:
        shards = damaged_copy(shard_dir, work / name, damage)
        with pytest.raises(RecipeError, match=message):
            collect([str(shards / "shard0-of-2.gen"), str(shards / "shard1-of-2.gen")], PAIRS, "bin")
    # a pair in no shard at all
    shards = damaged_copy(shard_dir, work / "absent", lambda lines: lines)
    os.unlink(shards / "shard0-of-2.gen")
    with pytest.raises(RecipeError, match=rf"{work}/absent: \d+ of {PAIRS} training pairs are in none of the 1 shard"):
        collect([str(shards / "shard1-of-2.gen")], PAIRS, "bin")


def test_a_rerun_makes_only_the_missing_shard_and_an_interrupted_one_leaves_no_data_bin(work, two_shards):
    from fairseq_see.recipe.sequence_kd import sequence_kd_data
    shard_dir, made = two_shards
    # an empty hypothesis in the shard that is kept: its pair keeps the reference
    emptied = {}

    def empty_first_hypothesis(lines):
        at = next(i for i, line in enumerate(lines) if line.startswith("H-"))
        emptied["pair"] = int(lines[at].split("\t")[0][2:])
        return lines[:at] + [lines[at].rsplit("\t", 1)[0] + "\t"] + lines[at + 1:]

    shards = damaged_copy(shard_dir, work / "resumed", empty_first_hypothesis)
    os.unlink(shards / "shard0-of-2.gen")
    kept = shards / "shard1-of-2.gen"
    kept_mtime = kept.stat().st_mtime_ns

    # the rerun after the deletion, killed (with its fairseq-preprocess) once it has written the targets:
    # the missing shard made, no data-bin, whole text files
    argv = [cli("fairseq-see-recipe"), "sequence-kd", "bin", "--teacher", TEACHER_CHECKPOINT,
            "--output", "bin-resumed", "--shard-dir", shards, *TWO_SHARDS_OPTIONS]
    with open(work / "killed.out", "w") as out:
        process = subprocess.Popen([str(a) for a in argv], cwd=work, env=ENV, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        while not (shards / "train.en").exists() and process.poll() is None:
            time.sleep(0.02)
        assert process.poll() is None, (work / "killed.out").read_text()
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    killed = (work / "killed.out").read_text()
    assert "shard0-of-2.gen: shard 1 of 2 generated" in killed and "shard1-of-2.gen: kept" in killed, killed
    assert kept.stat().st_mtime_ns == kept_mtime
    assert (shards / "shard0-of-2.gen").read_text() == (shard_dir / "shard0-of-2.gen").read_text()
    assert not (work / "bin-resumed").exists()
    assert len((shards / "train.en").read_text(encoding="utf-8").splitlines()) == PAIRS

    # the run after that keeps both shards, removes what the killed one left, and completes
    lines = list(sequence_kd_data(str(work / "bin"), str(work / TEACHER_CHECKPOINT), str(work / "bin-resumed"),
                                  str(shards), **TWO_SHARDS))
    assert [line.endswith("kept (generated by an earlier run)") for line in lines[:2]] == [True, True], lines
    assert "empty hypotheses kept as references: 1;" in lines[2], lines
    assert not (work / "bin-resumed.partial").exists()
    targets, expected = train_lines(work / "bin-resumed", "en"), train_lines(made, "en")
    expected[emptied["pair"]] = train_lines(work / "bin", "en")[emptied["pair"]]
    assert targets == expected
