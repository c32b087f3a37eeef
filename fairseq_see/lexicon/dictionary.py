"""fairseq dictionaries as plain data: reading ``dict.<lang>.txt``, its identity, and the one check
that an index (saved or in a checkpoint) was built for it."""

import hashlib

from .errors import LexiconError
from .text import FAIRSEQ_SPECIALS


def dictionary_checksum(symbols):
    """Identity of a fairseq dictionary's symbol list (order matters, counts do not)."""
    return hashlib.sha256("\n".join(symbols).encode("utf-8")).hexdigest()


def read_fairseq_dictionary(path):
    """Symbols and counts of a fairseq ``dict.*.txt``, in fairseq's index order."""
    symbols, counts = list(FAIRSEQ_SPECIALS), [0] * len(FAIRSEQ_SPECIALS)
    try:
        with open(path, encoding="utf-8") as f:
            for number, line in enumerate(f, start=1):
                fields = line.rstrip("\n").rsplit(" ", 2)
                if len(fields) == 3 and fields[2] == "#fairseq:overwrite":
                    fields = fields[:2]
                elif len(fields) == 3:
                    fields = [fields[0] + " " + fields[1], fields[2]]
                if len(fields) != 2 or not fields[1].lstrip("-").isdigit():
                    raise LexiconError(f"{path}:{number}: expected '<token> <count>' as fairseq-preprocess "
                                       "writes it; regenerate the dictionary with fairseq-preprocess")
                symbols.append(fields[0])
                counts.append(int(fields[1]))
    except FileNotFoundError:
        raise LexiconError(f"{path}: dictionary not found; run fairseq-preprocess first or pass the "
                           "data-bin directory that holds dict.<lang>.txt") from None
    except UnicodeDecodeError:
        raise LexiconError(f"{path}: not UTF-8 text; regenerate the dictionary with fairseq-preprocess") from None
    return symbols, counts


def check_index_fits_dictionary(index_rows, index_checksum, vocab, checksum, dictionary_path, index_name, fix):
    """The checkpoint/dictionary agreement check, the one place it is made.

    An index (``index_name``: a saved ``see_index.<lang>.npz``, a checkpoint's SEE index) of
    ``index_rows`` rows built for the dictionary ``index_checksum`` must fit the dictionary at
    ``dictionary_path`` (``vocab`` symbols, ``checksum``); ``fix`` says what to do otherwise.
    ``index_checksum`` None (not recorded) skips the identity check.
    """
    if index_rows != vocab:
        raise LexiconError(f"{dictionary_path}: {vocab} symbols, but {index_name} has {index_rows} rows; {fix}")
    if index_checksum is not None and index_checksum != checksum:
        raise LexiconError(f"{dictionary_path}: not the dictionary {index_name} was built for (same size, other "
                           f"symbols or order); {fix}")
