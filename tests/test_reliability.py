"""Bad input through the stock CLIs (fairseq-train, fairseq-generate) and the plugin's own
(fairseq-see-index, -export, -extend, -recipe): a non-zero exit, one stderr line, without a
traceback, that names the file (or option) and the fix, and no half-written output. Interrupted
index writes leave the old file intact, and their leftovers go at the next write. Self-made tiny
data only (no ../shared needed).

Every CLI case is one subprocess; they all run in one module fixture, two at a time (each is mostly
torch + fairseq import time), and each test then reads its own case."""

import concurrent.futures
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time

import pytest

from conftest import REPO, cli, write

USER_DIR = os.path.join(REPO, "fairseq_see")
# self-made parallel text, pre-segmented Chinese (jieba is not the point here)
ZH = ["我 吃 苹果", "你 吃 梨", "我 很 好", "苹果 很 好", "你 好", "梨 很 好 吃", "我 吃 梨", "你 吃 苹果"] * 3
EN = ["I eat apples", "you eat pears", "I am fine", "apples are good", "hello", "pears taste good",
      "I eat pears", "you eat apples"] * 3
THUNLP_LEXICON = "苹果\n水果 树 电脑 \n梨\n水果 树 \n吃\n吃 \n好\n良 \n"
# OpenHowNet's sememe_dict_all shape: {"english|中文": frequency}
SEMEME_NAMES = {"fruit|水果": 9, "tree|树": 8, "computer|电脑": 7, "eat|吃": 6, "good|良": 5}
GLOSSARY_LINE = "苹果\tN\tfruit|水果\n"


ENV = dict(os.environ, OMP_NUM_THREADS="1")  # several processes share 2 cores: more threads only spin


def run(argv, cwd, env=None, timeout=300):
    return subprocess.run([str(a) for a in argv], cwd=cwd, env=env or ENV, capture_output=True, text=True,
                          timeout=timeout)


def last_line(result):
    lines = result.stderr.strip().splitlines()
    return lines[-1] if lines else ""


def assert_one_line_error(result, *fragments):
    """Exit status 1, no traceback, and the last stderr line carries every fragment (file, problem, fix)."""
    assert result.returncode == 1, f"expected exit 1:\n{result.stdout[-2000:]}\n{result.stderr[-2000:]}"
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
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
    # saved indexes cut to half, and empty (an interrupted copy)
    saved = build_index(symbols, counts, read_lexicon(str(work / "lex.txt")), 3, 4, lexicon_name="lex.txt")
    for name in ("bin_index_half", "bin_index_empty"):
        copy_data(work / "bin", work / name)
        saved.save(str(work / name / "see_index.zh.npz"))
    data = (work / "bin_index_half" / "see_index.zh.npz").read_bytes()
    (work / "bin_index_half" / "see_index.zh.npz").write_bytes(data[:len(data) // 2])
    (work / "bin_index_empty" / "see_index.zh.npz").write_bytes(b"")
    # lexicons and name lists that read wrongly
    (work / "gb18030.txt").write_bytes(THUNLP_LEXICON.encode("gb18030"))
    os.makedirs(work / "lexicon_dir", exist_ok=True)
    thunlp = THUNLP_LEXICON.splitlines()
    # line 2 (苹果's sememes) deleted, a word added at the end: an even line count, every pair shifted
    write(work / "shifted.txt", "\n".join(thunlp[:1] + thunlp[2:] + ["桃"]) + "\n")
    write(work / "names.json", json.dumps(SEMEME_NAMES))
    write(work / "names_strings.json", json.dumps({name: str(f) for name, f in SEMEME_NAMES.items()}))
    # SE-WRL 'word nSenses [k s1..sk]*'; line 3's count is not a number
    write(work / "sewrl.txt", "苹果 1 2 水果 树\n梨 1 1 水果\n吃 one 1 吃\n好 1 1 良\n")
    # fairseq-see-export: a source sentencepiece model, a file that is none, a lexicon for jieba
    import sentencepiece as spm
    spm.SentencePieceTrainer.train(input=str(work / "train.zh"), model_prefix=str(work / "spm.zh"), vocab_size=20,
                                   hard_vocab_limit=False, character_coverage=1.0, minloglevel=2)
    write(work / "garbage.model", "not a sentencepiece model\n")
    write(work / "jieba_words.txt", "苹果很好\n水果 良 \n")  # thunlp format: plain jieba cuts 苹果很好 in three
    # fairseq-see-extend: words files
    write(work / "words_empty.txt", "\n \n")
    (work / "words_gb18030.txt").write_bytes("▁苹果派\n".encode("gb18030"))
    write(work / "words_space.txt", "▁苹果派\n▁量子 力学\n")
    # fairseq-see-recipe check: raw text
    en_lines = "\n".join(["hello", "thanks", "bye"]) + "\n"
    write(work / "raw.en", en_lines)
    (work / "nul.zh").write_bytes("你好\n谢\0谢\n再见\n".encode())
    write(work / "separators.zh", "你好\u2028世界\n谢谢\x85你\n再\x0b见\n")  # U+2028, NEL, VT inside lines
    (work / "crlf.zh").write_bytes("你好\r\r\n谢谢\r\n再见\r\n".encode())  # CR CR LF, CR LF: Windows line ends
    (work / "lone_cr.zh").write_bytes("你好\n谢\r谢\n再见\n".encode())

    def train(name, data, *extra, env=None):
        return train_argv(data, f"ck_{name}", *extra), env

    generate = [cli("fairseq-generate"), "--user-dir", USER_DIR, "--task", "translation_sememe",
                "--path", "ckpt/checkpoint_last.pt", "--gen-subset", "valid", "--batch-size", "8", "--cpu"]
    index = [cli("fairseq-see-index")]
    export = [cli("fairseq-see-export"), "ckpt/checkpoint_last.pt", "--output"]
    extend = [cli("fairseq-see-extend"), "ckpt/checkpoint_last.pt", "--data", "bin", "--sememe-lexicon", "lex.txt",
              "--output"]
    check = [cli("fairseq-see-recipe"), "check"]
    lexicon = ("--sememe-lexicon", "lex.txt")
    return {
        "gb18030_lexicon": train("gb18030_lexicon", "bin", "--sememe-lexicon", "gb18030.txt"),
        "lexicon_is_a_directory": train("lexicon_is_a_directory", "bin", "--sememe-lexicon", "lexicon_dir"),
        "rank_zero": train("rank_zero", "bin", *lexicon, "--see-rank", "0"),
        "index_half": train("index_half", "bin_index_half"),
        "index_empty": train("index_empty", "bin_index_empty"),
        "no_lexicon_no_index": train("no_lexicon_no_index", "bin"),
        "ratio_below_one": train("ratio_below_one", "bin", *lexicon, "--embedding-compression-ratio", "0.5"),
        "ratio_nan": train("ratio_nan", "bin", *lexicon, "--embedding-compression-ratio", "nan"),
        "ratio_inf": train("ratio_inf", "bin", *lexicon, "--embedding-compression-ratio", "inf"),
        "ratio_out_of_reach": train("ratio_out_of_reach", "bin", *lexicon, "--embedding-compression-ratio", "100000"),
        "index_cli_shifted_thunlp": (index + ["bin", "--sememe-lexicon", "shifted.txt"], None),
        "index_cli_shifted_thunlp_names": (index + ["bin", "--sememe-lexicon", "shifted.txt", "--sememe-names",
                                                    "names.json"], None),
        "index_cli_sewrl_bad_count": (index + ["bin", "--sememe-lexicon", "sewrl.txt"], None),
        "index_cli_names_strings": (index + ["bin", "--sememe-lexicon", "lex.txt", "--sememe-names",
                                             "names_strings.json"], None),
        "export_other_dictionary": (export + ["exported_other", "--data", "bin_swapped", "--sentencepiece-model",
                                              "spm.zh.model"], None),
        "export_garbage_sentencepiece": (export + ["exported_garbage", "--data", "bin", "--sentencepiece-model",
                                                   "garbage.model"], None),
        "export_without_sentencepiece": (export + ["exported_without", "--data", "bin"], None),
        "export": (export + ["exported", "--data", "bin", "--sentencepiece-model", "spm.zh.model",
                             "--jieba-lexicon", "jieba_words.txt"], None),
        "export_default_jieba_lexicon": (export + ["exported_default", "--data", "bin", "--sentencepiece-model",
                                                   "spm.zh.model"], None),
        "extend_empty_words": (extend + ["extended_empty", "--words", "words_empty.txt"], None),
        "extend_non_utf8_words": (extend + ["extended_gb18030", "--words", "words_gb18030.txt"], None),
        "extend_word_with_space": (extend + ["extended_space", "--words", "words_space.txt"], None),
        "check_nul": (check + ["nul.zh", "raw.en"], None),
        "check_separators": (check + ["separators.zh", "raw.en"], None),
        "check_crlf": (check + ["crlf.zh", "raw.en"], None),
        "check_lone_cr": (check + ["lone_cr.zh", "raw.en"], None),
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
    # the clear message last, not the UnicodeDecodeError it replaced
    ("gb18030_lexicon", ["fairseq-see: error: gb18030.txt:1: not UTF-8 text", "iconv -f GB18030 -t UTF-8"]),
    ("lexicon_is_a_directory", ["fairseq-see: error: lexicon_dir: is a directory", "pass a lexicon file"]),
])
def test_unreadable_lexicon_stops_training_with_one_line_and_no_traceback(work, results, name, fragments):
    assert_one_line_error(results[name], *fragments)
    assert results[name].stderr.strip().count("\n") == 0
    assert no_checkpoint_written(work, name)


def test_training_without_lexicon_or_index_stops_at_start(work, results):
    """It used to build a placeholder index and die at the first step (exit 134, 'terminate called
    without an active exception'); a placeholder is only right when a checkpoint fills it."""
    result = results["no_lexicon_no_index"]
    assert_one_line_error(result, "fairseq-see: error: bin/dict.zh.txt: no sememe lexicon and no "
                                  "bin/see_index.zh.npz, so no SEE index", "pass --sememe-lexicon",
                          "fairseq-see-index")
    assert "num_updates" not in result.stdout and no_checkpoint_written(work, "no_lexicon_no_index")


@pytest.mark.parametrize("name, fragments", [
    ("index_half", ["bin_index_half/see_index.zh.npz: a truncated or damaged SEE index (BadZipFile",
                    "delete it, then rebuild it with fairseq-see-index"]),
    ("index_empty", ["bin_index_empty/see_index.zh.npz: an empty file, not a SEE index",
                     "delete it, then rebuild it with fairseq-see-index"]),
])
def test_damaged_saved_index_is_one_line_naming_it(work, results, name, fragments):
    assert_one_line_error(results[name], *fragments)
    assert no_checkpoint_written(work, name)


@pytest.mark.parametrize("name, value", [("ratio_below_one", "0.5"), ("ratio_nan", "nan"), ("ratio_inf", "inf")])
def test_compression_ratio_must_be_finite_and_at_least_one(work, results, name, value):
    assert_one_line_error(results[name], f"--embedding-compression-ratio {value}: expected a finite number >= 1")
    assert no_checkpoint_written(work, name)


def test_unreachable_compression_ratio_is_flagged_before_training(results):
    result = results["ratio_out_of_reach"]
    assert result.returncode == 0, result.stderr[-2000:]
    warnings = [line for line in result.stdout.splitlines() if "| WARNING |" in line and "embedding compression" in line]
    assert len(warnings) == 2 and all("requested=100000.00x achieved=" in line and "out of its reach" in line
                                      for line in warnings), warnings
    assert result.stdout.index(warnings[-1]) < result.stdout.index("num_updates")  # before training


@pytest.mark.parametrize("name, fragments", [
    # one line deleted: the word lines hold sememes from there on
    ("index_cli_shifted_thunlp", ["shifted.txt:3: expected a word line, got '水果 树', which looks like a sememe list",
                                  "a line above is missing or extra", "read as thunlp"]),
    # with the names, sooner: line 2 should hold 苹果's sememes
    ("index_cli_shifted_thunlp_names", ["shifted.txt:2: expected the sememes of '苹果', got '梨', which is no sememe "
                                        "name of names.json", "a line above is missing or extra"]),
    ("index_cli_sewrl_bad_count", ["sewrl.txt:3: expected 'word nSenses [k s1..sk]*' with matching counts",
                                   "read as sewrl, detected from its first lines"]),
    ("index_cli_names_strings", ["names_strings.json: the value of 'fruit|水果' is '9', not a frequency",
                                 "sememe_dict_all JSON"]),
])
def test_index_cli_lexicon_content_errors_are_one_line(work, results, name, fragments):
    assert_one_line_error(results[name], *fragments)
    assert results[name].stderr.strip().count("\n") == 0
    assert not [f for f in os.listdir(work / "bin") if "see_index" in f]


@pytest.mark.parametrize("name, output, fragments", [
    # it used to write an export the hub could not load
    ("export_other_dictionary", "exported_other", ["bin_swapped/dict.zh.txt: not the dictionary "
                                                   "ckpt/checkpoint_last.pt was trained with (bin/dict.zh.txt)",
                                                   "pass --data bin"]),
    ("export_garbage_sentencepiece", "exported_garbage", ["garbage.model: not a sentencepiece model",
                                                          "pass the source side's .model"]),
    ("export_without_sentencepiece", "exported_without", ["--sentencepiece-model is needed",
                                                          "the hub interface encodes the source"]),
])
def test_export_refuses_what_the_hub_could_not_use(work, results, name, output, fragments):
    assert_one_line_error(results[name], "fairseq-see-export: error: ", *fragments)
    assert results[name].stderr.strip().count("\n") == 0
    assert not os.path.exists(work / output)


def test_export_records_the_segmentation_and_the_hub_segments_the_same_way(work, results):
    """The recipes segment with jieba keeping the lexicon's words whole; the export writes those words
    beside model.pt (and records them in its config), and from_pretrained segments with them."""
    for name in ("export", "export_default_jieba_lexicon"):
        assert results[name].returncode == 0, results[name].stderr[-2000:]
    assert "source segmentation: jieba with the 1 Chinese word of jieba_words.txt (--jieba-lexicon)" in \
        results["export"].stdout
    # by default: the lexicon the checkpoint was trained with, as the recipes segment
    assert "source segmentation: jieba with the 4 Chinese words of lex.txt (the checkpoint's --sememe-lexicon" in \
        results["export_default_jieba_lexicon"].stdout
    assert sorted(os.listdir(work / "exported")) == ["dict.en.txt", "dict.zh.txt", "jieba_lexicon.txt", "model.pt",
                                                      "sentencepiece.bpe.model"]
    code = ("import json, sys, jieba; from fairseq_see import SEETransformerModel; "
            "hub = SEETransformerModel.from_pretrained(sys.argv[1]); "
            "print('SEGMENTED', json.dumps([hub.tokenizer.encode(sys.argv[2]), ' '.join(jieba.lcut(sys.argv[2])), "
            "dict(hub.cfg.tokenizer)]))")
    result = run([sys.executable, "-c", code, work / "exported", "我吃苹果很好"], work)
    assert result.returncode == 0, result.stderr[-3000:]
    line = next(line for line in result.stdout.splitlines() if line.startswith("SEGMENTED "))
    hub, plain, recorded = json.loads(line[len("SEGMENTED "):])
    assert hub == "我 吃 苹果很好" and plain == "我 吃 苹果 很 好"
    assert recorded["_name"] == "jieba" and recorded["jieba_lexicon"] == str(work / "exported" / "jieba_lexicon.txt")


@pytest.mark.parametrize("name, output, fragments", [
    ("extend_empty_words", "extended_empty", ["words_empty.txt: no words in the file", "one new token per line"]),
    ("extend_non_utf8_words", "extended_gb18030", ["words_gb18030.txt:1: not UTF-8 text", "iconv"]),
    # it used to write '▁量子 力学 0' into dict.zh.txt: a dictionary fairseq cannot read back
    ("extend_word_with_space", "extended_space", ["words_space.txt:2: '▁量子 力学' holds whitespace, and a "
                                                  "dictionary token cannot", "one token per line"]),
])
def test_extend_refuses_bad_words_files(work, results, name, output, fragments):
    assert_one_line_error(results[name], "fairseq-see-extend: error: ", *fragments)
    assert results[name].stderr.strip().count("\n") == 0
    assert not os.path.exists(work / output)


def test_recipe_check_splits_lines_as_fairseq_does(work, results):
    """Lines end at \\n only, as wc -l counts them: U+2028, NEL and VT stay inside their line, a CR
    before the \\n is a Windows line end; a NUL and a CR inside a line are refused with file:line."""
    assert_one_line_error(results["check_nul"], "nul.zh:2: a NUL byte in the line (column 2)")
    assert_one_line_error(results["check_lone_cr"], "lone_cr.zh:2: a carriage return inside the line",
                          "fairseq-preprocess would read it as a line break")
    for name in ("check_separators", "check_crlf"):
        assert results[name].returncode == 0, results[name].stderr
        assert "3 aligned pairs" in results[name].stdout
    for name in ("separators.zh", "crlf.zh", "raw.en"):
        assert (work / name).read_bytes().count(b"\n") == 3  # what wc -l says


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
    ("rank_zero", ["--see-order, --see-rank and --see-tables must be >= 1 (got 3, 0, 1)"]),
    ("order_too_high", ["--see-order 7 does not fit embedding dimension 64", "use an order with",
                        "for d=64: 1, 2, 3, 4, 6"]),
    # an explicit 0 used to become the default silently
    ("tables_zero", ["--see-order, --see-rank and --see-tables must be >= 1 (got 3, 4, 0)"]),
])
def test_see_sizes_that_cannot_give_the_model_dimension(work, results, name, fragments):
    assert_one_line_error(results[name], *fragments)
    assert no_checkpoint_written(work, name)


def test_checkpoint_for_other_dictionaries_is_refused_by_train_and_generate(work, results):
    # fairseq-train re-raises its own "Cannot load model parameters" error: the plugin's line is printed alone
    resume = results["resume_other_dictionary"]
    assert "Cannot load model parameters" not in resume.stderr
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


def test_sigkill_during_the_index_write_leaves_a_temporary_the_next_run_removes(tmp_path):
    """A writer killed outright cannot remove its temporary (here a real SIGKILL inside atomic_output);
    the next write of the same file removes the leftovers older than itself, and leaves alone a
    younger one (a writer still at work) and other files' temporaries."""
    write(tmp_path / "dict.zh.txt", "▁苹果 5\n梨 3\n")
    write(tmp_path / "lex.txt", THUNLP_LEXICON)
    target = tmp_path / "see_index.zh.npz"
    code = ("import os, signal, sys\nfrom fairseq_see.lexicon.files import atomic_output\n"
            "with atomic_output(sys.argv[1]) as tmp:\n"
            "    open(tmp, 'wb').write(b'half of an index' * 65536)\n"
            "    os.kill(os.getpid(), signal.SIGKILL)\n")
    killed = subprocess.run([sys.executable, "-c", code, str(target)], cwd=REPO, env=ENV, timeout=120)
    assert killed.returncode == -signal.SIGKILL
    (leftover,) = [name for name in os.listdir(tmp_path) if name.startswith(".see_index.zh.npz.")]
    assert (tmp_path / leftover).stat().st_size == 16 * 65536 and not target.exists()
    now = time.time()
    os.utime(tmp_path / leftover, (now - 5, now - 5))  # as if killed a while ago
    write(tmp_path / ".see_index.zh.npz.abcd1234.tmp", "a writer still at work")
    os.utime(tmp_path / ".see_index.zh.npz.abcd1234.tmp", (now + 60, now + 60))
    other = write(tmp_path / ".see_index.en.npz.abcd1234.tmp", "another file's")
    os.utime(other, (now - 5, now - 5))
    result = run([cli("fairseq-see-index"), str(tmp_path), "--sememe-lexicon", str(tmp_path / "lex.txt"),
                  "--morpheme-segmenter", "none"], tmp_path)
    assert result.returncode == 0, result.stderr
    assert sorted(os.listdir(tmp_path)) == [".see_index.en.npz.abcd1234.tmp", ".see_index.zh.npz.abcd1234.tmp",
                                            "dict.zh.txt", "lex.txt", "see_index.zh.npz"]


def test_user_errors_print_alone_and_bugs_keep_their_traceback(tmp_path, monkeypatch, capsys):
    """The hook in isolation (the CLI cases above): a user error, raised by the plugin or re-raised by
    fairseq as a plain Exception, is its one line alone; any other error keeps its traceback, and a
    bug raised while handling a user error gets both (the user error's line last)."""
    from fairseq_see.errors import LexiconError, install_excepthook
    from fairseq_see.lexicon import load_lexicons
    printed = []
    monkeypatch.setattr(sys, "excepthook", lambda kind, value, tb: printed.append(f"{kind.__name__}: {value}"))
    install_excepthook()
    install_excepthook()  # idempotent: one line, not two

    def report(case):
        """What the hook prints for the error ``case()`` raises (stderr; tracebacks go to ``printed``)."""
        try:
            case()
        except Exception as e:
            sys.excepthook(type(e), e, e.__traceback__)
        return capsys.readouterr().err

    def user_error():
        load_lexicons("/nonexistent/lexicon.txt")

    message = "fairseq-see: error: /nonexistent/lexicon.txt: lexicon not found; pass an existing file to " \
              "--sememe-lexicon or 'openhownet'\n"

    def as_is():
        user_error()

    def wrapped_by_fairseq():
        try:
            user_error()
        except Exception:
            raise Exception("Cannot load model parameters from checkpoint x.pt; please ensure that the "
                            "architectures match.")

    def bug_while_handling():
        try:
            user_error()
        except LexiconError:
            None.missing  # noqa: B018

    def elsewhere():
        raise ValueError("elsewhere")

    for case, traceback, err in ((as_is, None, message), (wrapped_by_fairseq, None, message),
                                 (bug_while_handling, "AttributeError", message), (elsewhere, "ValueError", "")):
        printed.clear()
        assert report(case) == err, case.__name__
        assert [p.split(":")[0] for p in printed] == ([traceback] if traceback else []), case.__name__
    # the clear message of a non-UTF-8 lexicon, not the UnicodeDecodeError it was raised in place of
    (tmp_path / "gb.txt").write_bytes(THUNLP_LEXICON.encode("gb18030"))
    printed.clear()
    assert report(lambda: load_lexicons(str(tmp_path / "gb.txt"))) == (
        f"fairseq-see: error: {tmp_path / 'gb.txt'}:1: not UTF-8 text; convert the lexicon to UTF-8 "
        "(e.g. iconv -f GB18030 -t UTF-8)\n") and printed == []


def test_a_bug_keeps_its_traceback_in_a_real_process():
    code = "import fairseq_see\nraise KeyError('a bug')\n"
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=ENV, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 1 and result.stderr.startswith("Traceback") and "KeyError: 'a bug'" in result.stderr
    assert "fairseq-see: error" not in result.stderr
