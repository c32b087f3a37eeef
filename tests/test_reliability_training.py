"""Training reliability on a tiny real slice (TVsub, jieba + sentencepiece + fairseq-preprocess, the
saved index of the real HowNet lexicons), all through the stock fairseq CLIs:
- a run killed with SIGKILL mid-epoch resumes from checkpoint_last.pt and logs the same losses as an
  uninterrupted run; two fresh runs give identical parameters (determinism);
- 2 processes (torch.distributed, gloo, CPU) reach the loss of 1 process with the same effective
  batch; the index stays a buffer, identical on every rank, never all-reduced; ranks that built
  different indexes stop with one line instead of training apart;
- traditional script, full-width forms, emoji and mixed Latin/Chinese pass through jieba, index
  building and generation.
(Distillation is not covered here: its criterion was being written at the same time.)"""

import json
import lzma
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys

import pytest
import torch

from conftest import GLOSSARY, REPO, SEMEME_NAMES, THUNLP, VENV_BIN, ZH_EN, build, cli, shared_or_skip, write

TVSUB = os.path.join(ZH_EN, "train", "tvsub")
USER_DIR = os.path.join(REPO, "fairseq_see")
# one intra-op thread per process: tiny models, 2 cores shared by several processes (more threads only spin)
ENV = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1", PATH=VENV_BIN + os.pathsep + os.environ.get("PATH", ""))
UPDATES, SAVE_EVERY, KILL_AFTER = 14, 5, 6  # save at 5 and 10, kill once update 6 is logged


def run(argv, cwd, timeout=300, check=True):
    result = subprocess.run([str(a) for a in argv], cwd=cwd, env=ENV, capture_output=True, text=True,
                            timeout=timeout)
    if check:
        assert result.returncode == 0, f"{argv[0]} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def write_lines(path, lines):
    write(path, "\n".join(lines) + "\n")


UNICODE = [  # (Chinese side, English side)
    ("這是一個測試，我們說繁體中文。", "This is a test, we speak traditional Chinese."),
    ("ＡＢＣ１２３，全角字符：（测试）！", "ABC123, full-width characters: (test)!"),
    ("我今天很开心😀🎉", "I am very happy today"),
    ("👨\u200d👩\u200d👧 家庭 emoji", "family emoji"),
    ("我用iPhone和WiFi上网，café naïve", "I use my iPhone and WiFi, café naïve"),
    ("罕见字𠀀𪚥和〇", "rare characters"),
]


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """400 TVsub pairs (+ the UNICODE lines as the test set): jieba (its own CLI), sentencepiece,
    fairseq-preprocess, fairseq-see-index with the real lexicons."""
    shared_or_skip(os.path.join(TVSUB, "train.zh.xz"), GLOSSARY, THUNLP, SEMEME_NAMES)
    import sentencepiece as spm
    work = tmp_path_factory.mktemp("reliability_training")
    pairs = {}
    for lang in ("zh", "en"):
        with lzma.open(os.path.join(TVSUB, f"train.{lang}.xz"), "rt", encoding="utf-8") as f:
            pairs[lang] = [next(f).rstrip("\n") for _ in range(400)]
    splits = {"train": (pairs["zh"][:360], pairs["en"][:360]), "valid": (pairs["zh"][360:], pairs["en"][360:]),
              "test": ([z for z, _ in UNICODE], [e for _, e in UNICODE])}
    # one jieba run over every split (it keeps lines: one output line per input line)
    write_lines(work / "all.raw.zh", [line for zh, _ in splits.values() for line in zh])
    segmented = run([sys.executable, "-m", "jieba", "-q", "-d", " ", "all.raw.zh"], cwd=work).stdout.splitlines()
    assert len(segmented) == sum(len(zh) for zh, _ in splits.values())
    start = 0
    for split, (zh, en) in splits.items():
        write_lines(work / f"{split}.seg.zh", [" ".join(s.split()) for s in segmented[start:start + len(zh)]])
        write_lines(work / f"{split}.raw.en", en)
        start += len(zh)
    for lang, source, vocab in (("zh", "seg", 700), ("en", "raw", 400)):
        spm.SentencePieceTrainer.train(input=str(work / f"train.{source}.{lang}"), model_prefix=str(work / f"spm.{lang}"),
                                       vocab_size=vocab, hard_vocab_limit=False, character_coverage=1.0, minloglevel=2)
        processor = spm.SentencePieceProcessor(model_file=str(work / f"spm.{lang}.model"))
        for split in splits:
            with open(work / f"{split}.{source}.{lang}", encoding="utf-8") as f:
                lines = f.read().splitlines()
            write_lines(work / f"{split}.spm.{lang}", [" ".join(processor.encode(s, out_type=str)) for s in lines])
    run([cli("fairseq-preprocess"), "--source-lang", "zh", "--target-lang", "en", "--trainpref", "train.spm",
         "--validpref", "valid.spm", "--testpref", "test.spm", "--destdir", "bin", "--workers", "1"], cwd=work)
    run([cli("fairseq-see-index"), "bin", "--sememe-lexicon", f"{GLOSSARY},{THUNLP}", "--sememe-names", SEMEME_NAMES],
        cwd=work)
    return work


def train_args(data, save_dir, updates, *extra):
    """fairseq-train's arguments (after the program name); the saved index stands in for the lexicon."""
    return [data, "--user-dir", USER_DIR, "--task", "translation_sememe", "--arch", "see_transformer_tiny",
            "--optimizer", "adam", "--lr", "2e-3", "--lr-scheduler", "inverse_sqrt", "--warmup-updates", "10",
            "--criterion", "label_smoothed_cross_entropy", "--label-smoothing", "0.1", "--max-tokens", "400",
            "--max-update", str(updates), "--save-dir", save_dir, "--save-interval-updates", str(SAVE_EVERY),
            "--no-epoch-checkpoints", "--disable-validation", "--log-format", "json", "--log-interval", "1",
            "--seed", "1", "--required-batch-size-multiple", "1", "--num-workers", "0", "--cpu", *extra]


def logged_updates(text):
    """{update number: the train_inner record} of a json-format fairseq log."""
    records = {}
    for line in text.splitlines():
        if "| train_inner |" in line:
            record = json.loads(line[line.index("{"):])
            records[int(record["num_updates"])] = record
    return records


def model_state(path):
    return torch.load(path, map_location="cpu", weights_only=False)["model"]


def max_difference(a, b):
    assert a.keys() == b.keys()
    return max((a[k].double() - b[k].double()).abs().max().item() for k in a
               if torch.is_tensor(a[k]) and a[k].is_floating_point())


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def kill_after(argv, cwd, update):
    """Start fairseq-train and SIGKILL it as soon as it has logged ``update``; returns its output."""
    process = subprocess.Popen(argv, cwd=cwd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen = []
    try:
        for line in process.stdout:
            seen.append(line)
            records = logged_updates(line)
            if records and max(records) >= update:
                process.send_signal(signal.SIGKILL)
                break
    finally:
        process.kill()
        process.wait(timeout=60)
    return process.returncode, "".join(seen)


@pytest.fixture(scope="module")
def runs(work):
    """The uninterrupted reference run and a run SIGKILLed mid-epoch, side by side (2 cores)."""
    argv = [cli("fairseq-train"), *train_args("bin", "ck_reference", UPDATES)]
    reference = subprocess.Popen(argv, cwd=work, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        code, killed = kill_after([cli("fairseq-train"), *train_args("bin", "ck_killed", UPDATES)], work, KILL_AFTER)
        output, _ = reference.communicate(timeout=300)
    finally:
        reference.kill()
    assert reference.returncode == 0, output[-3000:]
    return {"reference": logged_updates(output), "killed": logged_updates(killed), "killed_code": code,
            "killed_log": killed}


def test_sigkill_mid_epoch_then_resume_matches_the_uninterrupted_run(work, runs):
    reference, killed = runs["reference"], runs["killed"]
    assert sorted(reference) == list(range(1, UPDATES + 1))
    assert all(r["epoch"] == 1 for r in reference.values())  # mid-epoch throughout
    assert runs["killed_code"] == -signal.SIGKILL, runs["killed_log"][-3000:]
    assert KILL_AFTER <= max(killed) < UPDATES
    files = os.listdir(work / "ck_killed")
    assert f"checkpoint_1_{SAVE_EVERY}.pt" in files and "checkpoint_last.pt" in files

    # determinism: two fresh runs, same seed and data, identical parameters after SAVE_EVERY updates
    first = model_state(work / "ck_reference" / f"checkpoint_1_{SAVE_EVERY}.pt")
    second = model_state(work / "ck_killed" / f"checkpoint_1_{SAVE_EVERY}.pt")
    assert first.keys() == second.keys()
    assert all(torch.equal(first[k], second[k]) for k in first if torch.is_tensor(first[k]))
    for update in killed:  # and the same logged losses up to the kill
        assert killed[update]["loss"] == reference[update]["loss"]

    # resume: the same command again
    result = run([cli("fairseq-train"), *train_args("bin", "ck_killed", UPDATES)], cwd=work)
    log = result.stdout + result.stderr
    loaded = re.search(r"Loaded checkpoint ck_killed/checkpoint_last.pt \(epoch 1 @ (\d+) updates\)", log)
    assert loaded, log[-3000:]
    start = int(loaded.group(1))
    assert start % SAVE_EVERY == 0 and 0 < start < UPDATES  # the last save before the kill, mid-epoch
    resumed = logged_updates(log)
    assert sorted(resumed) == list(range(start + 1, UPDATES + 1))
    for update, record in resumed.items():
        assert abs(float(record["loss"]) - float(reference[update]["loss"])) <= 1e-3, (update, record, reference[update])
    difference = max_difference(model_state(work / "ck_killed" / "checkpoint_last.pt"),
                                model_state(work / "ck_reference" / "checkpoint_last.pt"))
    assert difference <= 1e-5, difference


def distributed_args(rank, world_size, init_method):
    return ["--distributed-world-size", str(world_size), "--distributed-rank", str(rank),
            "--distributed-init-method", init_method, "--distributed-no-spawn",
            "--distributed-backend", "gloo", "--ddp-backend", "legacy_ddp"]


def test_two_processes_match_one_process_with_update_freq_2(work):
    """torchrun starts 2 CPU processes (gloo); each runs stock fairseq-train with its global rank."""
    updates = 4
    common = shlex.join(train_args("bin", "ck_two", updates, "--dropout", "0"))
    command = (f"exec fairseq-train {common} --distributed-world-size $WORLD_SIZE --distributed-rank $RANK "
               "--distributed-init-method env:// --distributed-no-spawn --distributed-backend gloo "
               "--ddp-backend legacy_ddp")
    one = subprocess.Popen([cli("fairseq-train"), *train_args("bin", "ck_one", updates, "--dropout", "0",
                                                              "--update-freq", "2")],
                           cwd=work, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        two = run([cli("torchrun"), "--nnodes", "1", "--nproc-per-node", "2", "--master-addr", "127.0.0.1",
                   "--master-port", free_port(), "--no-python", "sh", "-c", command], cwd=work)
        one_log, _ = one.communicate(timeout=300)
    finally:
        one.kill()
    assert one.returncode == 0, one_log[-3000:]
    two_log = two.stdout + two.stderr
    assert "training on 2 devices" in two_log and "distributed init (rank 1): env://" in two_log
    for side in ("source", "target"):
        assert re.search(rf"SEE index \({side}\): identical on all 2 ranks \(sha256 [0-9a-f]{{12}}\)", two_log)
    two_losses, one_losses = logged_updates(two_log), logged_updates(one_log)
    assert sorted(two_losses) == sorted(one_losses) == list(range(1, updates + 1))
    for update in one_losses:
        assert abs(float(two_losses[update]["loss"]) - float(one_losses[update]["loss"])) <= 1e-3
        assert two_losses[update]["bsz"] == one_losses[update]["bsz"]  # the same effective batch
    two_state = model_state(work / "ck_two" / "checkpoint_last.pt")
    one_state = model_state(work / "ck_one" / "checkpoint_last.pt")
    assert max_difference(two_state, one_state) <= 1e-5

    # the index: a buffer, not a parameter (DDP wrappers all-reduce parameters' gradients only),
    # and still exactly the saved index after training on 2 ranks
    from fairseq_see.lexicon import SememeIndex
    for prefix, lang in (("encoder", "zh"), ("decoder", "en")):
        saved = SememeIndex.load(str(work / "bin" / f"see_index.{lang}.npz"))
        assert torch.equal(two_state[f"{prefix}.embed_tokens.unit_ids"], torch.from_numpy(saved.unit_ids))


def test_index_is_a_buffer_not_a_parameter(data_dir):
    _, model = build(data_dir)
    parameters, buffers = dict(model.named_parameters()), dict(model.named_buffers())
    for side in ("encoder", "decoder"):
        assert f"{side}.embed_tokens.unit_ids" in buffers and f"{side}.embed_tokens.unit_ids" not in parameters
        assert not buffers[f"{side}.embed_tokens.unit_ids"].requires_grad


def test_ranks_with_different_indexes_stop_with_one_line(work):
    """Rank 1's data directory has an index from another lexicon (think: another node's copy)."""
    from fairseq_see.lexicon import INDEX_FILE, build_index, read_fairseq_dictionary, read_lexicon
    other = work / "bin_rank1"
    shutil.copytree(work / "bin", other, ignore=shutil.ignore_patterns("see_index.*"))
    lexicon = read_lexicon(write(work / "other_lexicon.txt", "我\n人 \n你\n人 \n"))
    for lang in ("zh", "en"):
        symbols, counts = read_fairseq_dictionary(str(other / f"dict.{lang}.txt"))
        build_index(symbols, counts, lexicon, 3, 4, lexicon_name="other_lexicon.txt").save(
            str(other / INDEX_FILE.format(lang=lang)))
    init = f"tcp://127.0.0.1:{free_port()}"
    processes = [subprocess.Popen([cli("fairseq-train"), *train_args(data, f"ck_mismatch{rank}", 2),
                                   *distributed_args(rank, 2, init)], cwd=work, env=ENV,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for rank, data in enumerate(("bin", "bin_rank1"))]
    outputs = [p.communicate(timeout=300) for p in processes]
    for process, (stdout, stderr) in zip(processes, outputs):
        assert process.returncode != 0
        last = stderr.strip().splitlines()[-1]
        assert "Traceback" not in stderr and process.returncode == 1, stderr[-3000:]  # a user error: one line
        assert "the SEE index (source) differs across ranks (rank 0: " in last, stderr[-3000:]
        assert "every node needs the same data directory, lexicon and see_index.<lang>.npz" in last
    for rank in range(2):
        folder = work / f"ck_mismatch{rank}"
        assert not folder.exists() or not [f for f in os.listdir(folder) if f.endswith(".pt")]


def test_multi_process_resume_without_the_index_stops_with_one_line(work, runs):
    """Neither --sememe-lexicon nor see_index.*.npz: the model is built with a placeholder index and
    fairseq wraps it for data parallelism before loading the checkpoint, so the checkpoint's unit
    tables could not join the gradient averaging (found: the ranks drifted apart silently)."""
    data, save = work / "bin_no_index", work / "ck_resume_two"
    shutil.copytree(work / "bin", data, ignore=shutil.ignore_patterns("see_index.*"))
    os.makedirs(save)
    shutil.copy(work / "ck_reference" / f"checkpoint_1_{SAVE_EVERY}.pt", save / "checkpoint_last.pt")
    init = f"tcp://127.0.0.1:{free_port()}"
    processes = [subprocess.Popen([cli("fairseq-train"), *train_args(data.name, save.name, UPDATES),
                                   *distributed_args(rank, 2, init)], cwd=work, env=ENV,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for rank in range(2)]
    outputs = [p.communicate(timeout=300) for p in processes]
    for process, (stdout, stderr) in zip(processes, outputs):
        assert process.returncode != 0
        last = stderr.strip().splitlines()[-1]
        assert "Traceback" not in stderr and process.returncode == 1, stderr[-3000:]
        assert "fairseq-see: error: bin_no_index/dict.zh.txt: this 2-process run built its SEE model (source) " \
               "without the checkpoint's index" in last, stderr[-3000:]
        assert "pass --sememe-lexicon as for the first run, or save the index beside the dictionaries" in last
    assert os.listdir(save) == ["checkpoint_last.pt"]


def test_unicode_through_jieba_index_and_generation(work, runs):
    """The UNICODE lines went through the fixture's jieba run, sentencepiece and fairseq-preprocess."""
    with open(work / "test.seg.zh", encoding="utf-8") as f:
        tokens = [line.split() for line in f.read().splitlines()]
    # jieba keeps every character; it splits full-width letters/digits and accented Latin words
    # ("café" -> "caf", "é") into pieces, and keeps a zero-width joiner as a token of its own
    assert ["".join(t) for t in tokens] == ["".join(z.split()) for z, _ in UNICODE]
    assert {"😀", "𠀀", "Ａ", "iPhone", "\u200d", "測試", "测试"} <= {t for line in tokens for t in line}

    # index building over a dictionary of those tokens (the real lexicon is Simplified Chinese)
    from fairseq_see.lexicon import build_index, load_lexicons
    vocabulary = list(dict.fromkeys(t for line in tokens for t in line))
    symbols = ["<s>", "<pad>", "</s>", "<unk>"] + vocabulary
    # every unit kept (min_readers=1): each of these characters is in one token of this tiny vocabulary
    index = build_index(symbols, [1] * len(symbols), load_lexicons(GLOSSARY), 3, 4, min_readers=1)
    units = {u.split("/", 1)[1] for u in index.units}
    for unit in ("mor:😀", "mor:測", "mor:試", "mor:𠀀", "mor:Ａ", "mor:iPhone", "mor:\u200d"):
        assert unit in units, unit
    assert index.unit_ids.max() < len(index.units) and index.distinct_rows() == len(symbols)
    assert index.covered[symbols.index("测试")]  # Simplified: sememes; Traditional 測試 falls back to characters
    index.save(str(work / "see_index.unicode.npz"))  # and it saves

    # generation with the reference model: every sentence gets a hypothesis
    result = run([cli("fairseq-generate"), "bin", "--user-dir", USER_DIR, "--task", "translation_sememe",
                  "--path", "ck_reference/checkpoint_last.pt", "--gen-subset", "test", "--beam", "2",
                  "--batch-size", "8", "--required-batch-size-multiple", "1", "--remove-bpe", "sentencepiece",
                  "--cpu"], cwd=work)
    sources = dict(re.findall(r"^S-(\d+)\t(.*)$", result.stdout, flags=re.M))
    hypotheses = re.findall(r"^H-(\d+)\t", result.stdout, flags=re.M)
    assert sorted(map(int, hypotheses)) == list(range(len(UNICODE)))
    assert any("<unk>" in s for s in sources.values())  # characters unseen in training are <unk>, not a crash
