"""Text constants every part of the plugin shares: Chinese characters, subword markers, fairseq's specials."""

import re

# CJK Unified Ideographs with extensions A-F and the compatibility block: what counts as a
# Chinese character (a morpheme of its own) everywhere in the plugin
CJK_RANGES = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff"
CJK = re.compile(f"[{CJK_RANGES}]")
# one Chinese character, or a run of anything else
CJK_OR_RUN = re.compile(f"[{CJK_RANGES}]|[^{CJK_RANGES}]+")

SPM_MARKER = "\u2581"  # sentencepiece's word-start marker "▁"
BPE_MARKER = "@@"  # subword-nmt's continuation marker

# fairseq's Dictionary puts these first; fairseq-preprocess pads with "madeupwordNNNN"
FAIRSEQ_SPECIALS = ("<s>", "<pad>", "</s>", "<unk>")
FILLER_PREFIX = "madeupword"


def is_special(token):
    return token in FAIRSEQ_SPECIALS or token.startswith(FILLER_PREFIX)


def has_chinese(text):
    return CJK.search(text) is not None
