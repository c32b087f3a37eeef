"""The one compatibility fix the plugin makes to its environment: fairseq 0.12 checkpoints on torch >= 2.6.

fairseq 0.12 saves checkpoints that hold argparse/omegaconf objects and loads them with a plain
``torch.load(path)``. torch 2.6 changed that call's default to ``weights_only=True``, which refuses
those objects, so every ``fairseq-train`` resume, ``fairseq-generate`` and hub load would fail.
fairseq offers no hook for the argument, so the documented environment switch
``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD`` restores the old default. It is as narrow as fairseq allows:
it applies only to ``torch.load`` calls that do not pass ``weights_only`` themselves (explicit
callers keep theirs), a value the user already set is left alone, and torch's warning about the
switch, which names no action for the user, is silenced.

Imported first by ``fairseq_see/__init__.py``: ``--user-dir fairseq_see`` is what brings it into a
stock fairseq command, which is why the recipes pass it to the stock teacher's ``fairseq-train`` too.
"""

import os
import warnings


def allow_fairseq_checkpoints():
    os.environ.setdefault("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    warnings.filterwarnings("ignore", message="Environment variable TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD detected")
