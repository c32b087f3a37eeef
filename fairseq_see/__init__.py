"""fairseq-see: Sememe Entanglement Encoding for fairseq (``--user-dir fairseq_see``).

Importing the package is cheap: the fairseq components (``translation_sememe``, ``see_transformer``,
``see_distillation``, ``--tokenizer jieba``) are registered as soon as fairseq is imported too —
at once when fairseq is importing the plugin (``--user-dir``), else right after a later
``import fairseq`` — so the console scripts that need neither torch nor fairseq
(``fairseq-see-recipe check/segment/spm-*/holdout/report``, ``fairseq-see-index``) start in a
fraction of a second. ``from fairseq_see import SEETransformerModel`` imports fairseq and
registers everything (PEP 562 module ``__getattr__``).
"""

import importlib.abc
import importlib.util
import sys

from .compat import allow_fairseq_checkpoints, quiet_imports
from .errors import install_excepthook

allow_fairseq_checkpoints()  # before fairseq loads any checkpoint: see compat.py
quiet_imports()  # import-time deprecation warnings of fairseq's dependencies: see compat.py
install_excepthook()  # bad input stays the last line even when fairseq re-raises its own error

__all__ = ["SEETransformerModel", "register"]

_registered = False


def register():
    """Import the parts that register themselves with fairseq (idempotent; imports fairseq)."""
    global _registered
    if not _registered:
        _registered = True
        from . import criterions, models, tasks, tokenizers  # noqa: F401


class _RegisterAfterFairseqImport(importlib.abc.MetaPathFinder):
    """Finds nothing itself: when ``fairseq`` is first imported, wraps its loader so that
    :func:`register` runs once fairseq's own ``__init__`` has finished."""

    def find_spec(self, name, path=None, target=None):
        if name != "fairseq":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)  # the other finders, as if this one were not there
        if spec is not None and spec.loader is not None and hasattr(spec.loader, "exec_module"):
            exec_module = spec.loader.exec_module

            def exec_then_register(module):
                exec_module(module)
                register()

            spec.loader.exec_module = exec_then_register
        return spec


if "fairseq" in sys.modules:
    register()
elif not any(isinstance(f, _RegisterAfterFairseqImport) for f in sys.meta_path):
    sys.meta_path.insert(0, _RegisterAfterFairseqImport())


def __getattr__(name):
    if name == "SEETransformerModel":
        register()
        from .models.see_transformer import SEETransformerModel
        return SEETransformerModel
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
