"""The recipes' data steps on a user's own files (issue 14): vocabulary sizes, reruns after changed
inputs, lines longer than the model's positions, lexicon defaults; their fixtures made here."""

import hashlib
import os
import random
import re
import shutil
import subprocess

import pytest

from conftest import LEXICON, REPO, VENV_BIN, cli, write

RUN_SH = os.path.join(REPO, "examples", "iwslt17_zh_en", "run.sh")
PIPELINE_SH = os.path.join(REPO, "examples", "common", "pipeline.sh")


def recipe(*args, cwd=None):
    return subprocess.run([cli("fairseq-see-recipe"), *map(str, args)], capture_output=True, text=True, timeout=300,
                          cwd=cwd)


def tool_env(home):
    env = {k: v for k, v in os.environ.items() if k != "FAIRSEQ_SEE_DATA"}  # no mirror: the user's own files
    return dict(env, PATH=VENV_BIN + os.pathsep + env["PATH"], OMP_NUM_THREADS="1", HOME=str(home),
                CUDA_VISIBLE_DEVICES="")


def corpus(count, seed, characters=700):
    """count pairs of made-up Chinese (words of 1-2 of `characters` CJK characters, no spaces) and a
    word-for-word 'English' (one pseudo word per Chinese word)."""
    rng = random.Random(seed)
    chars = [chr(0x4E00 + i * 7) for i in range(characters)]
    words = [rng.choice(chars) + (rng.choice(chars) if rng.random() < 0.6 else "") for _ in range(900)]
    syllables = ["ka", "lo", "mi", "ne", "su", "ta", "ri", "po", "de", "gu", "fa", "ze"]
    english = {w: "".join(rng.choice(syllables) for _ in range(rng.randint(1, 3))) for w in words}
    zh, en = [], []
    for _ in range(count):
        sentence = [rng.choice(words) for _ in range(rng.randint(3, 8))]
        zh.append("".join(sentence))
        en.append(" ".join(english[w] for w in sentence))
    return zh, en


def write_pair(prefix, zh, en):
    write(f"{prefix}.zh", "\n".join(zh) + "\n")
    write(f"{prefix}.en", "\n".join(en) + "\n")
    return f"{prefix}.zh", f"{prefix}.en"


def test_spm_train_raises_a_too_small_vocabulary_and_refuses_a_too_large_one(tmp_path):
    zh, _ = corpus(300, seed=1)
    text = write(tmp_path / "train.zh", "\n".join(zh) + "\n")
    small = recipe("spm-train", "--input", text, "--prefix", tmp_path / "zh", "--vocab-size", 100,
                   "--character-coverage", 0.9995)
    assert small.returncode == 0, small.stderr
    raised = re.search(r"--vocab-size 100 raised to (\d+): sentencepiece keeps one piece per character", small.stdout)
    assert raised and int(raised.group(1)) > 100, small.stdout
    import sentencepiece as spm
    assert spm.SentencePieceProcessor(model_file=str(tmp_path / "zh.model")).get_piece_size() == int(raised.group(1))

    large = recipe("spm-train", "--input", text, "--prefix", tmp_path / "zh2", "--vocab-size", 50000)
    assert large.returncode == 1 and large.stderr.count("\n") == 1, large.stderr
    assert re.search(r"train.zh: --vocab-size 50000 is more pieces than this text gives \(at most \d+\)", large.stderr)
    for args, message in (((tmp_path / "none.zh", 100), "none.zh: not found"), ((text, 0), "--vocab-size 0")):
        bad = recipe("spm-train", "--input", args[0], "--prefix", tmp_path / "x", "--vocab-size", args[1])
        assert bad.returncode == 1 and bad.stderr.count("\n") == 1 and message in bad.stderr, bad.stderr


def test_fit_positions_drops_or_cuts_pairs_longer_than_the_positions(tmp_path):
    source = write(tmp_path / "a.zh", "▁a ▁b\n▁a ▁b ▁c ▁d ▁e\n▁a\n")
    target = write(tmp_path / "a.en", "▁x\n▁x\n▁x ▁y ▁z ▁w\n")
    dropped = recipe("fit-positions", "--max-source-positions", 4, "--max-target-positions", 4, "--drop",
                     source, target)
    assert dropped.returncode == 0, dropped.stderr
    assert re.search(r"a.zh, .*a.en: dropped 2 of 3 pairs longer than 3 source / 3 target pieces \(fairseq's "
                     r"--max-source-positions 4 / --max-target-positions 4, with </s>\): lines 2, 3$", dropped.stdout)
    assert open(source).read() == "▁a ▁b\n" and open(target).read() == "▁x\n"

    source = write(tmp_path / "t.zh", "▁a ▁b\n" + " ".join(["▁c"] * 5000) + "\n")
    target = write(tmp_path / "t.en", "▁x\n▁y\n")
    cut = recipe("fit-positions", "--truncate", source, target)  # fairseq's default 1024 positions
    assert cut.returncode == 0 and re.search(r"cut 1 of 2 pairs to 1023 source / 1023 target pieces .*: line 2$",
                                             cut.stdout), cut.stdout
    assert [len(line.split()) for line in open(source)] == [2, 1023] and open(target).read() == "▁x\n▁y\n"
    fits = recipe("fit-positions", "--truncate", source, target)
    assert "2 pairs, none longer than" in fits.stdout
    bad = recipe("fit-positions", "--max-source-positions", 1, "--drop", source, target)
    assert bad.returncode == 1 and "--max-source-positions 1: a line needs at least 2 positions" in bad.stderr


def run_recipe(env, *args, timeout=900, run_sh=RUN_SH):
    return subprocess.run(["bash", run_sh, *map(str, args)], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=timeout)


def markers(work):
    return {name: open(work / ".done" / name).read() for name in sorted(os.listdir(work / ".done"))}


def test_data_steps_on_own_files_refit_positions_and_redo_what_changed(tmp_path):
    """run.sh --data-only on given files: the vocabulary raised, long pairs dropped and a 10,000-character
    test line cut (it then translates), a rerun that redoes nothing, and reruns after a changed file
    (same path) and a changed vocabulary size that redo exactly the steps that depend on them."""
    zh, en = corpus(460, seed=2)
    zh[5], en[5] = "的" * 3000, "ka " * 1500  # a training pair longer than the positions
    train = write_pair(tmp_path / "own" / "train", zh[:400], en[:400])
    valid = write_pair(tmp_path / "own" / "valid", zh[400:430], en[400:430])
    test_zh, test_en = zh[430:], en[430:]
    test_zh[3] = "".join(zh[:400])[:10000]  # a 10,000-character test line
    test = write_pair(tmp_path / "own" / "test", test_zh, test_en)
    lexicon = write(tmp_path / "lex.txt", LEXICON)
    work = tmp_path / "work"
    args = ["--data-only", "--train-zh", train[0], "--train-en", train[1], "--valid-zh", valid[0], "--valid-en",
            valid[1], "--test", f"own:{test[0]}:{test[1]}", "--lexicon", lexicon, "--workdir", work,
            "--spm-zh", 100, "--spm-en", 150, "--max-positions", 64]
    env = tool_env(tmp_path)
    first = run_recipe(env, *args)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    out = first.stdout
    # no names map: one line says what is lost
    assert len(re.findall(r"warning: no --sememe-names: .* fairseq-see-extend lists trained sememes as untrained",
                          out)) == 1, out
    assert re.search(r"seg/train.zh: --vocab-size 100 raised to \d+", out), out
    assert re.search(r"spm/train.zh, .*spm/train.en: dropped 1 of 400 pairs longer than 63 source / 63 target "
                     r"pieces .*: line 6$", out, re.M), out
    assert re.search(r"spm/valid.zh, .*spm/valid.en: 30 pairs, none longer", out), out
    assert re.search(r"spm/own.zh, .*spm/own.en: cut 1 of 30 pairs to 63 source / 63 target pieces .*: line 4$",
                     out, re.M), out
    done = markers(work)
    assert set(done) == {"raw", "segment", "binarize"}
    assert re.search(r"^file \S+/own/train.zh \d+ [0-9a-f]{64}$", done["raw"], re.M), done["raw"]
    assert re.search(r"^step raw sha256 [0-9a-f]{64}$", done["segment"], re.M), done["segment"]
    assert "option SPM_ZH 100" in done["binarize"] and "option MAX_POSITIONS 64" in done["binarize"]

    # the model's positions hold: the cut 10,000-character line translates after training
    common = ["--user-dir", os.path.join(REPO, "fairseq_see"), "--task", "translation_sememe", "--cpu"]
    train_run = subprocess.run(
        [cli("fairseq-train"), work / "bin", *common, "--arch", "see_transformer_tiny", "--optimizer", "adam",
         "--lr", "1e-3", "--max-tokens", "2000", "--max-update", "2", "--max-source-positions", "64",
         "--max-target-positions", "64", "--save-dir", work / "ckpt" / "tiny", "--no-epoch-checkpoints",
         "--required-batch-size-multiple", "1", "--num-workers", "0"], env=env, capture_output=True, text=True,
        timeout=600)
    assert train_run.returncode == 0, train_run.stdout[-2000:] + train_run.stderr[-2000:]
    generate = subprocess.run(
        [cli("fairseq-generate"), work / "bin", *common, "--path", work / "ckpt" / "tiny" / "checkpoint_last.pt",
         "--gen-subset", "test", "--beam", "2", "--batch-size", "8", "--required-batch-size-multiple", "1"],
        env=env, capture_output=True, text=True, timeout=600)
    assert generate.returncode == 0, generate.stderr[-2000:]
    assert sorted(int(i) for i in re.findall(r"^H-(\d+)\t", generate.stdout, re.M)) == list(range(30))

    # an unchanged work dir: nothing is redone
    again = run_recipe(env, *args)
    assert again.returncode == 0, again.stderr[-3000:]
    assert not re.search(r"sentencepiece unigram|SEE index|raised to|jieba with", again.stdout), again.stdout
    assert markers(work) == done
    assert "output bin/dict.en.txt" in done["binarize"] and "output seg/own.zh" in done["segment"]

    # a deleted file of raw/ or seg/ is made again; one of bin/, which the models were trained on, stops the
    # run with one line (binarizing again would retire every model)
    (work / "seg" / "own.zh").unlink()
    resegmented = run_recipe(env, *args)
    assert resegmented.returncode == 0, resegmented.stderr[-3000:]
    assert "jieba with" in resegmented.stdout and (work / "seg" / "own.zh").stat().st_size > 0
    (work / "bin" / "dict.en.txt").unlink()
    refused = run_recipe(env, *args)
    assert refused.returncode == 1 and refused.stderr.count("\n") == 1, refused.stderr
    assert (f"{work}/bin/dict.en.txt: missing from the binarized data the models were trained on; restore it, "
            f"or delete {work}/.done/binarize to binarize again") in refused.stderr
    (work / ".done" / "binarize").unlink()

    # the same path, other contents (a fixed file): raw is copied again, and everything after it redone
    write_pair(tmp_path / "own" / "train", zh[:300], en[:300])
    changed = run_recipe(env, *args)
    assert changed.returncode == 0, changed.stderr[-3000:]
    assert re.search(r"given files \(300 pairs\)", changed.stdout), changed.stdout
    for step in ("raw", "seg"):
        assert open(work / step / "train.zh", encoding="utf-8").read().count("\n") == 300
    assert re.search(r"dropped 1 of 300 pairs", changed.stdout) and "SEE index" in changed.stdout
    assert not (work / "ckpt" / "tiny").exists()  # a model of the old data is retired with it
    redone = markers(work)
    assert all(redone[step] != done[step] for step in ("raw", "segment", "binarize"))

    # another vocabulary size: only the sentencepiece step (binarize) is redone
    bigger = run_recipe(env, *args[:-4], "--spm-en", 160, "--max-positions", 64)
    assert bigger.returncode == 0, bigger.stderr[-3000:]
    assert "jieba with" not in bigger.stdout and "sentencepiece unigram, 160 pieces" in bigger.stdout
    final = markers(work)
    assert final["raw"] == redone["raw"] and final["segment"] == redone["segment"]
    assert final["binarize"] != redone["binarize"]


@pytest.mark.parametrize("case", ["no lexicon", "bad profile", "bad vocabulary", "missing file", "bad stage 1",
                                  "bad extra row", "bad extra distilled row",
                                  "extra row named as a recipe row", "extra seqkd named as a recipe row",
                                  "extra seqkd without seqkd", "bad updates", "updates within stage 1"])
def test_refused_before_any_work_and_without_a_work_dir(tmp_path, case):
    train = write_pair(tmp_path / "train", ["你好"], ["hello"])
    given = ["--train-zh", train[0], "--train-en", train[1], "--valid-zh", train[0], "--valid-en", train[1]]
    lexicon = ["--lexicon", write(tmp_path / "lex.txt", LEXICON)]
    args, message = {
        "no lexicon": (given, r"no sememe lexicon: pass --lexicon FILE\[,FILE\] or --data-root .*OpenHowNet"),
        "bad profile": (given + lexicon + ["--profile", "huge"], r"--profile must be smoke, cpu"),
        "bad vocabulary": (given + lexicon + ["--spm-zh", "2k"], r"--spm-zh 2k: expected a positive whole number"),
        "missing file": (given[:-2] + ["--valid-en", tmp_path / "nope.en"] + lexicon, r"nope.en: not found"),
        "bad stage 1": (given + lexicon + ["--stage1", "mse"], r"--stage1 mse: expected paper or fit-kd"),
        "bad extra row": (given + lexicon + ["--extra-row", "x:full:20:"],
                          r"--extra-row x:full:20:: expected NAME:KIND:RATIO:OPTIONS"),
        "bad extra distilled row": (given + lexicon + ["--extra-row", "ok:see:20:", "--extra-distilled", "a b:see:20:"],
                                    r"--extra-distilled a b:see:20:: expected NAME:KIND:RATIO:OPTIONS"),
        "extra row named as a recipe row": (given + lexicon + ["--extra-row", "scratch:see:20:--see-rank 3"],
                                            r"--extra-row scratch:see:20:--see-rank 3: NAME scratch is taken"),
        "extra seqkd named as a recipe row": (given + lexicon + ["--extra-seqkd", "a-seqkd:see:20:"],
                                              r"--extra-seqkd a-seqkd:see:20:: NAME a-seqkd is taken"),
        "extra seqkd without seqkd": (given + lexicon + ["--seqkd", "-", "--extra-seqkd", "a:see:20:"],
                                      r"--extra-seqkd trains the --seqkd students, and there are none"),
        "bad updates": (given + lexicon + ["--updates", "3k"], r"--updates 3k: expected a positive whole number"),
        "updates within stage 1": (given + lexicon + ["--profile", "converge", "--updates", "150"],
                                   r"--updates 150: the students' stage 1 alone has 150 at profile converge; give more"),
    }[case]
    work = tmp_path / "work"
    result = run_recipe(tool_env(tmp_path), *args, "--workdir", work, timeout=120)
    assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr
    assert re.search(message, result.stderr), result.stderr
    assert not work.exists()


def test_lexicon_defaults_to_installed_openhownet_and_says_so(tmp_path):
    """Without --data-root and --lexicon, OpenHowNet's installed data (its package and ~/.openhownet)
    is the lexicon; without it, the one-line refusal above."""
    resources = tmp_path / ".openhownet" / "resources"
    resources.mkdir(parents=True)
    (resources / "HowNet_dict_complete").write_bytes(b"")  # what the check looks for
    train = write_pair(tmp_path / "train", ["你好"], ["hello"])
    script = (f'source "{PIPELINE_SH}"; tests=(); parse_args demo tests --train-zh {train[0]} --train-en {train[1]} '
              f'--valid-zh {train[0]} --valid-en {train[1]} --workdir {tmp_path / "work"}; '
              'echo "LEXICON=$LEXICON"; echo "ARGS=${SEMEME_ARGS[*]}"')
    result = subprocess.run(["bash", "-c", script], env=tool_env(tmp_path), capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert "no --lexicon: using OpenHowNet's installed data (--lexicon openhownet)" in result.stdout
    assert "LEXICON=openhownet" in result.stdout and "ARGS=--sememe-lexicon openhownet" in result.stdout
    assert "no --sememe-names" not in result.stdout  # OpenHowNet's names are already english|中文
    assert not (tmp_path / "work").exists()


def run_with_a_stand_in_trainer(tmp_path, *args, status=137, run_sh=RUN_SH):
    """The recipe on a small corpus of its own with a fairseq-train stand-in on PATH that notes its save dir
    in trainer_calls.txt, saves a checkpoint_last.pt and exits with ``status`` (137: as an OOM kill does);
    the data steps are real. Returns the run and its work dir."""
    zh, en = corpus(200, seed=5)
    train = write_pair(tmp_path / "own" / "train", zh[:160], en[:160])
    valid = write_pair(tmp_path / "own" / "valid", zh[160:180], en[160:180])
    test = write_pair(tmp_path / "own" / "test", zh[180:], en[180:])
    trainer = write(tmp_path / "bin" / "fairseq-train", "#!/bin/bash\n"
                   'while [ $# -gt 0 ]; do [ "$1" = --save-dir ] && dir=$2; shift; done\n'
                   f'echo "$dir" >> {tmp_path}/trainer_calls.txt\n'
                   'mkdir -p "$dir" && : > "$dir/checkpoint_last.pt"; echo "| INFO | valid on \'valid\'"; '
                   f'exit {status}\n')
    os.chmod(trainer, 0o755)
    env = tool_env(tmp_path)
    env["PATH"] = str(tmp_path / "bin") + os.pathsep + env["PATH"]
    work = tmp_path / "work"
    run = run_recipe(env, "--train-zh", train[0], "--train-en", train[1], "--valid-zh", valid[0], "--valid-en",
                     valid[1], "--test", f"own:{test[0]}:{test[1]}", "--lexicon", write(tmp_path / "lex.txt", LEXICON),
                     "--workdir", work, "--spm-zh", 100, "--spm-en", 100, *args, run_sh=run_sh)
    return run, work


def test_a_training_that_stops_with_an_error_is_not_marked_done(tmp_path):
    """A fairseq-train killed (or crashed) after it saved a checkpoint_last.pt: the recipe exits non-zero with
    one line naming the step and its log, and the step stays undone so a rerun resumes it."""
    run, work = run_with_a_stand_in_trainer(tmp_path)
    assert run.returncode == 1, run.stdout[-2000:] + run.stderr[-2000:]
    assert run.stderr.strip().splitlines()[-1].endswith(
        f"error: training teacher stopped with exit status 137; see {work}/logs/teacher.log (rerun the same "
        "command to resume it from its last checkpoint)"), run.stderr
    assert "train.teacher" not in markers(work) and (work / "ckpt" / "teacher" / "checkpoint_last.pt").exists()


def test_a_deleted_checkpoint_directory_is_trained_again(tmp_path):
    """A training step marked done whose checkpoint directory was deleted (to redo the run) is not skipped:
    the rerun trains it again instead of handing the next step a checkpoint that is not there."""
    first, work = run_with_a_stand_in_trainer(tmp_path, status=0)
    assert "train.teacher" in markers(work), first.stdout[-2000:] + first.stderr[-2000:]
    shutil.rmtree(work / "ckpt" / "teacher")
    again, _ = run_with_a_stand_in_trainer(tmp_path, status=0)
    assert "train teacher" in again.stdout, again.stdout[-2000:]
    assert (tmp_path / "trainer_calls.txt").read_text().splitlines() == [f"{work}/ckpt/teacher"] * 2
    assert (work / "ckpt" / "teacher" / "checkpoint_last.pt").exists()


def test_scratch_only_trains_no_teacher(tmp_path):
    """--scratch-only (the rows a second core can train beside the teacher's run): the first training is SEE
    from scratch, and no teacher is started."""
    run, work = run_with_a_stand_in_trainer(tmp_path, "--scratch-only")
    assert run.returncode == 1, run.stdout[-2000:] + run.stderr[-2000:]
    assert "error: training see20x.scratch.seed1 stopped with exit status 137" in run.stderr, run.stderr
    assert sorted(os.listdir(work / "ckpt")) == ["see20x.scratch.seed1"]


def stood_in_pipeline(tmp_path, options):
    """The recipe's steps in order with the data steps and fairseq stood in for: the TRAIN NAME OPTIONS...
    and EVALUATE NAME OPTIONS... lines it would run (its order and its fairseq-train options)."""
    train = write_pair(tmp_path / "train", ["你好"], ["hello"])
    script = (f'source "{PIPELINE_SH}"\n'
              'prepare_raw() { echo "TVsub" > "$WORKDIR/raw/TRAINED_ON"; }; check_and_segment() { :; }; binarize() { :; }\n'
              'train() { echo "TRAIN $*"; }; evaluate() { echo "EVALUATE $*"; }; fairseq-see-recipe() { :; }\n'
              'sequence_kd_data() { echo "SEQKD_DATA $*"; }\n'
              f'tests=(); pipeline_main demo DEMO : -- --train-zh {train[0]} --train-en {train[1]} '
              f'--valid-zh {train[0]} --valid-en {train[1]} --lexicon {write(tmp_path / "lex.txt", LEXICON)} '
              f'--workdir {tmp_path / "work"} --profile converge {options}')
    result = subprocess.run(["bash", "-c", script], env=tool_env(tmp_path), capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    return [line for line in result.stdout.splitlines() if line.startswith(("TRAIN", "EVALUATE", "SEQKD_DATA"))]


def test_extra_rows_train_after_the_others_with_their_own_options(tmp_path):
    """--extra-row NAME:KIND:RATIO:OPTIONS: one more from-scratch row at the same budget, its options after the
    row's own (so they override), trained after the recipe's rows (here --scratch-only: SEE from scratch);
    RATIO - leaves the sizes to the options."""
    calls = [line.split() for line in stood_in_pipeline(tmp_path, (
        '--ratios 20 --seeds "1 2" --scratch - --scratch-only --extra-row "noln:see:20:--see-norm affine" '
        '--extra-row "ident:see:-:--see-order 2 --see-rank 21" '
        '--extra-distilled "bias:see:20:--tied-output-bias"'))]  # needs the teacher: not with --scratch-only
    assert [call[:2] for call in calls] == [
        ["TRAIN", "see20x.scratch.seed1"], ["EVALUATE", "see20x.scratch.seed1"],
        ["TRAIN", "see20x.scratch.seed2"], ["EVALUATE", "see20x.scratch.seed2"],
        ["TRAIN", "teacher.seed2"], ["EVALUATE", "teacher.seed2"],
        ["TRAIN", "see20x.noln.seed1"], ["EVALUATE", "see20x.noln.seed1"],  # the first seed only
        ["TRAIN", "see.ident.seed1"], ["EVALUATE", "see.ident.seed1"]]
    scratch, noln, ident = (" ".join(calls[i]) for i in (0, 6, 8))
    assert noln == scratch.replace("see20x.scratch.seed1", "see20x.noln.seed1") + " --see-norm affine"
    assert "--embedding-compression-ratio 20" in scratch and "--embedding-compression-ratio" not in ident
    assert ident.endswith("--max-update 1500 --see-order 2 --see-rank 21")


def test_extra_distilled_rows_take_the_two_stages_with_their_own_options(tmp_path):
    """--extra-distilled NAME:KIND:RATIO:OPTIONS: the recipe's two stages with OPTIONS at the end of both
    stages' options, rows KIND${RATIO}x.NAME-stage1/-stage2.seedN (stage 2 evaluated), after the
    --extra-row rows."""
    calls = stood_in_pipeline(tmp_path, (
        '--stage1 fit-kd --ratios 20 --seeds 1 --scratch - --seqkd - --distilled - '
        '--extra-distilled "asym:see:20:--decoder-embedding-compression-ratio 11" '
        '--extra-row "noln:see:20:--see-norm affine"'))
    assert [call.split()[:2] for call in calls] == [
        ["TRAIN", "teacher"], ["EVALUATE", "teacher"],
        ["TRAIN", "see20x.stage1.seed1"], ["TRAIN", "see20x.stage2.seed1"], ["EVALUATE", "see20x.stage2.seed1"],
        ["TRAIN", "see20x.scratch.seed1"], ["EVALUATE", "see20x.scratch.seed1"],
        ["TRAIN", "see20x.noln.seed1"], ["EVALUATE", "see20x.noln.seed1"],
        ["TRAIN", "see20x.asym-stage1.seed1"], ["TRAIN", "see20x.asym-stage2.seed1"],
        ["EVALUATE", "see20x.asym-stage2.seed1"]]
    stage1, stage2, evaluated, asym1, asym2, asym_evaluated = (calls[i] for i in (2, 3, 4, 9, 10, 11))
    extra = " --decoder-embedding-compression-ratio 11"
    assert asym1 == stage1.replace("see20x.stage1.seed1", "see20x.asym-stage1.seed1") + extra
    assert "--fit-tables-steps" in asym1 and "--lr 1e-2" in asym1
    assert asym2 == stage2.replace("see20x.stage1.seed1", "see20x.asym-stage1.seed1").replace(
        "see20x.stage2.seed1", "see20x.asym-stage2.seed1").replace(" --warmup-updates", extra + " --warmup-updates")
    assert asym_evaluated == evaluated.replace("see20x.", "see20x.asym-")


def test_extra_seqkd_rows_are_an_extra_distilled_row_and_its_sequence_kd_students(tmp_path):
    """--extra-seqkd NAME:KIND:RATIO:OPTIONS: the --extra-distilled row of the same spec, then the teacher's
    translations and, per --seqkd item, stage 2 on them from that row's own stage 1 with OPTIONS
    (KIND${RATIO}x.NAME-seqkd / -seqkd-kd), so the two distillations differ in stage 2 only."""
    calls = stood_in_pipeline(tmp_path, (
        '--stage1 fit-kd --ratios 20 --seeds 1 --extra-only --seqkd "ce kd" '
        '--extra-seqkd "asym:tt:20:--decoder-embedding-compression-ratio 11"'))
    assert [call.split()[:2] for call in calls] == [
        ["TRAIN", "teacher"], ["EVALUATE", "teacher"],
        ["TRAIN", "tt20x.asym-stage1.seed1"], ["TRAIN", "tt20x.asym-stage2.seed1"],
        ["EVALUATE", "tt20x.asym-stage2.seed1"], ["SEQKD_DATA", f"{tmp_path}/work/ckpt/teacher/checkpoint_best.pt"],
        ["TRAIN", "tt20x.asym-seqkd.seed1"], ["EVALUATE", "tt20x.asym-seqkd.seed1"],
        ["TRAIN", "tt20x.asym-seqkd-kd.seed1"], ["EVALUATE", "tt20x.asym-seqkd-kd.seed1"]]
    two_stage, ce, kd = (calls[i] for i in (3, 6, 8))
    start = f"--init-from {tmp_path}/work/ckpt/tt20x.asym-stage1.seed1/checkpoint_last.pt"
    assert start in two_stage and start in ce and start in kd
    assert f"--data {tmp_path}/work/bin-seqkd" in ce and f"--data {tmp_path}/work/bin-seqkd" in kd
    assert "--data" not in two_stage
    for call in (ce, kd):
        assert "--encoder-embedding-type tt" in call and "--embedding-compression-ratio 20" in call
        assert "--decoder-embedding-compression-ratio 11 --warmup-updates" in call
    assert "--criterion label_smoothed_cross_entropy" in ce and "--teacher-checkpoint" not in ce
    assert "--criterion see_distillation" in kd and "--kd-alpha 0.5" in kd
    # the recipe's own sequence-level KD students keep their names: see20x.seqkd from see20x.stage1
    own = stood_in_pipeline(tmp_path, '--stage1 fit-kd --ratios 20 --seeds 1 --scratch - --seqkd ce --distilled -')
    assert [call.split()[1] for call in own if call.startswith("TRAIN")] == [
        "teacher", "see20x.stage1.seed1", "see20x.stage2.seed1", "see20x.scratch.seed1", "see20x.seqkd.seed1"]
    assert "ckpt/see20x.stage1.seed1/checkpoint_last.pt" in own[-2]


def test_extra_only_trains_the_teacher_and_the_extra_rows_alone(tmp_path):
    """--extra-only: none of the recipe's own student rows (nor a second seed's teacher), only the teacher and
    the --extra-row / --extra-distilled rows; with --scratch-only, the --extra-row rows alone."""
    options = ('--stage1 fit-kd --ratios "20 80" --seeds "1 2" --extra-only --extra-row "noln:see:20:--see-norm affine" '
               '--extra-distilled "asym:see:20:--decoder-embedding-compression-ratio 11"')
    assert [call.split()[:2] for call in stood_in_pipeline(tmp_path, options)] == [
        ["TRAIN", "teacher"], ["EVALUATE", "teacher"],
        ["TRAIN", "see20x.noln.seed1"], ["EVALUATE", "see20x.noln.seed1"],
        ["TRAIN", "see20x.asym-stage1.seed1"], ["TRAIN", "see20x.asym-stage2.seed1"],
        ["EVALUATE", "see20x.asym-stage2.seed1"]]
    assert [call.split()[:2] for call in stood_in_pipeline(tmp_path, options + " --scratch-only")] == [
        ["TRAIN", "see20x.noln.seed1"], ["EVALUATE", "see20x.noln.seed1"]]


def test_teachers_only_trains_the_full_models_alone(tmp_path):
    """--teachers-only: the teacher and teacher.seedN for the further seeds, no student; with --scratch-only,
    teacher.seedN alone (the teacher is another run's). With --extra-only or an extra row: one line, exit 1."""
    options = '--stage1 fit-kd --ratios "20 80" --seeds "1 2 3" --teachers-only'
    assert [call.split()[:2] for call in stood_in_pipeline(tmp_path, options)] == [
        ["TRAIN", "teacher"], ["EVALUATE", "teacher"], ["TRAIN", "teacher.seed2"], ["EVALUATE", "teacher.seed2"],
        ["TRAIN", "teacher.seed3"], ["EVALUATE", "teacher.seed3"]]
    calls = stood_in_pipeline(tmp_path, '--seeds 2 --teachers-only --scratch-only')
    assert [call.split()[:2] for call in calls] == [["TRAIN", "teacher.seed2"], ["EVALUATE", "teacher.seed2"]]
    assert "--arch transformer" in calls[0] and "--seed" not in calls[0]  # train's own SEED argument: 2
    assert calls[0].split()[2] == "2"
    for extra in ("--extra-only", '--extra-row "noln:see:20:--see-norm affine"'):
        with pytest.raises(AssertionError, match="--teachers-only"):
            stood_in_pipeline(tmp_path, f"--seeds 2 --teachers-only {extra}")


def test_updates_sets_the_teacher_and_every_student_to_one_budget(tmp_path):
    """--updates N: the teacher and a student from scratch train N updates, a distilled student the profile's
    stage 1 (converge: 150) and N - 150 in stage 2; each warm-up is a tenth of its stage, plus one."""
    calls = {call.split()[1]: call for call in stood_in_pipeline(tmp_path, (
        '--stage1 fit-kd --ratios 20 --seeds 1 --scratch - --seqkd - --distilled - --updates 3000'))
        if call.startswith("TRAIN")}
    assert list(calls) == ["teacher", "see20x.stage1.seed1", "see20x.stage2.seed1", "see20x.scratch.seed1"]
    assert calls["teacher"].endswith("--max-update 3000")
    assert "--warmup-updates 16 --max-update 150" in calls["see20x.stage1.seed1"]
    assert calls["see20x.stage2.seed1"].endswith("--warmup-updates 286 --max-update 2850")
    assert calls["see20x.scratch.seed1"].endswith("--warmup-updates 301 --max-update 3000")


def test_a_work_dir_carries_on_from_another_checkout(tmp_path):
    """The steps' records name the plugin as <plugin>, not by its path: the teacher trained from one checkout
    is neither retrained nor deleted when the same command runs from a copy of it elsewhere; a marker of the
    earlier form (the plugin's path in it) still counts when the run is from the checkout that made it."""
    first, work = run_with_a_stand_in_trainer(tmp_path, status=0)
    # the stand-in's empty checkpoint cannot be evaluated: the run stops there, the teacher marked done
    assert first.returncode != 0 and "train.teacher" in markers(work), first.stdout[-2000:] + first.stderr[-2000:]
    marker = markers(work)["train.teacher"]
    assert "option <plugin>" in marker and os.path.join(REPO, "fairseq_see") not in marker
    calls = (tmp_path / "trainer_calls.txt").read_text().splitlines()
    assert calls == [f"{work}/ckpt/teacher"]

    copy = tmp_path / "another checkout"
    for part in ("examples", "fairseq_see"):
        shutil.copytree(os.path.join(REPO, part), copy / part, ignore=shutil.ignore_patterns("__pycache__"))
    again, _ = run_with_a_stand_in_trainer(tmp_path, status=0, run_sh=str(copy / "examples/iwslt17_zh_en/run.sh"))
    assert "train teacher" not in again.stdout, again.stdout[-2000:]
    assert (tmp_path / "trainer_calls.txt").read_text().splitlines() == calls
    assert (work / "ckpt" / "teacher" / "checkpoint_last.pt").exists()

    # the earlier form: the path where <plugin> is now, and the fingerprint of that body
    body = marker.split("\n", 1)[1].replace("<plugin>", os.path.join(REPO, "fairseq_see"))
    (work / ".done" / "train.teacher").write_text(f"sha256 {hashlib.sha256(body.encode()).hexdigest()}\n{body}")
    earlier, _ = run_with_a_stand_in_trainer(tmp_path, status=0)
    assert "train teacher" not in earlier.stdout and (tmp_path / "trainer_calls.txt").read_text().splitlines() == calls


def profile_settings(profile):
    """What set_profile leaves for ``profile``: the model's size options and the budgets, as one line."""
    script = (f'source "{PIPELINE_SH}"\nPROFILE={profile}; set_profile\n'
              'echo "${ARCH_ARGS[*]} ${DEVICE_ARGS[*]} $N_TRAIN $SPM_ZH $SPM_EN $MAX_TOKENS $LR $WARMUP '
              '$TEACHER_UPDATES $STAGE1_UPDATES $STAGE2_UPDATES $RATIOS $SEEDS"')
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_converge256_is_converge_at_d_256():
    """--profile converge256: the converge profile's data, budgets and rows with d 256 and FFN 1024."""
    at_128, at_256 = profile_settings("converge"), profile_settings("converge256")
    assert "--encoder-embed-dim 128 --decoder-embed-dim 128 --encoder-ffn-embed-dim 512" in at_128
    assert "--encoder-embed-dim 256 --decoder-embed-dim 256 --encoder-ffn-embed-dim 1024" in at_256
    assert at_256.replace("256", "128").replace("1024", "512") == at_128
    assert at_128.endswith("--cpu 50000 6000 6000 4096 2e-3 100 1500 150 1350 20 80 1 2")
