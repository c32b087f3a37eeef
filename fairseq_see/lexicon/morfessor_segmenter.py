"""English (or any non-Chinese) morphemes from Morfessor 2.0 Baseline, trained on a side's word types.

MorphTE (Gan et al. 2022) builds a word's embedding from its morphemes, segmented with Morfessor
(their code uses polyglot's pretrained Morfessor models); we train a Morfessor Baseline model on the
word types of the training side instead, so no download is needed and the morphs fit the corpus.

    seg = MorfessorSegmenter.train({"walk": 12, "walking": 5, ...}, seed=1)
    seg.segment("walking")  -> ["walk", "ing"]
    seg.save(path); MorfessorSegmenter.load(path).segment("walking") -> ["walk", "ing"]

Choices of ours, each stated once here:
- Count dampening ``log`` by default (Morfessor's CLI offers ``none``, ``log`` = round(log2(c + 1)),
  and ``ones``, its default): with ``ones`` every type weighs the same and frequent short words get
  cut into pieces that mean nothing ("th+is", "n+ow", "s+in+ce" on TVsub); with ``log`` frequent
  words stay whole while affixes still come out ("walk+ing", "offer+ed", "un+believable"). All three
  give integer counts, which is what makes a saved model reproduce Viterbi segmentations exactly.
- Words are lowercased for training and lookup (``lowercase=True``); ``segment`` cuts the word as
  given at the boundaries found for its lowercased form, so the morphs keep the word's casing.
- ``segment`` expects a bare word: the caller strips sentencepiece's "▁" / subword-nmt's "@@".
  A training word gets its trained segmentation; any other word Morfessor's Viterbi segmentation
  (smoothing 0 and longest morph 30, its CLI defaults), which never fails: an unknown character
  becomes a morph of its own.
- Training is Morfessor's batch training with its defaults otherwise (recursive splitting, corpus
  weight 1.0, forced split at "-", stop when an epoch gains < 0.005 * #types), over the types in
  sorted order with python's ``random`` seeded (and its global state restored afterwards), so the
  result depends only on the counts, the parameters and the seed. The model class below computes
  exactly Morfessor's costs (bit for bit, tested) about twice as fast: on one core ~12 s CPU for
  TVsub's 25k English word types (first 200k lines), ~23 s for 45k; ``max_epochs`` caps it.

File format (plain UTF-8 text, written atomically): a magic line, a ``# params:`` line holding a
JSON object, then Morfessor's own segmentation-file format, one training type a line, sorted:
``<dampened count> <morph> + <morph> + ...``, so ``morfessor -l FILE`` can read it too.
"""

import json
import logging
import math
import os
import random
import re
from collections import Counter

import morfessor
import morfessor.utils
from morfessor.baseline import ConstrNode, Encoding

from .files import atomic_output
from .model import LexiconError
from .text import BPE_MARKER, CJK, SPM_MARKER, is_special

MAGIC = "# fairseq-see Morfessor segmenter, format 1"
PARAMS_PREFIX = "# params: "
SEPARATOR = " + "  # Morfessor's construction separator in segmentation files
DAMPENING = {
    "none": lambda count: count,
    "log": lambda count: int(round(math.log(count + 1, 2))),  # as Morfessor's CLI (-d log)
    "ones": lambda count: 1,
}


class _NLogN(dict):
    """n * log(n) (0 for n <= 1), memoised: the same floats Morfessor's Encoding computes."""

    def __missing__(self, n):
        value = self[n] = n * math.log(n) if n > 1 else 0.0
        return value


class _LogFactorial(dict):
    def __missing__(self, n):
        value = self[n] = Encoding._logfactorial(n)
        return value


_NLOGN = _NLogN()
_LOGFACTORIAL = _LogFactorial()
_new_node = tuple.__new__


class _FastBaselineModel(morfessor.BaselineModel):
    """Morfessor's BaselineModel with its two hot paths inlined and memoised.

    ``_modify_construction_count`` (with Encoding.update_count and LexiconEncoding.add/remove folded
    in) and ``get_cost`` do the same float operations in the same order as Morfessor 2.0.6, so
    training takes the same decisions and ends at the same cost; only the Python overhead is gone.
    """

    def _modify_construction_count(self, construction, dcount):
        analyses = self._analyses
        node = analyses.get(construction)
        if node is None:
            rcount = count = splitloc = 0
        else:
            rcount, count, splitloc = node
        newcount = count + dcount
        if newcount == 0:
            del analyses[construction]
        else:
            analyses[construction] = _new_node(ConstrNode, (rcount, newcount, splitloc))
        if splitloc:  # virtual construction: pass the change on to its parts
            for child in self._splitloc_to_segmentation(construction, splitloc):
                self._modify_construction_count(child, dcount)
            return
        corpus = self._corpus_coding
        corpus.tokens += newcount - count
        logtokensum = corpus.logtokensum
        if count > 1:
            logtokensum -= _NLOGN[count]
        if newcount > 1:
            logtokensum += _NLOGN[newcount]
        corpus.logtokensum = logtokensum
        if self._supervised:
            self._annot_coding.update_count(construction, count, newcount)
        if count == 0 and newcount > 0:
            step = 1
        elif count > 0 and newcount == 0:
            step = -1
        else:
            return
        lexicon = self._lexicon_coding
        atoms = lexicon.atoms
        lexicon.boundaries += step
        logtokensum = lexicon.logtokensum
        for atom in construction:
            c = atoms[atom]
            atoms[atom] = c + step
            if c > 1:
                logtokensum -= _NLOGN[c]
            if c + step > 1:
                logtokensum += _NLOGN[c + step]
        lexicon.tokens += step * len(construction)
        lexicon.logtokensum = logtokensum

    def get_cost(self):
        if self._supervised:
            return super().get_cost()
        corpus, lexicon = self._corpus_coding, self._lexicon_coding
        cost = 0.0
        if corpus.boundaries:
            n = corpus.tokens + corpus.boundaries
            types = lexicon.boundaries + 1
            spread = 0.0
            if types >= 2:
                tokens = corpus.tokens
                spread = _LOGFACTORIAL[tokens - 1] - _LOGFACTORIAL[types - 2] - _LOGFACTORIAL[tokens - types + 1]
            cost = (_NLOGN[n] - _NLOGN[corpus.boundaries] - corpus.logtokensum) * corpus.weight + spread
        lexicon_cost = 0.0
        if lexicon.boundaries:
            n = lexicon.tokens + lexicon.boundaries
            types = len(lexicon.atoms) + 1
            spread = 0.0
            if types >= 2:
                spread = _LOGFACTORIAL[n - 1] - _LOGFACTORIAL[types - 1] - _LOGFACTORIAL[n - types]
            lexicon_cost = ((_NLOGN[n] - _NLOGN[lexicon.boundaries] - lexicon.logtokensum
                             + -_LOGFACTORIAL[lexicon.boundaries]) * lexicon.weight + spread)
        return cost + lexicon_cost

    def load_flat(self, segmentations):
        """Rebuild a trained model from (count, compound, morphs): each compound split flat into its
        morphs, which gives every morph the count training gave it (what Viterbi segmentation uses).
        Morfessor's load_segmentations builds right-branching trees instead, whose inner nodes can
        clash with a morph of the same spelling."""
        for count, compound, morphs in segmentations:
            self._add_compound(compound, count)
            self._set_compound_analysis(compound, list(morphs), ptype="flat")


def _merge_counts(words_with_counts, lowercase):
    items = words_with_counts.items() if hasattr(words_with_counts, "items") else words_with_counts
    merged = {}
    for word, count in items:
        if not isinstance(word, str) or not word or any(ch.isspace() for ch in word):
            raise ValueError(f"MorfessorSegmenter.train: word {word!r} is empty or holds whitespace; "
                             "pass single words")
        try:
            valid = not isinstance(count, bool) and int(count) == count and count >= 1
        except (TypeError, ValueError):
            valid = False
        if not valid:
            raise ValueError(f"MorfessorSegmenter.train: count {count!r} of {word!r} is not a positive integer")
        key = word.lower() if lowercase and len(word.lower()) == len(word) else word
        merged[key] = merged.get(key, 0) + int(count)
    if not merged:
        raise ValueError("MorfessorSegmenter.train: no words to train on")
    return merged


class MorfessorSegmenter:
    """A trained Morfessor Baseline model: ``segment(word)`` -> morphs. Make one with ``train`` or ``load``.

    ``segmentations`` maps each training type to its morphs, ``counts`` to its dampened count,
    ``params`` holds the training parameters (all saved in the file).
    """

    def __init__(self, model, segmentations, counts, params):
        self._model = model
        self.segmentations = segmentations
        self.counts = counts
        self.params = params

    @classmethod
    def train(cls, words_with_counts, seed=1, dampening="log", corpus_weight=1.0, lowercase=True,
              max_epochs=None, finish_threshold=0.005, viterbi_smoothing=0.0, viterbi_maxlen=30,
              forcesplit=("-",)):
        """Unsupervised Morfessor Baseline batch training on word types with their corpus counts.

        ``words_with_counts``: a mapping word -> count or an iterable of (word, count); words are
        single tokens without whitespace (lowercased and merged if ``lowercase``). ``dampening``:
        "log" (default), "ones" (Morfessor CLI's default) or "none", see the module notes.
        """
        if dampening not in DAMPENING:
            raise ValueError(f"MorfessorSegmenter.train: dampening {dampening!r} is not one of {sorted(DAMPENING)}")
        merged = _merge_counts(words_with_counts, lowercase)
        damp = DAMPENING[dampening]
        data = [(damp(merged[word]), word) for word in sorted(merged)]
        model = _FastBaselineModel(forcesplit_list=list(forcesplit), corpusweight=float(corpus_weight))
        # Morfessor prints progress dots to stderr and logs every word at DEBUG (fairseq's logging
        # setup shows that): both off while training, then put back as they were, like the rng
        logger = logging.getLogger("morfessor")
        state, progress, level = random.getstate(), morfessor.utils.show_progress_bar, logger.level
        try:
            random.seed(seed)
            morfessor.utils.show_progress_bar = False
            logger.setLevel(logging.WARNING)
            model.load_data(data)
            epochs, cost = model.train_batch(finish_threshold=finish_threshold, max_epochs=max_epochs)
        finally:
            random.setstate(state)
            morfessor.utils.show_progress_bar = progress
            logger.setLevel(level)
        segmentations, counts = {}, {}
        for count, word, morphs in model.get_segmentations():
            segmentations[word] = tuple(morphs)
            counts[word] = count
        params = dict(morfessor=morfessor.get_version(), seed=seed, dampening=dampening,
                      corpus_weight=float(corpus_weight), lowercase=bool(lowercase),
                      finish_threshold=finish_threshold, max_epochs=max_epochs, epochs=epochs, cost=cost,
                      viterbi_smoothing=float(viterbi_smoothing), viterbi_maxlen=int(viterbi_maxlen),
                      forcesplit=list(forcesplit), types=len(segmentations),
                      tokens=sum(merged.values()))
        return cls(model, segmentations, counts, params)

    def __len__(self):
        return len(self.segmentations)

    def segment(self, word):
        """The morphs of a bare word (no "▁"/"@@"): a non-empty list whose concatenation is ``word``."""
        if not isinstance(word, str) or not word:
            raise ValueError(f"MorfessorSegmenter.segment: expected a non-empty word, got {word!r}")
        key = word
        if self.params["lowercase"] and len(word.lower()) == len(word):
            key = word.lower()
        morphs = self.segmentations.get(key)
        if morphs is None:
            morphs = self._model.viterbi_segment(key, self.params["viterbi_smoothing"],
                                                 self.params["viterbi_maxlen"])[0]
        pieces, start = [], 0
        for morph in morphs:  # cut the word as given, keeping its casing
            pieces.append(word[start:start + len(morph)])
            start += len(morph)
        assert start == len(word) and all(pieces), (word, morphs)
        return pieces

    def save(self, path):
        """Write the model as text, atomically (an interrupted save leaves any previous file intact)."""
        lines = [MAGIC, PARAMS_PREFIX + json.dumps(self.params, sort_keys=True, ensure_ascii=False)]
        lines += [f"{self.counts[word]} {SEPARATOR.join(self.segmentations[word])}"
                  for word in sorted(self.segmentations)]
        with atomic_output(path) as tmp, open(tmp, "w", encoding="utf-8", newline="\n") as f:
            f.write("\n".join(lines) + "\n")

    @classmethod
    def load(cls, path):
        """Read a file written by ``save``; it segments every word exactly as the saved model did."""
        fix = "delete it and train the segmenter again (MorfessorSegmenter.train, then save)"
        try:
            with open(path, encoding="utf-8") as f:
                lines = f.read().split("\n")
        except FileNotFoundError:
            raise LexiconError(f"{path}: Morfessor segmenter not found; train one (MorfessorSegmenter.train, "
                               "then save) or rebuild the SEE index that writes it") from None
        except UnicodeDecodeError:
            raise LexiconError(f"{path}: not UTF-8 text, so not a Morfessor segmenter; {fix}") from None
        except OSError as e:
            raise LexiconError(f"{path}: cannot read the Morfessor segmenter ({e.strerror}); {fix}") from None
        if lines[0] != MAGIC:
            raise LexiconError(f"{path}: not a fairseq-see Morfessor segmenter (first line is not {MAGIC!r}); {fix}")
        try:
            if not lines[1].startswith(PARAMS_PREFIX):
                raise ValueError
            params = json.loads(lines[1][len(PARAMS_PREFIX):])
            dampening, lowercase = params["dampening"], params["lowercase"]
            forcesplit = list(params["forcesplit"])
            corpus_weight, types = float(params["corpus_weight"]), int(params["types"])
            float(params["viterbi_smoothing"]), int(params["viterbi_maxlen"])
            if dampening not in DAMPENING or not isinstance(lowercase, bool):
                raise ValueError
        except (IndexError, ValueError, KeyError, TypeError):
            raise LexiconError(f"{path}:2: expected '{PARAMS_PREFIX}{{...}}' with the training parameters; {fix}") from None
        entries = []
        body = lines[2:-1] if lines[-1] == "" else lines[2:]
        for number, line in enumerate(body, start=3):
            count, _, rest = line.partition(" ")
            morphs = rest.split(SEPARATOR)
            if (not count.isdigit() or int(count) < 1 or not all(morphs)
                    or any(ch.isspace() for morph in morphs for ch in morph)):
                raise LexiconError(f"{path}:{number}: expected '<count> <morph> + <morph> ...'; {fix}")
            entries.append((int(count), "".join(morphs), tuple(morphs)))
        if len(entries) != types or len({word for _, word, _ in entries}) != types:
            raise LexiconError(f"{path}: holds {len(entries)} segmentations (distinct words: "
                               f"{len({w for _, w, _ in entries})}), its parameters say {types}: "
                               f"truncated or edited; {fix}")
        model = _FastBaselineModel(forcesplit_list=forcesplit, corpusweight=corpus_weight)
        model.load_flat(entries)
        segmentations = {word: morphs for _, word, morphs in entries}
        for word, morphs in segmentations.items():
            if tuple(model.segment(word)) != morphs:  # a morph of it is a training word split otherwise
                raise LexiconError(f"{path}: the segmentations contradict each other at '{word}' (one of "
                                   f"its morphs is a training word that is split); {fix}")
        return cls(model, segmentations, {word: count for count, word, _ in entries}, params)


# ---- segmenters for a side of a SEE index ---------------------------------------------------------

SEGMENTER_FILE = "see_morfessor.{lang}.txt"  # saved beside dict.<lang>.txt and see_index.<lang>.npz
WORD = re.compile(r"[^\W\d_]+")  # a run of letters


def corpus_words(lines):
    """Word types with counts of plain text: runs of letters (Chinese characters never reach the
    segmenter, so a Chinese side's words are its embedded Latin words)."""
    counts = Counter()
    for line in lines:
        counts.update(word for word in WORD.findall(line) if not CJK.search(word))
    return counts


def dictionary_words(symbols, counts):
    """Word types of a fairseq dictionary's pieces: markers stripped, letters only, specials left out
    (a poorer source than running text: frequent pieces are whole words and stay whole)."""
    words = Counter()
    for token, count in zip(symbols, counts):
        if is_special(token):
            continue
        key = token.lstrip(SPM_MARKER)
        key = key[: -len(BPE_MARKER)] if key.endswith(BPE_MARKER) else key
        if key and WORD.fullmatch(key) and not CJK.search(key):
            words[key] += max(int(count), 1)
    return words


def side_segmenter(data_dir, lang, symbols, counts):
    """A side's segmenter as the task uses it: ``see_morfessor.<lang>.txt`` in the data directory
    (fairseq-see-index writes it), else one trained on the dictionary's word-like pieces (None if
    it has none). Returns the segmenter."""
    path = os.path.join(data_dir, SEGMENTER_FILE.format(lang=lang))
    if os.path.exists(path):
        return MorfessorSegmenter.load(path)
    words = dictionary_words(symbols, counts)
    return MorfessorSegmenter.train(words) if words else None
