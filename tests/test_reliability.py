"""Bad input through the stock CLIs (fairseq-train, fairseq-generate, fairseq-see-index): a non-zero
exit, a last stderr line that names the file (or option) and the fix, and no half-written output.
Interrupted index writes leave the old file intact. Self-made tiny data only (no ../shared needed).

Every CLI case is one subprocess; they all run in one module fixture, two at a time (each is mostly
torch + fairseq import time), and each test then reads its own case."""

import concurrent.futures
import os
import resource
import shutil
import signal
import subprocess
import sys

import pytest

from conftest import REPO, cli, write

USER_DIR = os.path.join(REPO, "fairseq_see")
# self-made parallel text, pre-segmented Chinese (jieba is not the point here)
ZH = ["我 吃 苹果", "你 吃 梨", "我 很 好", "苹果 很 好", "你 好", "梨 很 好 吃", "我 吃 梨", "你 吃 苹果"] * 3
EN = ["I eat apples", "you eat pears", "I am fine", "apples are good", "hello", "pears taste good",
      "I eat pears", "you eat apples"] * 3
THUNLP_LEXICON = "苹果\n水果 树 电脑 \n梨\n水果 树 \n吃\n吃 \n好\n良 \n"
GLOSSARY_LINE = "苹果\tN\tfruit|水果\n"


ENV = dict(os.environ, OMP_NUM_THREADS="1")  # several processes share 2 cores: more threads only spin


def run(argv, cwd, env=None, timeout=300):
    return subprocess.run([str(a) for a in argv], cwd=cwd, env=env or ENV, capture_output=True, text=True,
                          timeout=timeout)


def last_line(result):
    lines = result.stderr.strip().splitlines()
    return lines[-1] if lines else ""


def assert_one_line_error(result, *fragments):
    """Non-zero exit, and the last stderr line carries every fragment (file, problem, fix)."""
    assert result.returncode != 0, f"expected a failure:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
    line = last_line(result)
    for fragment in fragments:
        assert fragment in line, f"{fragment!r} not in the last stderr line:\n{line}\n---\n{result.stderr[-3000:]}"


def train_argv(data, save_dir, *extra):
    return [cli("fairseq-train"), data, "--user-dir", USER_DIR, "--task", "translation_sememe",
            "--arch", "see_transformer_tiny", "--optimizer", "adam", "--lr", "1e-3", "--max-tokens", "200",
            "--max-update", "1", "--save-dir", save_dir, "--no-epoch-checkpoints", "--seed", "1",
            "--required-batch-size-multiple", "1", "--num-workers", "0", "--cpu", *extra]


def copy_data(src, dst, dictionaries=None):
    """A copy of a data-bin (binaries + dictionaries), optionally with other dictionaries."""
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("see_index.*"))
    for lang, lines in (dictionaries or {}).items():
        write(os.path.join(dst, f"dict.{lang}.txt"), "".join(line + "\n" for line in lines))
    return dst


def dictionary_lines(data, lang):
    with open(os.path.join(data, f"dict.{lang}.txt"), encoding="utf-8") as f:
        return f.read().splitlines()


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    """A tiny data-bin, lexicons good and bad, and a 1-update checkpoint trained on it."""
    work = tmp_path_factory.mktemp("reliability")
    write(work / "train.zh", "\n".join(ZH) + "\n")
    write(work / "train.en", "\n".join(EN) + "\n")
    result = run([cli("fairseq-preprocess"), "--source-lang", "zh", "--target-lang", "en", "--trainpref", "train",
                  "--validpref", "train", "--destdir", "bin", "--workers", "1"], cwd=work)
    assert result.returncode == 0, result.stderr
    write(work / "lex.txt", THUNLP_LEXICON)
    result = run(train_argv("bin", "ckpt", "--sememe-lexicon", "lex.txt"), cwd=work)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return work


def cases(work):
    """name -> (argv, env) of every bad-input run."""
    lines = dictionary_lines(work / "bin", "zh")
    swapped = lines[:]
    swapped[0], swapped[1] = swapped[1], swapped[0]
    # data dirs whose saved index or dictionaries do not fit
    copy_data(work / "bin", work / "bin_swapped", {"zh": swapped})  # same size, other order
    copy_data(work / "bin", work / "bin_bigger", {"zh": lines + ["新词 1"]})  # one symbol more
    copy_data(work / "bin", work / "bin_index_size")
    # (the same-size, other-order case is the same checksum test: see test_index.py)
    from fairseq_see.lexicon import build_index, read_fairseq_dictionary, read_lexicon
    symbols, counts = read_fairseq_dictionary(str(work / "bin" / "dict.zh.txt"))
    build_index(symbols + ["新词"], counts + [1], read_lexicon(str(work / "lex.txt")), 3, 4,
                lexicon_name="lex.txt").save(str(work / "bin_index_size" / "see_index.zh.npz"))
    # lexicons that cannot be read
    write(work / "unknown.txt", "苹果\tfruit\n梨\tfruit\n")  # tabs, but neither 3 fields nor thunlp
    write(work / "garbled.txt", GLOSSARY_LINE * 25 + "梨\tN\n" + GLOSSARY_LINE)  # line 26 has 2 fields
    write(work / "empty.txt", "")
    home = work / "home"  # OpenHowNet installed, its data (~/.openhownet) absent
    os.makedirs(home, exist_ok=True)
    no_openhownet = dict(ENV, HOME=str(home))
    # a data dir whose second dictionary (languages go in order: en, zh) is broken, for fairseq-see-index
    copy_data(work / "bin", work / "bin_broken_zh")
    write(work / "bin_broken_zh" / "dict.zh.txt", "苹果 3\nbroken-line-without-count\n")

    def train(name, data, *extra, env=None):
        return train_argv(data, f"ck_{name}", *extra), env

    generate = [cli("fairseq-generate"), "--user-dir", USER_DIR, "--task", "translation_sememe",
                "--path", "ckpt/checkpoint_last.pt", "--gen-subset", "valid", "--batch-size", "8", "--cpu"]
    index = [cli("fairseq-see-index")]
    return {
        "missing_lexicon": train("missing_lexicon", "bin", "--sememe-lexicon", "nope.txt"),
        "unknown_format": train("unknown_format", "bin", "--sememe-lexicon", "unknown.txt"),
        "garbled_lexicon": train("garbled_lexicon", "bin", "--sememe-lexicon", "garbled.txt"),
        "empty_lexicon": train("empty_lexicon", "bin", "--sememe-lexicon", "empty.txt"),
        "openhownet_absent": train("openhownet_absent", "bin", "--sememe-lexicon", "openhownet", env=no_openhownet),
        "index_size": train("index_size", "bin_index_size"),
        "order_too_high": train("order_too_high", "bin", "--sememe-lexicon", "lex.txt", "--see-order", "7"),
        "tables_zero": train("tables_zero", "bin", "--sememe-lexicon", "lex.txt", "--see-tables", "0"),
        "resume_other_dictionary": (train_argv("bin_swapped", "ck_resume", "--max-update", "2"), None),
        "generate_bigger_dictionary": ([generate[0], "bin_bigger", *generate[1:]], None),
        "index_cli_broken_second_dictionary": (index + ["bin_broken_zh", "--sememe-lexicon", "lex.txt"], None),
    }


@pytest.fixture(scope="module")
def results(work):
    todo = cases(work)
    os.makedirs(work / "ck_resume")
    shutil.copy(work / "ckpt" / "checkpoint_last.pt", work / "ck_resume")
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        futures = {name: pool.submit(run, argv, work, env) for name, (argv, env) in todo.items()}
        return {name: future.result() for name, future in futures.items()}


def no_checkpoint_written(work, name):
    folder = work / f"ck_{name}"
    return not folder.exists() or not [f for f in os.listdir(folder) if f.endswith(".pt")]


@pytest.mark.parametrize("name, fragments", [
    ("missing_lexicon", ["nope.txt: lexicon not found", "pass an existing file to --sememe-lexicon"]),
    ("unknown_format", ["unknown.txt: unknown lexicon format", "name it with --sememe-lexicon-format"]),
    ("garbled_lexicon", ["garbled.txt:26: expected 'word<TAB>POS<TAB>definition'", "fix the line"]),
    ("empty_lexicon", ["empty.txt: lexicon is empty", "pass a non-empty sememe lexicon"]),
    ("openhownet_absent", [os.path.join(".openhownet", "resources"), "OpenHowNet data missing",
                           "OpenHowNet.download()"]),
])
def test_bad_lexicon_stops_training_with_one_line(work, results, name, fragments):
    assert_one_line_error(results[name], *fragments)
    assert no_checkpoint_written(work, name)


@pytest.mark.parametrize("name, fragments", [
    ("index_size", ["bin_index_size/dict.zh.txt: ", "but bin_index_size/see_index.zh.npz has ",
                    "rebuild it with fairseq-see-index"]),
])
def test_saved_index_that_does_not_fit_its_dictionary(work, results, name, fragments):
    assert_one_line_error(results[name], *fragments)
    assert no_checkpoint_written(work, name)
    vocab = len(dictionary_lines(work / "bin", "zh")) + 4
    assert f"{vocab} symbols, but bin_index_size/see_index.zh.npz has {vocab + 1} rows" in last_line(results[name])


@pytest.mark.parametrize("name, fragments", [
    ("order_too_high", ["--see-order 7 does not fit embedding dimension 64", "use an order with",
                        "for d=64: 1, 2, 3, 4, 6"]),
    # an explicit 0 used to become the default silently
    ("tables_zero", ["--see-order, --see-rank and --see-tables must be >= 1 (got 3, 4, 0)"]),
])
def test_see_sizes_that_cannot_give_the_model_dimension(work, results, name, fragments):
    assert_one_line_error(results[name], *fragments)
    assert no_checkpoint_written(work, name)


def test_checkpoint_for_other_dictionaries_is_refused_by_train_and_generate(work, results):
    # fairseq-train re-raises its own "Cannot load model parameters" error; the plugin's line stays last
    resume = results["resume_other_dictionary"]
    assert "Cannot load model parameters from checkpoint ck_resume/checkpoint_last.pt" in resume.stderr
    assert_one_line_error(resume, "fairseq-see: error: bin_swapped/dict.zh.txt: not the dictionary the checkpoint's "
                                  "SEE index (source) was built for", "pass the data directory the model was trained with")
    # the checkpoint that could not be resumed is untouched, and nothing else was written
    assert sorted(os.listdir(work / "ck_resume")) == ["checkpoint_last.pt"]
    with open(work / "ck_resume" / "checkpoint_last.pt", "rb") as a, open(work / "ckpt" / "checkpoint_last.pt", "rb") as b:
        assert a.read() == b.read()
    vocab = len(dictionary_lines(work / "bin", "zh")) + 4
    assert_one_line_error(results["generate_bigger_dictionary"],
                          f"bin_bigger/dict.zh.txt: {vocab + 1} symbols, but the checkpoint's SEE index (source) "
                          f"has {vocab} rows", "pass the data directory the model was trained with")
    assert not [line for line in results["generate_bigger_dictionary"].stdout.splitlines() if line.startswith("H-")]


def test_index_cli_bad_input_is_one_line_and_writes_nothing(work, results):
    """(fairseq-see-index's missing-lexicon case is in test_index.py)"""
    # dict.zh.txt is broken: the en index, built first and fine, must not be written either
    broken = results["index_cli_broken_second_dictionary"]
    assert broken.returncode == 1 and broken.stderr.strip().count("\n") == 0
    assert_one_line_error(broken, "bin_broken_zh/dict.zh.txt:2: expected '<token> <count>'",
                          "regenerate the dictionary with fairseq-preprocess")
    assert not [f for f in os.listdir(work / "bin_broken_zh") if "see_index" in f]


def limit_file_size(limit):
    """preexec_fn: writes past ``limit`` bytes fail midway with EFBIG (SIGXFSZ ignored, so no core dump)."""
    def apply():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def test_interrupted_index_write_leaves_the_old_file(tmp_path):
    """fairseq-see-index writes a temporary file beside the target and renames it: a write that
    fails midway (here a real one: the process may write 512 bytes per file) leaves the previous
    index byte for byte, and no temporary behind; the CLI says so in one line."""
    write(tmp_path / "dict.zh.txt", "▁苹果 5\n梨 3\n")
    write(tmp_path / "lex.txt", THUNLP_LEXICON)
    argv = [cli("fairseq-see-index"), str(tmp_path), "--sememe-lexicon", str(tmp_path / "lex.txt")]
    assert run(argv, tmp_path).returncode == 0
    path = tmp_path / "see_index.zh.npz"
    before = path.read_bytes()
    assert len(before) > 512
    result = subprocess.run([*argv, "--see-rank", "2"], cwd=tmp_path, env=ENV, capture_output=True, text=True,
                            timeout=300, preexec_fn=limit_file_size(512))
    assert_one_line_error(result, f"{path}: cannot write the index (File too large); the previous file is unchanged",
                          "free disk space or make the data directory writable")
    assert result.stderr.strip().count("\n") == 0
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["dict.zh.txt", "lex.txt", "see_index.zh.npz"]


def test_interrupted_export_write_leaves_the_old_file(tmp_path):
    """The other writers (export, extend) go through lexicon/files.atomic_output: same guarantee."""
    files = pytest.importorskip("fairseq_see.lexicon.files", reason="atomic_output (export/extend) not present")
    target = write(tmp_path / "checkpoint.pt", "the old file\n")
    for error in (OSError(28, "No space left on device"), KeyboardInterrupt()):
        with pytest.raises(type(error)):
            with files.atomic_output(str(target)) as tmp:
                with open(tmp, "w") as f:
                    f.write("half of the new")
                raise error
        assert target.read_text() == "the old file\n"
        assert os.listdir(tmp_path) == ["checkpoint.pt"]
    with files.atomic_output(str(target)) as tmp:
        with open(tmp, "w") as f:
            f.write("new\n")
    assert target.read_text() == "new\n" and os.listdir(tmp_path) == ["checkpoint.pt"]


def test_disk_full_message_names_the_file(tmp_path, monkeypatch, capsys):
    from fairseq_see.cli import index as index_cli
    from fairseq_see.lexicon import index as index_module
    write(tmp_path / "dict.zh.txt", "▁苹果 5\n")
    write(tmp_path / "lex.txt", THUNLP_LEXICON)

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(index_module.os, "replace", full)
    assert index_cli.main([str(tmp_path), "--sememe-lexicon", str(tmp_path / "lex.txt")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and f"{tmp_path / 'see_index.zh.npz'}: cannot write the index" in err
    assert "No space left on device" in err and "free disk space" in err
    assert sorted(os.listdir(tmp_path)) == ["dict.zh.txt", "lex.txt"]


def test_plugin_error_is_the_last_line_even_when_fairseq_wraps_it(monkeypatch, capsys):
    """The hook in isolation (the CLI case is resume_other_dictionary above): a plugin ValueError
    re-raised by someone else as a plain Exception still ends the report; other errors are left alone."""
    from fairseq_see.lexicon import load_lexicons
    from fairseq_see.errors import install_excepthook
    printed = []
    monkeypatch.setattr(sys, "excepthook", lambda kind, value, tb: printed.append(f"{kind.__name__}: {value}"))
    install_excepthook()
    install_excepthook()  # idempotent: one extra line, not two
    try:
        try:
            load_lexicons("/nonexistent/lexicon.txt")
        except Exception:
            raise Exception("Cannot load model parameters from checkpoint x.pt; please ensure that the "
                            "architectures match.")
    except Exception as e:
        sys.excepthook(type(e), e, e.__traceback__)
    assert printed == ["Exception: Cannot load model parameters from checkpoint x.pt; please ensure that the "
                       "architectures match."]
    assert capsys.readouterr().err == ("fairseq-see: error: /nonexistent/lexicon.txt: lexicon not found; pass an "
                                       "existing file to --sememe-lexicon or 'openhownet'\n")
    try:
        raise ValueError("elsewhere")  # raised in this test file, not in fairseq_see
    except ValueError as e:
        sys.excepthook(type(e), e, e.__traceback__)
    assert printed[-1] == "ValueError: elsewhere" and capsys.readouterr().err == ""
