"""Bad input as one line, checkpoint checks that name the data files, one index on every rank.

- ``install_excepthook``: the plugin reports bad input as a ``ValueError`` (``LexiconError`` is one)
  whose message is one line naming the file or option and the fix. fairseq sometimes catches such an
  error and raises its own (``trainer.load_checkpoint``: "Cannot load model parameters from
  checkpoint ...; please ensure that the architectures match."), which would hide ours; the hook
  prints Python's usual traceback and then, as the last line, the plugin's own message.
- ``prepare_model`` (called by ``translation_sememe`` on every model it builds):
  * a ``load_state_dict`` pre-hook on the model root checks a checkpoint's SEE index against this
    data directory's dictionaries before anything is copied, and names ``dict.<lang>.txt``;
  * in multi-process training, refuses a checkpoint that would change the shape of a unit table
    (a model built without its index: ``--sememe-lexicon`` and ``see_index.<lang>.npz`` both absent).
    fairseq wraps the model for data parallelism *before* it loads the checkpoint, and the wrapper
    keeps the parameter objects it was given; a unit table replaced afterwards would no longer have
    its gradients averaged across ranks, and the ranks would silently drift apart;
  * in multi-process training, checks that every rank built the same index (same dictionaries,
    lexicon and saved index on every node) and logs it; the index is a buffer, which neither
    fairseq's ``legacy_ddp`` nor its ``pytorch_ddp`` (``--broadcast-buffers`` off by default) syncs.
"""

import hashlib
import logging
import os
import sys

import torch

from .modules import SememeEntanglementEmbedding

logger = logging.getLogger(__name__)

PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


# ---- one-line errors ------------------------------------------------------------------------------

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


# ---- models built by translation_sememe -------------------------------------------------------------

def _world_size():
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_world_size()
    return 1


def see_embeddings(model):
    """(name, module) of every SEE embedding in ``model`` (those carrying a sememe index)."""
    return [(name, module) for name, module in model.named_modules() if isinstance(module, SememeEntanglementEmbedding)]


def _dictionary_path(task, module):
    lang = task.cfg.source_lang if getattr(module, "side", "") == "source" else task.cfg.target_lang
    return task.dictionary_path(lang)


def prepare_model(model, task):
    """Attach the checkpoint checks and, in multi-process training, compare the index across ranks."""
    embeddings = see_embeddings(model)
    if not embeddings:
        return model
    paths = {name: _dictionary_path(task, module) for name, module in embeddings}

    def check_checkpoint(root, state_dict, prefix, *args):
        for name, module in embeddings:
            key = f"{prefix}{name}."
            ids, extra = state_dict.get(key + "unit_ids"), state_dict.get(key + "_extra_state")
            if ids is None:
                continue
            path, side = paths[name], module.side
            if ids.shape[0] != module.num_embeddings:
                raise ValueError(f"{path}: {module.num_embeddings} symbols, but the checkpoint's SEE index "
                                 f"({side}) has {ids.shape[0]} rows; pass the data directory the model was "
                                 "trained with (or retrain on this one)")
            if isinstance(extra, dict) and extra.get("dictionary_checksum") not in (None, module.dictionary_checksum):
                raise ValueError(f"{path}: not the dictionary the checkpoint's SEE index ({side}) was built for "
                                 "(same size, other symbols or order); pass the data directory the model was "
                                 "trained with (or retrain on this one)")
            vectors = state_dict.get(key + "unit_vectors")
            if vectors is not None and vectors.shape != module.unit_vectors.shape and _world_size() > 1:
                raise ValueError(f"{path}: this {_world_size()}-process run built its SEE model ({side}) "
                                 f"without the checkpoint's index ({tuple(module.unit_vectors.shape)} vs "
                                 f"{tuple(vectors.shape)} unit vectors), and fairseq has already wrapped it for "
                                 "data parallelism; pass --sememe-lexicon as for the first run, or save the "
                                 "index beside the dictionaries with fairseq-see-index")

    model.register_load_state_dict_pre_hook(check_checkpoint)
    if _world_size() > 1:
        check_index_across_ranks(embeddings, paths)
    return model


def index_digest(module):
    """sha256 of what defines a SEE embedding's index: ids, mask, unit names, dictionary, table shape."""
    h = hashlib.sha256()
    h.update(module.unit_ids.detach().cpu().numpy().tobytes())
    h.update(module.sense_mask.detach().cpu().numpy().tobytes())
    h.update("\n".join(module.units).encode("utf-8"))
    h.update(str(module.dictionary_checksum).encode("utf-8"))
    h.update(str(tuple(module.unit_vectors.shape)).encode("utf-8"))
    return h.hexdigest()


def check_index_across_ranks(embeddings, paths):
    """Every rank must hold the same index (a collective: every rank calls it while building the model)."""
    mine = {name: index_digest(module) for name, module in embeddings}
    gathered = [None] * _world_size()
    torch.distributed.all_gather_object(gathered, mine)
    for name, module in embeddings:
        digests = [ranks[name] for ranks in gathered]
        if len(set(digests)) > 1:
            shown = ", ".join(f"rank {r}: {d[:12]}" for r, d in enumerate(digests))
            raise ValueError(f"{paths[name]}: the SEE index ({module.side}) differs across ranks ({shown}); "
                             "every node needs the same data directory, lexicon and see_index.<lang>.npz "
                             "(build the index once with fairseq-see-index and copy the data directory)")
        logger.info(f"SEE index ({module.side}): identical on all {len(digests)} ranks "
                    f"(sha256 {digests[0][:12]}); a buffer, not a parameter: never all-reduced")
