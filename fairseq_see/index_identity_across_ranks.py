"""In multi-process training, every rank must train on one and the same SEE index.

The index is a buffer, not a parameter: neither fairseq's ``legacy_ddp`` nor its ``pytorch_ddp``
(``--broadcast-buffers`` is off by default) syncs it, so ranks built from different data
directories, lexicons or saved indexes would silently train different models. Two checks:

- every rank builds the same index (a digest of ids, unit names, dictionary and table
  shape, compared with an all-gather while the model is built), and it is logged;
- a checkpoint must not change the shape of a unit table. A model built without its index
  (``--sememe-lexicon`` and ``see_index.<lang>.npz`` both absent) is a placeholder the checkpoint
  fills; but fairseq wraps the model for data parallelism *before* it loads the checkpoint, and the
  wrapper keeps the parameter objects it was given: a unit table replaced afterwards would no
  longer have its gradients averaged across ranks.
"""

import hashlib
import logging

import torch

from .errors import UserInputError
from .modules.sememe_entanglement_embedding import SememeEntanglementEmbedding

logger = logging.getLogger(__name__)


def world_size():
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_world_size()
    return 1


def see_embeddings(model):
    """(name, module) of every SEE embedding in ``model`` (those carrying a sememe index)."""
    return [(name, module) for name, module in model.named_modules() if isinstance(module, SememeEntanglementEmbedding)]


def index_digest(module):
    """sha256 of what defines a SEE embedding's index: ids, unit names, dictionary, table shape."""
    h = hashlib.sha256()
    h.update(module.unit_ids.detach().cpu().numpy().tobytes())
    h.update("\n".join(module.units).encode("utf-8"))
    h.update(str(module.dictionary_checksum).encode("utf-8"))
    h.update(str(tuple(module.unit_vectors.shape)).encode("utf-8"))
    return h.hexdigest()


def check_index_identity_across_ranks(model):
    """Both checks of the module notes; a no-op in a single process."""
    embeddings = see_embeddings(model)
    ranks = world_size()
    if not embeddings or ranks == 1:
        return

    def refuse_unit_table_change(root, state_dict, prefix, *args):
        for name, module in embeddings:
            vectors = state_dict.get(f"{prefix}{name}.unit_vectors")
            if vectors is not None and vectors.shape != module.unit_vectors.shape:
                raise UserInputError(
                    f"{module.dictionary_path}: this {ranks}-process run built its SEE model ({module.side}) "
                    f"without the checkpoint's index ({tuple(module.unit_vectors.shape)} vs {tuple(vectors.shape)} "
                    "unit vectors), and fairseq has already wrapped it for data parallelism; pass "
                    "--sememe-lexicon as for the first run, or save the index beside the dictionaries with "
                    "fairseq-see-index")

    model.register_load_state_dict_pre_hook(refuse_unit_table_change)
    mine = {name: index_digest(module) for name, module in embeddings}
    gathered = [None] * ranks
    torch.distributed.all_gather_object(gathered, mine)  # a collective: every rank builds the model
    for name, module in embeddings:
        digests = [by_name[name] for by_name in gathered]
        if len(set(digests)) > 1:
            shown = ", ".join(f"rank {r}: {d[:12]}" for r, d in enumerate(digests))
            raise UserInputError(f"{module.dictionary_path}: the SEE index ({module.side}) differs across ranks "
                                 f"({shown}); every node needs the same data directory, lexicon and "
                                 "see_index.<lang>.npz (build the index once with fairseq-see-index and copy "
                                 "the data directory)")
        logger.info(f"SEE index ({module.side}): identical on all {len(digests)} ranks "
                    f"(sha256 {digests[0][:12]}); a buffer, not a parameter: never all-reduced")
