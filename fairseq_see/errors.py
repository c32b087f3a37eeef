"""Bad input as one line: the plugin's error classes and the hook that prints them without a traceback.

Every error the plugin raises for bad input is a :class:`UserInputError` (a ``ValueError``) whose
message is one line naming the file or option and the fix. A traceback means a bug in our code, so
``install_excepthook`` prints a user error alone, as ``fairseq-see: error: <message>``, also when
fairseq caught it and raised its own plain ``Exception`` instead (``trainer.load_checkpoint``:
"Cannot load model parameters from checkpoint ...; please ensure that the architectures match.").
Anything else keeps Python's usual traceback; when another kind of error was raised while handling
a user error (a bug in the handling), the traceback is printed and the user error's line last.
"""

import sys

from .lexicon.errors import LexiconError, UserInputError

__all__ = ["CheckpointError", "LexiconError", "RecipeError", "UserInputError", "install_excepthook",
           "plugin_error"]


class CheckpointError(UserInputError):
    """A checkpoint that is missing, unreadable, or not the one the data directory needs."""


class RecipeError(UserInputError):
    """Bad input to a recipe step (corpus files, options)."""


def _causes(error):
    """``error`` and the exceptions it was raised from or while handling, outermost first, as
    Python's traceback shows them (a context hidden by ``raise ... from None`` is not followed)."""
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        error = error.__cause__ if error.__cause__ is not None else (
            None if error.__suppress_context__ else error.__context__)


# what fairseq (and torch) raise when they re-raise an error of ours with their own message
_WRAPPERS = (Exception, RuntimeError)


def plugin_error(error):
    """The outermost :class:`UserInputError` of ``error``'s chain (itself included), or None."""
    return next((e for e in _causes(error) if isinstance(e, UserInputError)), None)


def _only_wrapped(error, ours):
    """Is every exception above ``ours`` in the chain a plain re-raise (``Exception``, ``RuntimeError``)?
    Another kind raised while handling our error (an ``AttributeError`` ...) is a bug of its own."""
    for e in _causes(error):
        if e is ours:
            return True
        if type(e) not in _WRAPPERS:
            return False
    return False


def install_excepthook():
    """Print an uncaught user error as one line, without a traceback (idempotent)."""
    previous = sys.excepthook
    if getattr(previous, "fairseq_see", False):
        return

    def hook(kind, value, tb):
        ours = plugin_error(value)
        if ours is None or not _only_wrapped(value, ours):
            previous(kind, value, tb)  # a bug: the traceback is what it needs
        if ours is not None:
            sys.stderr.write(f"fairseq-see: error: {ours}\n")  # alone, or last after a bug's traceback
            sys.stderr.flush()

    hook.fairseq_see = True
    sys.excepthook = hook
