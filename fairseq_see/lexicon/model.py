"""The one data model every reader produces: word -> senses -> sememes (main sememe first)."""

from dataclasses import dataclass, field


class LexiconError(ValueError):
    """Bad lexicon input. The message is one line naming the file and the fix."""


@dataclass(frozen=True)
class Entry:
    """A word's senses, each an ordered tuple of sememe names with the main sememe first.

    ``merged`` marks sources that give one bag of sememes per word instead of real senses
    (thunlp's merged file); the index builder splits such a bag into pseudo-senses.
    """

    senses: tuple
    merged: bool = False


@dataclass
class Lexicon:
    """Words with their senses, plus what the reader noticed on the way."""

    name: str
    entries: dict = field(default_factory=dict)
    # sememe names that could not be mapped to OpenHowNet's "english|中文" names, with counts
    unknown_sememes: dict = field(default_factory=dict)
    # Chinese-only names that match several OpenHowNet names, with the name chosen
    ambiguous_sememes: dict = field(default_factory=dict)

    def __len__(self):
        return len(self.entries)

    def __contains__(self, word):
        return word in self.entries

    def get(self, word):
        return self.entries.get(word)

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


def combine(lexicons):
    """Merge several lexicons; the first one that has a word wins for that word."""
    if len(lexicons) == 1:
        return lexicons[0]
    combined = Lexicon(name=" + ".join(lex.name for lex in lexicons))
    for lex in lexicons:
        for word, entry in lex.entries.items():
            combined.entries.setdefault(word, entry)
        for table, other in ((combined.unknown_sememes, lex.unknown_sememes),
                             (combined.ambiguous_sememes, lex.ambiguous_sememes)):
            for name, value in other.items():
                table.setdefault(name, value)
    return combined
