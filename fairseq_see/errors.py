"""Bad input as one line: the plugin's error classes and the hook that keeps their message last.

Every error the plugin raises for bad input is a :class:`UserInputError` (a ``ValueError``) whose
message is one line naming the file or option and the fix. fairseq sometimes catches such an error
and raises its own (``trainer.load_checkpoint``: "Cannot load model parameters from checkpoint
...; please ensure that the architectures match."), which would hide ours; ``install_excepthook``
prints Python's usual traceback and then, as the last line, the plugin's own message.
"""

import os
import sys

from .lexicon.errors import LexiconError, UserInputError

PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))

__all__ = ["CheckpointError", "LexiconError", "RecipeError", "UserInputError", "install_excepthook",
           "plugin_error"]


class CheckpointError(UserInputError):
    """A checkpoint that is missing, unreadable, or not the one the data directory needs."""


class RecipeError(UserInputError):
    """Bad input to a recipe step (corpus files, options)."""


def _raised_here(error):
    """Was ``error`` a ValueError raised by this package's code (its innermost frame is ours)?"""
    if not isinstance(error, ValueError) or error.__traceback__ is None:
        return False
    tb = error.__traceback__
    while tb.tb_next is not None:
        tb = tb.tb_next
    return os.path.abspath(tb.tb_frame.f_code.co_filename).startswith(PACKAGE_DIR + os.sep)


def plugin_error(error):
    """The deepest plugin error in ``error``'s chain of causes/contexts, or None."""
    found, seen = None, set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if _raised_here(error):
            found = error
        error = error.__cause__ or error.__context__
    return found


def install_excepthook():
    """Make the plugin's one-line message the last line of an uncaught traceback (idempotent)."""
    previous = sys.excepthook
    if getattr(previous, "fairseq_see", False):
        return

    def hook(kind, value, tb):
        previous(kind, value, tb)
        ours = plugin_error(value)
        if ours is not None and ours is not value:
            sys.stderr.write(f"fairseq-see: error: {ours}\n")
            sys.stderr.flush()

    hook.fairseq_see = True
    sys.excepthook = hook
