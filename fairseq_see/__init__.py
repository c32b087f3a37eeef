"""fairseq-see: Sememe Entanglement Encoding for fairseq (``--user-dir fairseq_see``)."""

import os
import warnings

# fairseq 0.12 checkpoints hold argparse/omegaconf objects, which torch >= 2.6's default
# torch.load(weights_only=True) refuses; fairseq calls torch.load without the argument, so the
# documented environment switch restores the old default for those calls (explicit callers keep theirs)
os.environ.setdefault("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
warnings.filterwarnings("ignore", message="Environment variable TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD detected")

# registers see_distillation, see_transformer, translation_sememe and the jieba tokenizer
from . import criterions, models, tasks, tokenizers  # noqa: E402,F401
from .models.see_transformer import SEETransformerModel  # noqa: E402
from .reliability import install_excepthook  # noqa: E402

# bad input is a one-line ValueError; keep it the last line even when fairseq re-raises its own
install_excepthook()

__all__ = ["SEETransformerModel"]
