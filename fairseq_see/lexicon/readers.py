"""Readers for the sememe lexicon formats we meet in practice, all producing one ``Lexicon``.

Formats (auto-detected from the first lines, or named explicitly):
  hownet2000  HowNet-2000 glossary: ``word<TAB>POS<TAB>def``, one sense per line; def is a comma
              list of ``english|中文`` sememes with relation markers (``*#%$@?&~^``, ``role=``).
  thunlp      thunlp merged file: a word line, then a line of its sememes (all senses merged).
  sewrl       SE-WRL sense file: ``word nSenses [k s1..sk]*``.
  openhownet  OpenHowNet's own data (``~/.openhownet/resources``) read through its API.
  wordnet_synsets  WordNet 3.0 synset -> HowNet sememe tree: ``wn:<offset><pos> TAB bn:<id> TAB ={tree}``,
              giving English words sememes through WordNet (needs the WordNet 3.0 database folder,
              ``wordnet=``; see wordnet.py).
"""

import os
import re

from .model import Entry, Lexicon, LexiconError, combine
from .sememe_names import SememeNames
from .wordnet import FUNCTION_WORDS, read_wordnet_lexicon

FORMATS = ("hownet2000", "thunlp", "sewrl", "openhownet", "wordnet_synsets")
OPENHOWNET = "openhownet"
WORDNET_SYNSETS = "wordnet_synsets"

# HowNet-2000 relation markers in front of a sememe: they qualify the relation, not the sememe
_MARKERS = "*#%$@?&~^!+"
_HOWNET2000_ITEM = re.compile(r"^[*#%$@?&~^!+]*(?:[A-Za-z]+=)?([{(]?)([^{}()]*)[})]?$")
_WORDNET_SYNSET_LINE = re.compile(r"wn:\d{8}[nvasr]\t[^\t]*\t\s*=?[{\"]")


def _lines(path):
    """Yield (line number, text) of a UTF-8 file; non-UTF-8 input is a one-line error."""
    try:
        with open(path, "rb") as f:
            for number, raw in enumerate(f, start=1):
                try:
                    yield number, raw.decode("utf-8").rstrip("\r\n")
                except UnicodeDecodeError:
                    raise LexiconError(f"{path}:{number}: not UTF-8 text; convert the lexicon to UTF-8 "
                                       "(e.g. iconv -f GB18030 -t UTF-8)") from None
    except FileNotFoundError:
        raise LexiconError(f"{path}: lexicon not found; pass an existing file to --sememe-lexicon "
                           f"or '{OPENHOWNET}'") from None
    except IsADirectoryError:
        raise LexiconError(f"{path}: is a directory; pass a lexicon file to --sememe-lexicon") from None


def _canonical(names, raw, lexicon):
    return names.canonical(raw, lexicon) if names is not None else raw


def _unique(items):
    return tuple(dict.fromkeys(items))


SAMPLE_LINES = 40  # non-empty lines read to detect a format


def _looks_like(fmt, lines):
    """Does the first lines' content read as ``fmt``? (tried in the order of ``detect_format``)"""
    text = [line for line in lines if line.strip()]
    if fmt == WORDNET_SYNSETS:
        return all(_WORDNET_SYNSET_LINE.match(line) for line in text)
    if fmt == "hownet2000":
        # 'word<TAB>POS<TAB>definition' on most lines (a garbled one is the reader's error, named)
        return sum(line.count("\t") == 2 for line in text) * 2 > len(text) and any("|" in line for line in text)
    if any("\t" in line for line in text):
        return False
    if fmt == "sewrl":
        # 'word nSenses [k s1..sk]*': a count second on most lines (a bad count is the reader's error, named)
        counted = sum(len(fields) >= 2 and fields[1].isdigit() for fields in (line.split() for line in text))
        return counted * 2 > len(text)
    return True  # thunlp: word lines and sememe lines, no tabs (its reader checks that they alternate)


def detect_format(path):
    """Guess a lexicon file's format from the content of its first lines."""
    lines, filled = [], 0
    for _, line in _lines(path):
        lines.append(line)
        filled += bool(line.strip())
        if filled == SAMPLE_LINES:
            break
    if not filled:
        raise LexiconError(f"{path}: lexicon is empty; pass a non-empty sememe lexicon")
    for fmt in (WORDNET_SYNSETS, "hownet2000", "sewrl", "thunlp"):
        if _looks_like(fmt, lines):
            return fmt
    raise LexiconError(f"{path}: unknown lexicon format (its first lines read as none of wordnet_synsets, hownet2000, "
                       f"sewrl, thunlp); name it with --sememe-lexicon-format ({', '.join(FORMATS)})")


def read_hownet2000(path, names=None):
    """HowNet-2000 glossary: one sense per line, main sememe first."""
    lexicon = Lexicon(name=os.path.basename(path))
    senses = {}
    for number, line in _lines(path):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 3:
            raise LexiconError(f"{path}:{number}: expected 'word<TAB>POS<TAB>definition', got "
                               f"{len(fields)} field(s); fix the line or pass the right --sememe-lexicon-format")
        word, definition = fields[0].strip(), fields[2].strip()
        sememes = []
        for item in definition.split(","):
            match = _HOWNET2000_ITEM.match(item.strip())
            if match is None:
                raise LexiconError(f"{path}:{number}: cannot parse definition item {item!r}; "
                                   "fix the line (expected e.g. '#fruit|水果')")
            bracket, name = match.groups()
            # '(x|y)' marks a concrete instance (a country's name), and items without '|' are
            # relation roles ({contrast}): neither is a sememe
            if bracket == "(" or "|" not in name:
                continue
            sememes.append(_canonical(names, name.strip(_MARKERS), lexicon))
        if word and sememes:
            senses.setdefault(word, []).append(_unique(sememes))
    for word, word_senses in senses.items():
        lexicon.entries[word] = Entry(senses=_unique(word_senses))
    return lexicon


_SHIFTED = ("a line above is missing or extra, so word and sememe lines are shifted; fix the file "
            "(each word line followed by the line of its sememes) or pass the right --sememe-lexicon-format")


def read_thunlp(path, names=None):
    """thunlp merged file: word line, sememe line; all senses of a word merged into one bag.

    A deleted or doubled line shifts every later word onto a sememe line; the shift is caught where
    a word line holds several tokens (a sememe list) or, with ``names``, where a sememe line names
    no known sememe (a word)."""
    lexicon = Lexicon(name=os.path.basename(path))
    lines = list(_lines(path))
    while len(lines) % 2 and not lines[-1][1].strip():
        lines.pop()  # blank lines at the end
    for (number, word), (sememe_number, sememe_line) in zip(lines[0::2], lines[1::2]):
        if "\t" in word:
            raise LexiconError(f"{path}:{number}: expected a word line, got {word[:40]!r}; "
                               "pass the right --sememe-lexicon-format")
        word = word.strip()
        if len(word.split()) > 1:
            raise LexiconError(f"{path}:{number}: expected a word line, got {word[:40]!r}, which looks like a "
                               f"sememe list; {_SHIFTED}")
        raw = sememe_line.split()
        if names is not None and raw and not any(names.knows(s) for s in raw):
            raise LexiconError(f"{path}:{sememe_number}: expected the sememes of {word[:40]!r}, got "
                               f"{sememe_line.strip()[:40]!r}, which is no sememe name of {names.path}; {_SHIFTED}")
        sememes = _unique(_canonical(names, s, lexicon) for s in raw)
        # the file's first record has an empty word; it cannot match any token
        if word and sememes:
            lexicon.entries[word] = Entry(senses=(sememes,), merged=True)
    if len(lines) % 2:
        raise LexiconError(f"{path}:{lines[-1][0]}: a word line without its sememe line; the file is "
                           "truncated or not in thunlp's word/sememe-line format")
    return lexicon


def read_sewrl(path, names=None):
    """SE-WRL sense file: ``word nSenses`` then, per sense, ``k`` and its ``k`` sememes."""
    lexicon = Lexicon(name=os.path.basename(path))
    for number, line in _lines(path):
        fields = line.split()
        if not fields:
            continue
        try:
            word, count, position, senses = fields[0], int(fields[1]), 2, []
            for _ in range(count):
                k = int(fields[position])
                sense = fields[position + 1:position + 1 + k]
                if len(sense) != k:
                    raise ValueError
                senses.append(_unique(_canonical(names, s, lexicon) for s in sense))
                position += 1 + k
            if position != len(fields):
                raise ValueError
        except (ValueError, IndexError):
            raise LexiconError(f"{path}:{number}: expected 'word nSenses [k s1..sk]*' with matching "
                               "counts; fix the line or pass the right --sememe-lexicon-format") from None
        lexicon.entries[word] = Entry(senses=_unique(senses))
    return lexicon


def read_openhownet():
    """OpenHowNet's data through its own API; both Chinese and English words become entries."""
    try:
        import OpenHowNet
        from OpenHowNet.Download import OPENHOWNET_RESOURCE_PATH
    except ImportError:
        raise LexiconError(f"{OPENHOWNET}: the OpenHowNet package is not installed; run "
                           "'pip install OpenHowNet' or pass a lexicon file") from None
    resources = os.path.join(OPENHOWNET_RESOURCE_PATH, "resources")
    for needed in ("HowNet_dict_complete", "sememe_all", "sememe_triples_taxonomy.txt"):
        if not os.path.isfile(os.path.join(resources, needed)):
            raise LexiconError(f"{os.path.join(resources, needed)}: OpenHowNet data missing; run "
                               "python -c 'import OpenHowNet; OpenHowNet.download()' or pass a lexicon file")
    hownet = OpenHowNet.HowNetDict()
    lexicon = Lexicon(name=OPENHOWNET)
    senses = {}
    for sense in hownet.sense_dic.values():
        sememes = _unique(s.en_zh for s in sense.sememes)
        if not sememes:
            continue
        # each HowNet sense pairs a Chinese and an English word (en_map / get_sense(w, language='en'))
        for word in dict.fromkeys((sense.zh_word.strip(), sense.en_word.strip())):
            if word:
                senses.setdefault(word, []).append(sememes)
    for word, word_senses in senses.items():
        lexicon.entries[word] = Entry(senses=_unique(word_senses))
    # English words written capitalised ("London", "Christmas") are also found lower-cased, as
    # lower-cased text writes them, unless the lower-case word has senses of its own or is a closed-
    # class word ("US" -> "us", "May" -> "may", "IT" -> "it" are not aliased)
    for word in list(lexicon.entries):
        lower = word.lower()
        if lower != word and lower not in lexicon.entries and lower not in FUNCTION_WORDS:
            lexicon.entries[lower] = lexicon.entries[word]
    return lexicon


_READERS = {"hownet2000": read_hownet2000, "thunlp": read_thunlp, "sewrl": read_sewrl}


def read_wordnet_synsets(path, names=None, wordnet=None):
    """WordNet synset -> sememe-tree file, read with the WordNet 3.0 database folder ``wordnet``."""
    if wordnet is None:
        raise LexiconError(f"{path}: a WordNet synset->sememe file needs the WordNet 3.0 database; pass "
                           "--wordnet DIR (the folder with index.noun, data.noun, noun.exc, cntlist.rev, ...)")
    return read_wordnet_lexicon(path, wordnet, names)


def read_lexicon(source, fmt="auto", names=None, wordnet=None):
    """Read one source: a file path, or ``openhownet`` for OpenHowNet's installed data.

    ``wordnet``: the WordNet 3.0 database folder, needed by (only) the ``wordnet_synsets`` format.
    """
    source = os.fspath(source)
    if source == OPENHOWNET or fmt == OPENHOWNET:
        lexicon = read_openhownet()
    else:
        detected = fmt == "auto"
        if detected:
            fmt = detect_format(source)
        elif fmt not in _READERS and fmt != WORDNET_SYNSETS:
            raise LexiconError(f"{source}: unknown --sememe-lexicon-format {fmt!r}; use auto or one of "
                               f"{', '.join(FORMATS)}")
        try:
            if fmt == WORDNET_SYNSETS:
                lexicon = read_wordnet_synsets(source, names, wordnet)
            else:
                lexicon = _READERS[fmt](source, names)
        except LexiconError as e:
            if not detected:
                raise
            # say which format the file was read as: the fix may be another --sememe-lexicon-format
            raise LexiconError(f"{e} (read as {fmt}, detected from its first lines)") from None
    if not lexicon.entries:
        raise LexiconError(f"{source}: lexicon has no word with sememes; pass a non-empty sememe lexicon")
    return lexicon


def load_lexicons(sources, fmt="auto", sememe_names=None, wordnet=None):
    """Read and combine comma-separated sources (first wins per word).

    ``sememe_names`` is OpenHowNet's sememe_dict_all JSON; with it, every source's names are
    mapped to OpenHowNet's ``english|中文`` so that sources agree on sememe identities.
    ``wordnet`` is the WordNet 3.0 database folder (or a ``wordnet.WordNet``), for
    ``wordnet_synsets`` sources.
    """
    if isinstance(sources, (str, os.PathLike)):
        sources = [s.strip() for s in os.fspath(sources).split(",") if s.strip()]
    if not sources:
        raise LexiconError("--sememe-lexicon: no lexicon given; pass a lexicon file or 'openhownet'")
    names = SememeNames.load(sememe_names) if sememe_names else None
    return combine([read_lexicon(source, fmt, names, wordnet) for source in sources])
