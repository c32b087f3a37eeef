"""The one data model every reader produces: word -> senses -> sememes (main sememe first)."""

from dataclasses import dataclass, field

from .errors import LexiconError  # noqa: F401 (readers import it from here)


@dataclass(frozen=True)
class Entry:
    """A word's senses, each an ordered tuple of sememe names with the main sememe first.

    ``merged`` marks sources that give one bag of sememes per word instead of real senses
    (thunlp's merged file); the index builder splits such a bag into pseudo-senses.
    ``frequency_ordered`` marks senses listed most frequent first (WordNet's order), which the index
    keeps; other sources' senses are ranked by the index.
    """

    senses: tuple
    merged: bool = False
    frequency_ordered: bool = False


@dataclass
class Lexicon:
    """Words with their senses, plus what the reader noticed on the way."""

    name: str
    entries: dict = field(default_factory=dict)
    # sememe names that could not be mapped to OpenHowNet's "english|中文" names, with counts
    unknown_sememes: dict = field(default_factory=dict)
    # Chinese-only names that match several OpenHowNet names, with the name chosen
    ambiguous_sememes: dict = field(default_factory=dict)
    # optional: word -> candidate base forms, tried in order by ``get`` when the word itself has no
    # entry (WordNet's morphology for English: "apples" -> "apple"); None for other sources
    base_forms: object = field(default=None, repr=False, compare=False)

    def __len__(self):
        return len(self.entries)

    def __contains__(self, word):
        return word in self.entries

    def get(self, word):
        entry = self.entries.get(word)
        if entry is None and self.base_forms is not None:
            for base in self.base_forms(word):
                entry = self.entries.get(base)
                if entry is not None:
                    break
        return entry

    def sememes(self):
        return {s for entry in self.entries.values() for sense in entry.senses for s in sense}

    def summary(self):
        senses = sum(len(e.senses) for e in self.entries.values())
        line = f"{self.name}: {len(self.entries):,} words, {senses:,} senses, {len(self.sememes()):,} sememes"
        if self.ambiguous_sememes:
            line += f", {len(self.ambiguous_sememes)} ambiguous sememe names"
        if self.unknown_sememes:
            line += f", {len(self.unknown_sememes)} sememe names unknown to OpenHowNet"
        return line


class ChainedBaseForms:
    """The base forms of several lexicons' ``base_forms``, in order, each once."""

    def __init__(self, functions):
        self.functions = tuple(functions)

    def __call__(self, word):
        return tuple(dict.fromkeys(base for function in self.functions for base in function(word)))


def combine(lexicons):
    """Merge several lexicons; the first one that has a word wins for that word.

    The ``base_forms`` of the lexicons that have one are kept (chained): an inflected word absent
    from all of them finds the combined entry of its base form.
    """
    if len(lexicons) == 1:
        return lexicons[0]
    functions = [lex.base_forms for lex in lexicons if lex.base_forms is not None]
    combined = Lexicon(name=" + ".join(lex.name for lex in lexicons),
                       base_forms=(functions[0] if len(functions) == 1 else
                                   ChainedBaseForms(functions) if functions else None))
    for lex in lexicons:
        for word, entry in lex.entries.items():
            combined.entries.setdefault(word, entry)
        for table, other in ((combined.unknown_sememes, lex.unknown_sememes),
                             (combined.ambiguous_sememes, lex.ambiguous_sememes)):
            for name, value in other.items():
                table.setdefault(name, value)
    return combined
