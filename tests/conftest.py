import os
import shutil
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.environ.get("FAIRSEQ_SEE_SHARED", os.path.join(os.path.dirname(REPO), "shared"))
HOWNET = os.path.join(SHARED, "data", "hownet")
ZH_EN = os.path.join(SHARED, "data", "zh-en")
GLOSSARY = os.path.join(HOWNET, "pypi_similarities-1.2.4__hownet_glossary.txt")
THUNLP = os.path.join(HOWNET, "thunlp_sememe_prediction__hownet.txt")
SEWRL = os.path.join(HOWNET, "thunlp_SE-WRL-SAT__Word_Sense_Sememe_File.txt")
SEMEME_NAMES = os.path.join(HOWNET, "openhownet__sememe_dict_all.json")
VENV_BIN = os.path.dirname(sys.executable)


def shared_or_skip(*paths):
    """Skip (with the reason) when the real data beside the repo is absent."""
    for path in paths:
        if not os.path.exists(path):
            pytest.skip(f"real data not found: {path} (tests that need ../shared skip without it; "
                        "set FAIRSEQ_SEE_SHARED to its location)")


def cli(name):
    """A console script of this venv (fairseq-train, fairseq-see-index, ...)."""
    path = os.path.join(VENV_BIN, name)
    return path if os.path.exists(path) else shutil.which(name)


def write(path, text):
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path


def write_dictionary(path, tokens):
    """A fairseq dict.<lang>.txt with descending counts."""
    return write(path, "".join(f"{t} {100 - i}\n" for i, t in enumerate(tokens)))


ZH = ["▁苹果", "▁梨", "▁吃", "▁我", "很", "好"]
EN = ["▁I", "▁eat", "▁apple", "s", "▁pear", "▁good"]
LEXICON = "苹果\n水果 树 电脑 \n梨\n水果 树 \n吃\n吃 \n好\n良 \n"


@pytest.fixture
def data_dir(tmp_path):
    """A data-bin with tiny zh/en dictionaries (10 symbols each) and a thunlp-format lexicon."""
    write_dictionary(tmp_path / "dict.zh.txt", ZH)
    write_dictionary(tmp_path / "dict.en.txt", EN)
    write(tmp_path / "lex.txt", LEXICON)
    return tmp_path


def parse_args(data_dir, *extra, task="translation_sememe"):
    from fairseq import options
    argv = [str(data_dir), "--user-dir", os.path.join(REPO, "fairseq_see"), "--task", task,
            "--arch", "see_transformer_tiny", "--source-lang", "zh", "--target-lang", "en", *extra]
    if task == "translation_sememe":
        argv += ["--sememe-lexicon", str(data_dir / "lex.txt")]
    return options.parse_args_and_arch(options.get_training_parser(), argv)


def build(data_dir, *extra, task="translation_sememe"):
    """fairseq's own task and model construction, as fairseq-train does it."""
    from fairseq import tasks
    args = parse_args(data_dir, *extra, task=task)
    task_obj = tasks.setup_task(args)
    return task_obj, task_obj.build_model(args)
