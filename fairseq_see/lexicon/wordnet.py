"""HowNet sememes for English words through WordNet 3.0 (plain Python, no torch/fairseq/nltk).

Two inputs: the WordNet 3.0 database (wndb(5WN): ``index.noun|verb|adj|adv``, ``data.*``, ``*.exc``,
``cntlist.rev``) and a synset -> sememe-tree file (``wn:<offset><pos> TAB bn:<id> TAB ={tree}``, as in
yeyn19/structured_sememe_prediction's synsetStructed.txt). Every English lemma with a mapped synset
becomes an entry; each sense is one synset's sememes.

Choices of ours, each stated once here:
- A synset's sememes: the head (first) sememe of each of its trees first (trees come one per line
  or ``;``-separated), then the remaining sememes in textual (pre-order) order, duplicates dropped.
  Quoted names (``"Russia|俄罗斯"``) are sememes, as OpenHowNet reads them; placeholders ``~ $ ?``
  are not.
- Offsets of the synset file that are not a synset's first byte in WN 3.0's data file are shifted
  (every verb one in the shared file is 18 bytes early, every adjective one 1 byte): such an offset
  is taken to mean the synset line starting at most ``_MAX_SHIFT`` bytes after it.
  Adjective satellites (``s`` in WordNet) are labelled ``a`` in that file; both are read as ``a``.
- Sense order across parts of speech: WordNet orders each POS's senses by SemCor tag count; senses
  of all POS are merged by tag count (``cntlist.rev``; 0 when untagged), keeping each POS's own
  order; ties go to the lower sense number, then to the POS with more tagged uses for that word,
  then nouns, verbs, adjectives, adverbs.
- Base forms follow WordNet's morph.c (``morphword``): per POS, the exception list's forms if the
  word is on it (an entry naming the word itself, "seed seed", blocks the rules), else the first
  detachment rule whose result is a lemma of that POS ("raped" -> rape, not rap; nouns ending in
  "ss" or of two letters have none).
- A word gets the senses of its base forms of each POS merged into its own, by tag count as above
  (its own senses first at equal counts): "went", "geese" (not lemmas) get entries of their own;
  "found" < find, "saw" < see, "left" < leave (exception lists) always merge. Through the regular
  rules a word that is a lemma itself only merges a base with more tagged uses in that POS than
  the word has in all of its own ("times" < time, "wanted" < want; "gas" does not pull in "ga",
  gallium), and a noun with tagged uses is never read as a comparative ("owner" is not "own" +
  er). Regular inflections that are no lemma ("apples", "walked") have no entry of their own:
  ``Lexicon.get`` finds the base's entry through ``Lexicon.base_forms`` (``BaseForms``).
- Closed-class words (``FUNCTION_WORDS``) get no entry and are never used as a base form: WordNet
  only has open-class homographs of them ("in" inch/indium, "a" ampere, "he" helium, "will" a
  testament, "can" a container, "may" the month).
- A capitalised-only sense of a word of at most two letters whose synset is a place, a unit, a
  state or a substance (lexicographer files noun.location/quantity/state/substance: "oh" Ohio,
  "hi" Hawaii, "ms" multiple sclerosis, "am" americium) is dropped; "tv" (TV, television) keeps its
  senses. (Two-letter place codes go with it: "uk", "la".)
"""

import heapq
import os
import re

from .model import Entry, Lexicon, LexiconError

POS_FILES = {"n": "noun", "v": "verb", "a": "adj", "r": "adv"}
_POS_ORDER = {"n": 0, "v": 1, "a": 2, "r": 3}
_SS_TYPE_POS = {"n": "n", "v": "v", "a": "a", "s": "a", "r": "r"}
_SENSE_KEY_POS = {"1": "n", "2": "v", "3": "a", "4": "r", "5": "a"}

# WordNet's detachment rules (morph.c), per POS: (suffix, ending)
DETACHMENT_RULES = {
    "n": (("s", ""), ("ses", "s"), ("xes", "x"), ("zes", "z"), ("ches", "ch"), ("shes", "sh"),
          ("men", "man"), ("ies", "y")),
    "v": (("s", ""), ("ies", "y"), ("es", "e"), ("es", ""), ("ed", "e"), ("ed", ""), ("ing", "e"),
          ("ing", "")),
    "a": (("er", ""), ("est", ""), ("er", "e"), ("est", "e")),
    "r": (),
}

_POS_SUFFIXES = {pos: tuple({suffix for suffix, _ in rules} | ({"ful"} if pos == "n" else set()))
                 for pos, rules in DETACHMENT_RULES.items()}
_SUFFIXES = tuple(set().union(*_POS_SUFFIXES.values()))

# English closed-class words: they get no WordNet entry and are no base form (see the module
# notes). By class: personal, possessive, reflexive, archaic and indefinite pronouns; wh-words;
# demonstratives and existential "there"; articles and determiners; prepositions and particles;
# conjunctions; the modals; and the pieces that splitting contractions at the apostrophe leaves
# ('s 't 'll 're 've 'm 'd o' 'em, don't -> "don", won't -> "won", ain't -> "ain"). Not listed, on
# purpose: be/have/do with all their forms and not/no, whose first WordNet senses are the sememes
# HowNet gives their Chinese counterparts 是/有/做/不 (FuncWord|功能词 + be|是, own|有, do|做,
# neg|否): with them 44.6% of TVsub's English token mass gets sememes, without them 37.5%; the
# quantifiers whose WordNet senses are their own meaning, the sememes HowNet gives 多/更/最/另
# (many much more most few fewer fewest less least enough other another); and adverbs with
# content (here now then just very too only never).
FUNCTION_WORDS = frozenset("""
    i me my mine myself you your yours yourself yourselves he him his himself she her hers herself
    it its itself we us our ours ourselves they them their theirs themselves thee thou thy thine ye
    ya one oneself ones
    anybody anyone anything everybody everyone everything nobody nothing somebody someone something
    who whom whose which what whatever whoever whomever whichever whatsoever when where why how
    whenever wherever
    this that these those there
    a an the some any none every each either neither both all such several
    about above across after against along alongside amid amidst among amongst around as at
    before behind below beneath beside besides between beyond by despite down during except for
    from in inside into of off on onto out outside over per since than through throughout till to
    toward towards under underneath unlike until unto up upon via with within without versus vs
    and or but nor so yet because although though if unless whether while whilst whereas lest
    whereby cause cos coz cuz
    will would shall should can could may might must ought
    s t ll re ve m d o em
    don doesn didn isn aren wasn weren haven hasn hadn won wouldn couldn shouldn mustn mightn
    needn shan ain
""".split())

# lexicographer files whose capitalised-only short lemmas are symbols or abbreviations
_SYMBOL_LEXNAMES = {"15", "23", "26", "27"}  # noun.location, noun.quantity, noun.state, noun.substance
_MAX_SHIFT = 32  # bytes; see the module notes
_SYNSET_FILE = "synset->sememe file"
_KEY = re.compile(r"wn:(\d{8})([nvasr])")
_SEMEME = re.compile(r'[{"]([^{}":|]+\|[^{}":|]+)(?=[}":])')
_ADJ_MARKER = re.compile(r"\([a-z]+\)$")


def _open(path, what):
    try:
        return open(path, "rb")
    except FileNotFoundError:
        if what == _SYNSET_FILE:
            raise LexiconError(f"{path}: lexicon not found; pass an existing synset->sememe file to "
                               "--sememe-lexicon") from None
        raise LexiconError(f"{path}: WordNet file not found ({what}); pass the WordNet 3.0 database folder "
                           "(with index.noun, data.noun, noun.exc, cntlist.rev, ...) as --wordnet") from None
    except IsADirectoryError:
        raise LexiconError(f"{path}: is a directory, expected WordNet's {what}") from None


def _read_lines(path, what):
    with _open(path, what) as f:
        data = f.read()
    try:
        return [line.rstrip("\r") for line in data.decode("utf-8").split("\n")]
    except UnicodeDecodeError as e:
        number = data.count(b"\n", 0, e.start) + 1
        raise LexiconError(f"{path}:{number}: not UTF-8 text ({what}); use the file unchanged from its "
                           "source") from None


def _garbled(path, number, expected):
    return LexiconError(f"{path}:{number}: expected {expected} (wndb(5WN)); the WordNet file is damaged, "
                        "use an unmodified WordNet 3.0 database")


class WordNet:
    """WordNet 3.0's lemma index, tag counts and morphology (exception lists + detachment rules).

    ``index[pos][lemma]`` is the tuple of synset offsets in WordNet's sense order; only the single
    words (no ``_``) are kept.
    """

    def __init__(self, directory):
        self.directory = os.fspath(directory)
        if not os.path.isdir(self.directory):
            raise LexiconError(f"{self.directory}: WordNet folder not found; pass the WordNet 3.0 "
                               "database folder (with index.noun, data.noun, ...) as --wordnet")
        self.index = {pos: self._read_index(pos) for pos in POS_FILES}
        self.exceptions = {pos: self._read_exceptions(pos) for pos in POS_FILES}
        self.counts = self._read_counts()
        self.totals = {key: sum(counts.values()) for key, counts in self.counts.items()}

    def _path(self, name):
        return os.path.join(self.directory, name)

    def _read_index(self, pos):
        path = self._path(f"index.{POS_FILES[pos]}")
        index = {}
        for number, line in enumerate(_read_lines(path, "lemma index"), start=1):
            if not line or line[0] == " ":  # the license header lines start with two spaces
                continue
            fields = line.split()
            try:
                lemma, synset_cnt, p_cnt = fields[0], int(fields[2]), int(fields[3])
                offsets = fields[len(fields) - synset_cnt:]
                if (fields[1] != pos or synset_cnt < 1 or int(fields[4 + p_cnt]) != synset_cnt
                        or len(fields) != 6 + p_cnt + synset_cnt):
                    raise ValueError
                if "_" in lemma:
                    continue
                index[lemma] = tuple(int(o) for o in offsets)
            except (ValueError, IndexError):
                raise _garbled(path, number, f"'lemma {pos} synset_cnt p_cnt [ptr...] sense_cnt "
                                             "tagsense_cnt offset...'") from None
        if not index:
            raise LexiconError(f"{path}: no lemma in WordNet's index; use an unmodified WordNet 3.0 database")
        return index

    def _read_exceptions(self, pos):
        path = self._path(f"{POS_FILES[pos]}.exc")
        exceptions = {}
        for number, line in enumerate(_read_lines(path, "exception list"), start=1):
            fields = line.split()
            if not fields:
                continue
            if len(fields) < 2:
                raise _garbled(path, number, "'inflected_form base_form...'")
            if "_" not in fields[0]:
                exceptions[fields[0]] = exceptions.get(fields[0], ()) + tuple(fields[1:])
        return exceptions

    def _read_counts(self):
        """SemCor tag counts: (lemma, pos) -> {sense number: count}, from cntlist.rev."""
        path = self._path("cntlist.rev")
        counts = {}
        for number, line in enumerate(_read_lines(path, "sense tag counts"), start=1):
            fields = line.split()
            if not fields:
                continue
            try:
                key, sense_number, count = fields
                lemma, _, rest = key.partition("%")
                pos = _SENSE_KEY_POS[rest[0]]
                counts.setdefault((lemma, pos), {})[int(sense_number)] = int(count)
            except (ValueError, KeyError, IndexError):
                raise _garbled(path, number, "'lemma%ss_type:lex_filenum:lex_id:head:head_id "
                                             "sense_number tag_cnt'") from None
        return counts

    def synsets(self, lemma, pos):
        """The lemma's synset offsets in ``pos``, most frequent sense first."""
        return self.index[pos].get(lemma, ())

    def tag_count(self, lemma, pos, sense_number=None):
        """SemCor tag count of one sense (1-based number), or of all the lemma's senses in ``pos``."""
        if sense_number is None:
            return self.totals.get((lemma, pos), 0)
        counts = self.counts.get((lemma, pos))
        return counts.get(sense_number, 0) if counts else 0

    def morphword(self, form, pos):
        """WordNet's base forms of a single word in ``pos`` (morph.c's ``morphword``): the exception
        list's forms if the word is on it (an entry naming the word itself, "seed seed", blocks the
        rules), else the first detachment rule that yields a lemma of ``pos``. The word itself is
        left out."""
        lemmas = self.index[pos]
        exceptions = self.exceptions[pos].get(form)
        if exceptions is not None:
            return [b for b in exceptions if b != form and b in lemmas]
        end = ""
        if pos == "n":
            if form.endswith("ful"):  # "boxesful" -> "boxful"
                form, end = form[:-3], "ful"
            elif form.endswith("ss") or len(form) <= 2:  # cannot be a plural
                return []
        for suffix, ending in DETACHMENT_RULES[pos]:
            if form.endswith(suffix):
                base = form[: len(form) - len(suffix)] + ending
                if base and base != form and base + end in lemmas:
                    return [base + end]
        return []

    def inflection_bases(self, word, usable=None):
        """[(base, pos)]: the lemmas ``word`` is taken as an inflection of (see the module notes).

        For a word that is a lemma itself, a regular (rule-derived) base counts only if it has more
        tagged uses in its POS than the word in all of its own; and a noun with tagged uses is not
        read as an adjective's comparative ("owner" is not "own" + er). Function words have none.
        ``usable(base, pos)``, if given, filters the candidates first (a speed-up).
        """
        if word in FUNCTION_WORDS:
            return []
        bases = []
        own = None
        for pos in POS_FILES:
            regular = word not in self.exceptions[pos]
            if regular and not word.endswith(_POS_SUFFIXES[pos]):
                continue
            for base in self.morphword(word, pos):
                if base in FUNCTION_WORDS or (usable is not None and not usable(base, pos)):
                    continue
                if own is None:
                    is_lemma = any(word in self.index[p] for p in POS_FILES)
                    own = sum(self.tag_count(word, p) for p in POS_FILES) if is_lemma else 0
                if regular and is_lemma and (self.tag_count(base, pos) <= own or
                                             (pos == "a" and self.tag_count(word, "n") > 0)):
                    continue
                bases.append((base, pos))
        return bases

    def base_forms(self, word):
        """The distinct lemmas of ``inflection_bases(word)``, most tagged first."""
        counts = {}
        for base, pos in self.inflection_bases(word):
            counts[base] = max(counts.get(base, 0), self.tag_count(base, pos))
        return sorted(counts, key=lambda b: -counts[b])

    def data_path(self, pos):
        return self._path(f"data.{POS_FILES[pos]}")

    def data_lines(self, pos, offsets):
        """{offset: data line} for the synsets at (or shifted just before) ``offsets``; see the
        module notes for the shift. Offsets with no synset line nearby are left out."""
        path = self.data_path(pos)
        lines = {}
        with _open(path, "synset data") as f:
            for offset in sorted(offsets):
                f.seek(max(offset - 1, 0))
                if offset and f.read(1) != b"\n" and len(f.readline()) > _MAX_SHIFT:
                    continue  # not a line start, and no line starts just after it
                line = f.readline()
                start = f.tell() - len(line)
                try:
                    text = line.decode("utf-8")
                except UnicodeDecodeError:
                    raise LexiconError(f"{path}: byte {start}: not UTF-8 text; use an unmodified WordNet 3.0 "
                                       "database") from None
                if text.startswith(f"{start:08d} "):
                    lines[offset] = text
        return lines


class BaseForms:
    """``Lexicon.base_forms`` for English: the lowercased word, then WordNet's base forms of it.

    Closed-class words (``FUNCTION_WORDS``) have none and are never a base form.
    """

    def __init__(self, wordnet):
        self.wordnet = wordnet

    def __call__(self, word):
        lower = word.lower()
        if lower in FUNCTION_WORDS:
            return ()
        forms = ([lower] if lower != word else []) + self.wordnet.base_forms(lower)
        return tuple(f for f in forms if f not in FUNCTION_WORDS)


def read_synset_sememes(path, names=None, lexicon=None):
    """{(pos, offset): sememe tuple} of a ``wn:<offset><pos> TAB bn:<id> TAB ={tree}`` file.

    ``pos`` is n, v, a (adjective satellites included) or r; ``offset`` as written in the file.
    With ``names`` (a ``SememeNames``), every name is mapped to OpenHowNet's ``english|中文``; the
    unknown and ambiguous ones are recorded on ``lexicon``.
    """
    lexicon = lexicon if lexicon is not None else Lexicon(name=os.path.basename(os.fspath(path)))
    canonical = {}
    trees = {}
    for number, line in enumerate(_read_lines(path, _SYNSET_FILE), start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        match = _KEY.fullmatch(fields[0].strip())
        tree = fields[2].strip() if len(fields) >= 3 else ""
        if match is None or not tree.startswith(("=", "{")) or tree.count("{") != tree.count("}"):
            raise LexiconError(f"{path}:{number}: expected 'wn:<8-digit offset><n|v|a|r><TAB>bn:<id><TAB>"
                               "={sememe tree}'; fix the line or pass the right --sememe-lexicon-format")
        key = (_SS_TYPE_POS[match.group(2)], int(match.group(1)))
        for definition in tree.lstrip("=").split(";"):
            sememes = []
            for raw in _SEMEME.findall(definition):
                if names is not None:
                    if raw not in canonical:
                        canonical[raw] = names.canonical(raw, lexicon)
                    elif raw in lexicon.unknown_sememes:
                        lexicon.unknown_sememes[raw] += 1
                    raw = canonical[raw]
                sememes.append(raw)
            if sememes:
                trees.setdefault(key, []).append(sememes)
    result = {}
    for key, definitions in trees.items():
        heads = [d[0] for d in definitions]
        rest = [s for d in definitions for s in d[1:]]
        result[key] = tuple(dict.fromkeys(heads + rest))
    return result


class _Synsets:
    """The mapped synsets of WordNet: sememes, lower-case word forms and lexicographer file."""

    def __init__(self, wordnet, sememes):
        self.sememes = {}  # (pos, offset) -> sememe tuple, offsets resolved to WN 3.0's
        self.lowercase = {}  # (pos, offset) -> set of the synset's words written in lower case
        self.symbols = set()  # (pos, offset) of noun.location/quantity/substance/state synsets
        self.lemmas = {pos: set() for pos in POS_FILES}  # lower-cased single words of those synsets
        by_pos = {}
        for (pos, offset) in sememes:
            by_pos.setdefault(pos, []).append(offset)
        self.unresolved = 0
        for pos, offsets in by_pos.items():
            lines = wordnet.data_lines(pos, offsets)
            path = wordnet.data_path(pos)
            if not lines:
                raise LexiconError(f"{path}: none of the {len(offsets)} synset offsets ({POS_FILES[pos]}) of the "
                                   "synset->sememe file is a synset here; pass the WordNet 3.0 database as --wordnet")
            for offset in offsets:
                line = lines.get(offset)
                words = line.split(" ") if line else None
                if not words:
                    self.unresolved += 1
                    continue
                try:
                    count = int(words[3], 16)
                    forms = [_ADJ_MARKER.sub("", w) for w in words[4:4 + 2 * count:2]]
                    if _SS_TYPE_POS[words[2]] != pos or len(forms) != count or not count:
                        raise ValueError
                except (ValueError, IndexError, KeyError):
                    raise LexiconError(f"{path}: byte {int(words[0])}: expected 'offset lex_filenum ss_type "
                                       "w_cnt word lex_id ...' (wndb(5WN)); the WordNet file is damaged, use an "
                                       "unmodified WordNet 3.0 database") from None
                key = (pos, int(words[0]))
                if key in self.sememes:  # a shifted and an exact offset naming one synset: merge
                    self.sememes[key] = tuple(dict.fromkeys(self.sememes[key] + sememes[(pos, offset)]))
                    continue
                self.sememes[key] = sememes[(pos, offset)]
                self.lowercase[key] = {w for w in forms if w == w.lower()}
                self.lemmas[pos].update(w.lower() for w in forms if "_" not in w)
                if pos == "n" and words[1] in _SYMBOL_LEXNAMES:
                    self.symbols.add(key)

    def keeps(self, lemma, key):
        """Whether ``lemma`` keeps this synset as a sense (the short capitalised symbol rule)."""
        return not (len(lemma) <= 2 and key in self.symbols and lemma not in self.lowercase[key])


def _pos_senses(wordnet, synsets, lemma, pos, cache):
    """[(tag count, sense number, sememes)] of a lemma's mapped synsets in one POS, WordNet's order."""
    key = (lemma, pos)
    if key in cache:
        return cache[key]
    senses = []
    counts = wordnet.counts.get(key) or {}
    sememes = synsets.sememes
    for number, offset in enumerate(wordnet.index[pos].get(lemma, ()), start=1):
        synset = (pos, offset)
        if synset in sememes and synsets.keeps(lemma, synset):
            senses.append((counts.get(number, 0), number, sememes[synset]))
    cache[key] = senses
    return senses


def _merge(groups):
    """Merge sense lists by tag count, each list keeping its order (see the module notes).

    ``groups``: [(group rank, pos, [(count, number, sememes)])]; the word's own lists have rank 0.
    """
    totals = {}
    for rank, pos, senses in groups:
        totals[(rank, pos)] = sum(c for c, _, _ in senses)
    streams = [[((-count, rank, number, -totals[(rank, pos)], _POS_ORDER[pos]), sememes)
                for count, number, sememes in senses]
               for rank, pos, senses in groups]
    merged = heapq.merge(*streams, key=lambda item: item[0])
    return tuple(dict.fromkeys(sememes for _, sememes in merged))


def read_wordnet_lexicon(synset_file, wordnet_dir, names=None):
    """English words -> senses (one per mapped synset, main sememe first), see the module notes.

    ``synset_file``: the ``wn:<offset><pos> TAB bn:<id> TAB ={tree}`` file; ``wordnet_dir``: the
    WordNet 3.0 database folder (or a ``WordNet``); ``names``: a ``SememeNames`` or None. The
    lexicon's ``base_forms`` finds the entry of a regular inflection ("apples", "walked").
    """
    synset_file = os.fspath(synset_file)
    wordnet = wordnet_dir if isinstance(wordnet_dir, WordNet) else WordNet(wordnet_dir)
    lexicon = Lexicon(name=os.path.basename(synset_file), base_forms=BaseForms(wordnet))
    synsets = _Synsets(wordnet, read_synset_sememes(synset_file, names, lexicon))

    own = {}  # word -> [(pos, senses)] of its own mapped synsets
    cache = {}
    for pos in POS_FILES:
        for lemma in synsets.lemmas[pos] - FUNCTION_WORDS:
            senses = _pos_senses(wordnet, synsets, lemma, pos, cache)
            if senses:
                own.setdefault(lemma, []).append((pos, senses))

    # words that may inflect a lemma with senses: the exception lists' forms, and lemmas ending in
    # a detachment rule's suffix
    mapped = {pos: set() for pos in POS_FILES}
    for word, pos_senses in own.items():
        for pos, _ in pos_senses:
            mapped[pos].add(word)
    words = set(own)
    for pos in POS_FILES:
        words.update(wordnet.exceptions[pos])
        words.update(w for w in wordnet.index[pos] if w.endswith(_SUFFIXES))
    usable = lambda base, pos: base in mapped[pos]  # noqa: E731
    for word in sorted(words):
        groups = [(0, pos, senses) for pos, senses in own.get(word, ())]
        for base, pos in wordnet.inflection_bases(word, usable):
            senses = _pos_senses(wordnet, synsets, base, pos, cache)
            if senses:
                groups.append((len(groups) + 1, pos, senses))
        if groups:
            lexicon.entries[word] = Entry(senses=_merge(groups), frequency_ordered=True)
    return lexicon
