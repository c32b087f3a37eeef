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
