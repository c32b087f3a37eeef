"""``--tokenizer jieba``: Chinese word segmentation for fairseq-interactive and the hub interface."""

import logging
from dataclasses import dataclass, field
from typing import Optional

from fairseq.data.encoders import register_tokenizer
from fairseq.dataclass import FairseqDataclass

from ..lexicon import load_lexicons
from ..lexicon.text import has_chinese


def jieba_with_lexicon(lexicon=None):
    """A jieba tokenizer that keeps the lexicon's Chinese words whole, so that segmentation and
    sememe lookup agree (the recipes segment training data with it too)."""
    import jieba
    jieba.setLogLevel(logging.WARNING)
    tokenizer = jieba.Tokenizer()
    for word in lexicon.entries if lexicon is not None else ():
        if has_chinese(word) and " " not in word:
            tokenizer.add_word(word)
    return tokenizer


@dataclass
class JiebaTokenizerConfig(FairseqDataclass):
    jieba_lexicon: Optional[str] = field(
        default=None,
        metadata={"help": "sememe lexicon(s) whose Chinese words jieba keeps whole, as the recipes "
                          "segment training data (fairseq-see-recipe segment)"})


@register_tokenizer("jieba", dataclass=JiebaTokenizerConfig)
class JiebaTokenizer:
    """Segments the (Chinese) source; decoding leaves the (English) output as it is."""

    def __init__(self, cfg: JiebaTokenizerConfig):
        self.tokenizer = jieba_with_lexicon(load_lexicons(cfg.jieba_lexicon) if cfg.jieba_lexicon else None)

    def encode(self, x: str) -> str:
        return " ".join(w for w in self.tokenizer.cut(x.strip()) if w.strip())

    def decode(self, x: str) -> str:
        return x
