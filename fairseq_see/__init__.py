"""fairseq-see: Sememe Entanglement Encoding for fairseq (``--user-dir fairseq_see``)."""

from .compat import allow_fairseq_checkpoints
from .errors import install_excepthook

allow_fairseq_checkpoints()  # before fairseq loads any checkpoint: see compat.py
install_excepthook()  # bad input stays the last line even when fairseq re-raises its own error

# registers see_distillation, see_transformer, translation_sememe and the jieba tokenizer
from . import criterions, models, tasks, tokenizers  # noqa: E402,F401
from .models.see_transformer import SEETransformerModel  # noqa: E402

__all__ = ["SEETransformerModel"]
