"""What the benchmark's modes share: paths, the synthetic dictionaries and task, model building, output.

The dictionaries are synthetic but shaped like real ones: the source side is Chinese words sampled
from the real HowNet lexicons plus out-of-lexicon strings of the same characters, so the SEE index
has a realistic sense/unit structure; the target side is English-like pieces (morphemes only: the
benchmark's lexicons are Chinese).
"""

import json
import logging
import os
import platform
import random
import subprocess
import sys
from collections import Counter

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)
SHARED = os.environ.get("FAIRSEQ_SEE_SHARED", os.path.join(os.path.dirname(REPO), "shared"))
ZH_EN = os.path.join(SHARED, "data", "zh-en")  # the recipes' --data-root
# the lexicons the benchmark measures with, as the recipes use them (Chinese HowNet: glossary + thunlp;
# English: WordNet synsets -> HowNet sememes, with the WordNet database), and the sememe names
HOWNET = os.path.join(SHARED, "data", "hownet")
LEXICONS = [os.path.join(HOWNET, "pypi_similarities-1.2.4__hownet_glossary.txt"),
            os.path.join(HOWNET, "thunlp_sememe_prediction__hownet.txt"),
            os.path.join(HOWNET, "yeyn19_structured_sememe_prediction__synsetStructed.txt")]
SEMEME_NAMES = os.path.join(HOWNET, "openhownet__sememe_dict_all.json")
WORDNET = os.path.join(SHARED, "data", "wordnet")
USER_DIR = os.path.join(REPO, "fairseq_see")
LIB_SH = os.path.join(REPO, "examples", "common", "lib.sh")

TYPES = ("full", "see", "see_random", "low_rank", "word2ket", "word2ketxs", "tt", "morphte")
SEE_TYPES = ("see", "see_random")

# after the repository is on sys.path
from fairseq_see.lexicon.text import CJK, SPM_MARKER  # noqa: E402
from fairseq_see.tasks.translation_sememe import TranslationSememeConfig, TranslationSememeTask  # noqa: E402


def say(*args):
    print(*args, flush=True)


def tool_env():
    """The environment for the recipe's shell and fairseq's commands: this venv's scripts first."""
    return dict(os.environ, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))


def run(argv, cwd=REPO, name=None):
    """stdout + stderr of a command; its tail in the error when it fails."""
    result = subprocess.run([str(a) for a in argv], cwd=cwd, capture_output=True, text=True, env=tool_env())
    if result.returncode != 0:
        raise RuntimeError(f"{name or ' '.join(str(a) for a in argv[:2])} failed:\n"
                           f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result.stdout + result.stderr


def lib_sh(script, *args, cwd=REPO):
    """Run the bash SCRIPT with examples/common/lib.sh sourced (ARGS are its $1, $2, ...)."""
    return run(["bash", "-c", f'set -euo pipefail; source "{LIB_SH}"; {script}', "benchmarks", *args], cwd=cwd,
               name=f"lib.sh: {script.split(';')[0][:60]} {args[0] if args else ''}")


def missing_lexicon():
    """The first HowNet file that is not beside the repository, or None."""
    return next((p for p in LEXICONS + [SEMEME_NAMES, WORDNET] if not os.path.exists(p)), None)


def load_lexicon():
    """The real HowNet lexicons, or None (with the reason) when they are not beside the repository."""
    missing = missing_lexicon()
    if missing:
        return None, f"HowNet lexicon not found ({missing}); see and see_random are skipped"
    from fairseq_see.lexicon import load_lexicons
    return load_lexicons(",".join(LEXICONS), "auto", SEMEME_NAMES, wordnet=WORDNET), None


def machine():
    import torch
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {"cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(), "torch": torch.__version__,
            "python": platform.python_version(), "platform": platform.platform(),
            "load_average": [round(x, 2) for x in load] if load else None}


def write_outputs(meta, records, table, json_path=None, markdown_path=None):
    if json_path:
        with open(json_path, "w", encoding="utf-8") as f:
            json.dump({"meta": meta, "records": records}, f, indent=1, ensure_ascii=False)
    if markdown_path:
        with open(markdown_path, "w", encoding="utf-8") as f:
            f.write(table + "\n")


# ---- dictionaries and the task the models are built from -------------------------------------------

def chinese_symbols(vocab, lexicon, seed):
    """A dictionary shaped like a jieba + sentencepiece Chinese one: ~75% HowNet words made of
    common characters, the rest out-of-lexicon strings of the same characters; half with "▁"."""
    rng = random.Random(seed)
    words = sorted(w for w in lexicon.entries if 1 <= len(w) <= 4 and all(CJK.fullmatch(c) for c in w))
    frequency = Counter(c for w in words for c in w)
    common = [c for c, _ in frequency.most_common(max(200, min(3500, vocab // 4)))]
    allowed = set(common)
    words = [w for w in words if all(c in allowed for c in w)]
    chosen = rng.sample(words, min(len(words), int(0.75 * vocab)))
    seen = set(chosen)
    while len(chosen) < vocab:
        w = "".join(rng.choice(common) for _ in range(rng.choice((1, 2, 2, 3))))
        if w not in seen:
            seen.add(w)
            chosen.append(w)
    rng.shuffle(chosen)
    return [SPM_MARKER + w if rng.random() < 0.5 else w for w in chosen]


def english_symbols(vocab, seed):
    """English-like sentencepiece pieces: distinct lowercase strings, 60% word-initial ("▁")."""
    rng = random.Random(seed)
    letters = "etaoinshrdlcumwfgypbvkjxqz"
    weights = [1 / (i + 2) for i in range(len(letters))]
    seen = set()
    out = []
    while len(out) < vocab:
        piece = "".join(rng.choices(letters, weights, k=rng.choice((1, 2, 3, 3, 4, 4, 5, 6, 7, 8))))
        piece = (SPM_MARKER + piece) if rng.random() < 0.6 else piece
        if piece not in seen:
            seen.add(piece)
            out.append(piece)
    return out


def make_dictionary(symbols):
    from fairseq.data import Dictionary
    d = Dictionary()  # fairseq's specials first
    for rank, s in enumerate(symbols):
        d.add_symbol(s, n=int(1e6 / (rank + 10)))  # Zipf-like counts, for coverage by token mass
    return d


class KeptIndexes:
    """One side's indexes as the task's own ``side_indexes`` builds them, each kept once built, so
    that a model-building child process gets them (and the morpheme segmenter) pickled, without
    the lexicon."""

    def __init__(self, side_indexes):
        self._inner, self._built, self._segmenter = side_indexes, {}, None

    @property
    def segmenter(self):
        if self._inner is not None:
            self._segmenter = self._inner.segmenter
        return self._segmenter

    def index(self, order, rank, tables, required=True, identity_ranks=1, min_readers=2):
        key = (order, rank, tables, identity_ranks, min_readers)
        if key not in self._built:
            if self._inner is None:
                raise KeyError(f"index {key} not built before this task was pickled")
            self._built[key] = self._inner.index(order, rank, tables, required, identity_ranks, min_readers)
        return self._built[key]

    def builder(self):
        """The ratio picker's row counts, kept like the indexes (the same picks ask the same counts)."""
        return self

    def row_count(self, *sizes):
        key = ("rows",) + sizes
        if key not in self._built:
            if self._inner is None:
                raise KeyError(f"row count {sizes} not priced before this task was pickled")
            self._built[key] = self._inner.builder().row_count(*sizes)
        return self._built[key]

    def __getstate__(self):
        return {"_inner": None, "_built": self._built, "_segmenter": self._segmenter}


class BenchTask(TranslationSememeTask):
    """``translation_sememe`` on in-memory dictionaries (no data dir), with the lexicon given."""

    def __init__(self, src_dict, tgt_dict, lexicon):
        # no such data dir: no saved index is found there, every index is built from the lexicon
        cfg = TranslationSememeConfig(data=os.path.join(REPO, "benchmarks", "<synthetic dictionaries>"),
                                      source_lang="zh", target_lang="en",
                                      sememe_lexicon=",".join(LEXICONS) if lexicon is not None else None,
                                      sememe_names=SEMEME_NAMES, wordnet=WORDNET)
        super().__init__(cfg, src_dict, tgt_dict)
        self._lexicon = lexicon
        self.kept = {}

    def side_indexes(self, side):
        if side not in self.kept:
            self.kept[side] = KeptIndexes(super().side_indexes(side))
        return self.kept[side]

    def __getstate__(self):
        # fairseq's task state container does not survive pickling (a child builds models only)
        return dict(self.__dict__, _lexicon=None, _side_indexes={}, state=None)


def make_task(shape, lexicon, seed=1):
    vocab = shape["vocab"] - 4
    src = chinese_symbols(vocab, lexicon, seed) if lexicon is not None else english_symbols(vocab, seed + 100)
    tgt = english_symbols(vocab, seed)
    return BenchTask(make_dictionary(src), make_dictionary(tgt), lexicon)


# ---- models --------------------------------------------------------------------------------------

def model_args(kind, ratio, shape):
    from fairseq import options
    s = shape
    argv = ["benchmark-data", "--user-dir", USER_DIR, "--task", "translation_sememe",
            "--arch", "see_transformer_iwslt_zh_en", "--encoder-embedding-type", kind,
            "--decoder-embedding-type", kind, "--encoder-embed-dim", s["dim"], "--decoder-embed-dim", s["dim"],
            "--encoder-ffn-embed-dim", s["ffn"], "--decoder-ffn-embed-dim", s["ffn"],
            "--encoder-attention-heads", s["heads"], "--decoder-attention-heads", s["heads"],
            "--encoder-layers", s["layers"], "--decoder-layers", s["layers"],
            "--seed", "1"]
    if kind != "full":
        argv += ["--embedding-compression-ratio", ratio, *s.get("model_args", [])]
    return options.parse_args_and_arch(options.get_training_parser(), [str(a) for a in argv])


class _Lines(logging.Handler):
    def __init__(self):
        super().__init__(logging.INFO)
        self.lines = []

    def emit(self, record):
        message = record.getMessage()
        if message.startswith(("embedding (", "embedding compression")):
            self.lines.append(message)


def build_model(kind, ratio, shape, task, seed=1):
    """A see_transformer of this shape, exactly as fairseq-train would build it; and its log lines."""
    import torch
    from fairseq_see.models.see_transformer import SEETransformerModel
    args = model_args(kind, ratio, shape)
    handler = _Lines()
    logger = logging.getLogger("fairseq_see")
    logger.addHandler(handler)
    previous = logger.level
    logger.setLevel(logging.INFO)
    try:
        torch.manual_seed(seed)
        model = SEETransformerModel.build_model(args, task)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)
    return model, handler.lines


def embedding_parameters(model):
    return sum(p.numel() for side in (model.encoder, model.decoder) for p in side.embed_tokens.parameters())
