"""Sememe lexicons and the SEE index, in plain Python + numpy (no torch, no fairseq)."""

from .index import (INDEX_FILE, SememeIndex, build_index, dictionary_checksum, lexicon_name,
                    read_fairseq_dictionary)
from .model import Entry, Lexicon, LexiconError, combine
from .readers import FORMATS, OPENHOWNET, detect_format, load_lexicons, read_lexicon
from .sememe_names import SememeNames

__all__ = ["INDEX_FILE", "Entry", "FORMATS", "Lexicon", "LexiconError", "OPENHOWNET", "SememeIndex", "SememeNames",
           "build_index", "combine", "detect_format", "dictionary_checksum", "lexicon_name", "load_lexicons",
           "read_fairseq_dictionary", "read_lexicon"]
