"""Sememe lexicons and the SEE index, in plain Python + numpy (no torch, no fairseq)."""

from .dictionary import check_index_fits_dictionary, dictionary_checksum, read_fairseq_dictionary
from .errors import LexiconError, UserInputError
from .index import INDEX_FILE, SememeIndex, build_index, lexicon_name
from .model import Entry, Lexicon, combine
from .readers import FORMATS, OPENHOWNET, detect_format, load_lexicons, read_lexicon
from .sememe_names import SememeNames

__all__ = ["INDEX_FILE", "Entry", "FORMATS", "Lexicon", "LexiconError", "OPENHOWNET", "SememeIndex", "SememeNames",
           "UserInputError", "build_index", "check_index_fits_dictionary", "combine", "detect_format",
           "dictionary_checksum", "lexicon_name", "load_lexicons", "read_fairseq_dictionary", "read_lexicon"]
