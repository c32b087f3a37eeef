"""Make sememe identities agree across sources by mapping every name to OpenHowNet's "english|中文".

Sources name sememes differently: thunlp's files use the Chinese name only (``水果``), HowNet-2000
uses older English halves (``aValue|属性值`` where OpenHowNet says ``AttributeValue|属性值``).
Two sources only share units when their names are mapped to one vocabulary first.
"""

import json
from collections import defaultdict

from .model import LexiconError


class SememeNames:
    """Maps raw sememe names to OpenHowNet names, remembering what it could not map cleanly."""

    def __init__(self, frequencies, path="the sememe name list"):
        # frequencies: {"english|中文": corpus frequency}, as in OpenHowNet's sememe_dict_all
        self.path = path
        self.known = {name for name in frequencies if "|" in name}
        by_chinese = defaultdict(list)
        by_english = defaultdict(list)
        for name in self.known:
            english, chinese = name.split("|", 1)
            by_chinese[chinese].append(name)
            by_english[english.lower()].append(name)
        # several names share one Chinese half (国家 names, etc.): prefer the most frequent, then
        # the alphabetically first, so the choice is deterministic
        rank = lambda name: (-frequencies[name], name)  # noqa: E731
        self.by_chinese = {zh: sorted(names, key=rank) for zh, names in by_chinese.items()}
        self.by_english = {en: sorted(names, key=rank) for en, names in by_english.items()}

    @classmethod
    def load(cls, path):
        try:
            with open(path, encoding="utf-8") as f:
                frequencies = json.load(f)
        except FileNotFoundError:
            raise LexiconError(f"{path}: sememe name list not found; pass OpenHowNet's "
                               "sememe_dict_all JSON ({\"english|中文\": frequency})") from None
        except IsADirectoryError:
            raise LexiconError(f"{path}: is a directory; pass OpenHowNet's sememe_dict_all JSON file") from None
        except (ValueError, UnicodeDecodeError) as e:
            raise LexiconError(f"{path}: not a JSON object of sememe names ({e}); pass OpenHowNet's "
                               "sememe_dict_all JSON") from None
        if not isinstance(frequencies, dict) or not frequencies:
            raise LexiconError(f"{path}: expected a non-empty JSON object {{\"english|中文\": frequency}}")
        for name, frequency in frequencies.items():
            if isinstance(frequency, bool) or not isinstance(frequency, (int, float)) or frequency != frequency:
                raise LexiconError(f"{path}: the value of {name!r} is {frequency!r}, not a frequency (a number); pass "
                                   "OpenHowNet's sememe_dict_all JSON ({\"english|中文\": frequency})")
        if not any("|" in name for name in frequencies):
            raise LexiconError(f"{path}: no name of the form 'english|中文'; pass OpenHowNet's sememe_dict_all JSON")
        return cls(frequencies, path)

    def knows(self, raw):
        """Is ``raw`` a sememe name this list maps (whole, by its Chinese half, or by its English half)?"""
        if raw in self.known:
            return True
        english, _, chinese = raw.rpartition("|") if "|" in raw else ("", "", raw)
        return chinese in self.by_chinese or bool(english and english.lower() in self.by_english)

    def canonical(self, raw, lexicon):
        """The OpenHowNet name for ``raw``; records ambiguous and unknown names on ``lexicon``."""
        if raw in self.known:
            return raw
        english, _, chinese = raw.rpartition("|") if "|" in raw else ("", "", raw)
        candidates = self.by_chinese.get(chinese) or (self.by_english.get(english.lower()) if english else None)
        if not candidates:
            lexicon.unknown_sememes[raw] = lexicon.unknown_sememes.get(raw, 0) + 1
            return raw
        if len(candidates) > 1:
            lexicon.ambiguous_sememes[raw] = candidates[0]
        return candidates[0]


def missing_names_warning(sources, sememe_names):
    """The one line that says what is lost without a names map, or None (one source, or a map given)."""
    files = [s for s in str(sources).split(",") if s.strip()]
    if sememe_names or len(files) < 2:
        return None
    return ("warning: no --sememe-names: each lexicon's sememe names stay its own units (the same sememe "
            "under two names is two units, and fairseq-see-extend calls a trained sememe untrained); pass "
            "OpenHowNet's sememe_dict_all JSON")
