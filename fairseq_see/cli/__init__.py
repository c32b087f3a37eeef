"""The console scripts (``fairseq-see-index``, ``-recipe``, ``-export``, ``-extend``), one module each."""

import sys

from ..errors import UserInputError


def run(prog, command, args):
    """Run ``command(args)``; bad input becomes ``prog: error: <one line>`` on stderr and exit status 1."""
    try:
        command(args)
    except UserInputError as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 1
    return 0
