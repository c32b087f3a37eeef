"""Bad input as one line: the plugin's error classes and the hook that prints them without a traceback.

Every error the plugin raises for bad input is a :class:`UserInputError` (a ``ValueError``) whose
message is one line naming the file or option and the fix. A traceback means a bug in our code, so
``install_excepthook`` prints a user error alone, as ``fairseq-see: error: <message>``, also when
fairseq caught it and raised its own plain ``Exception`` instead (``trainer.load_checkpoint``:
"Cannot load model parameters from checkpoint ...; please ensure that the architectures match.").
Anything else keeps Python's usual traceback; when another kind of error was raised while handling
a user error (a bug in the handling), the traceback is printed and the user error's line last.
In a torch.distributed process group the line carries torch's ``[rank<N>]: `` prefix and the process
leaves at once with status 1 (see ``install_excepthook``).
"""

import os
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


def _process_group_rank():
    """This process's rank in a torch.distributed process group, or None (torch is not imported here)."""
    distributed = sys.modules.get("torch.distributed")
    if distributed is None or not distributed.is_available() or not distributed.is_initialized():
        return None
    return distributed.get_rank()


def install_excepthook():
    """Print an uncaught user error as one line, without a traceback (idempotent)."""
    previous = sys.excepthook
    if getattr(previous, "fairseq_see", False):
        return

    def hook(kind, value, tb):
        ours = plugin_error(value)
        bug = ours is None or not _only_wrapped(value, ours)
        if bug:
            previous(kind, value, tb)  # a bug: the traceback is what it needs
        if ours is None:
            return
        rank = _process_group_rank()
        if bug or rank is None:
            sys.stderr.write(f"fairseq-see: error: {ours}\n")  # alone, or last after a bug's traceback
            sys.stderr.flush()
            return
        # In a process group, tearing its C++ threads down at interpreter exit aborts now and then
        # ("terminate called without an active exception", status -6) after our line: leave at once
        # with a user error's status. torch's own excepthook holds sys.stderr in a buffer while ours
        # runs, so the line goes to the real stderr, prefixed with the rank as torch would.
        sys.stdout.flush()
        sys.__stderr__.write(f"[rank{rank}]: fairseq-see: error: {ours}\n")
        sys.__stderr__.flush()
        os._exit(1)

    hook.fairseq_see = True
    sys.excepthook = hook
