"""``--tokenizer jieba``: Chinese word segmentation for fairseq-interactive and the hub interface."""

from dataclasses import dataclass, field
from typing import Optional

from fairseq.data.encoders import register_tokenizer
from fairseq.dataclass import FairseqDataclass

from ..lexicon import load_lexicons
from ..recipe.segmentation import jieba_with_lexicon  # torch-free, for fairseq-see-recipe segment too


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
