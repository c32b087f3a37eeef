"""The plugin's changes to its environment: fairseq 0.12 checkpoints on torch >= 2.6, and quiet imports.

fairseq 0.12 saves checkpoints that hold argparse/omegaconf objects and loads them with a plain
``torch.load(path)``. torch 2.6 changed that call's default to ``weights_only=True``, which refuses
those objects, so every ``fairseq-train`` resume, ``fairseq-generate`` and hub load would fail.
fairseq offers no hook for the argument, so the documented environment switch
``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` restores the old default. It is as narrow as fairseq allows:
it applies only to ``torch.load`` calls that do not pass ``weights_only`` themselves (explicit
callers keep theirs), a value the user already set is left alone, and torch's warning about the
switch, which names no action for the user, is silenced.

``quiet_imports`` silences, by their exact messages, the deprecation warnings that fairseq 0.12's
own use of hydra 1.x and torch 2.x prints on every run (hydra's experimental API, its package
headers and schema matching, ``torch.cuda.amp.autocast``, ``torch.jit.script``, pinned memory
without a GPU, mismatched attention masks): they name fairseq's code, not anything the user
passed, and no user action removes them. Everything else — fairseq's own log, its config line,
every other warning — is left as it is. (Warnings raised while ``import fairseq`` runs, before a
stock CLI imports the plugin, cannot be caught from here.)

Imported first by ``fairseq_see/__init__.py``: ``--user-dir fairseq_see`` is what brings it into a
stock fairseq command, which is why the recipes pass it to the stock teacher's ``fairseq-train`` too.
"""

import os
import warnings


def allow_fairseq_checkpoints():
    os.environ.setdefault("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    warnings.filterwarnings("ignore", message="Environment variable TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD detected")


# (category, start of the message) of each warning quiet_imports silences
FAIRSEQ_DEPENDENCY_WARNINGS = (
    (UserWarning, r"hydra\.experimental\.(initialize|compose)\(\) is no longer experimental"),
    (UserWarning, r"\s*The version_base parameter is not specified"),
    (UserWarning, r"In '[^']*': Usage of deprecated keyword in package header '# @package _group_'"),
    (UserWarning, r"\s*'[^']*' is validated against ConfigStore schema with the same name"),
    (UserWarning, r"\s*The strict flag in the compose API is deprecated"),
    (UserWarning, r"'pin_memory' argument is set as true but no accelerator is found"),
    (UserWarning, r"Support for mismatched key_padding_mask and attn_mask is deprecated"),
    (FutureWarning, r"`torch\.cuda\.amp\.autocast\(args\.\.\.\)` is deprecated"),
    (DeprecationWarning, r"`torch\.jit\.script` is deprecated"),
)


def quiet_imports():
    for category, message in FAIRSEQ_DEPENDENCY_WARNINGS:
        warnings.filterwarnings("ignore", message=message, category=category)
