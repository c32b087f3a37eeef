"""MorfessorSegmenter: English morphemes from Morfessor 2.0 Baseline, trained on word types."""

import random

import morfessor
import pytest

from fairseq_see.lexicon.model import LexiconError
from fairseq_see.lexicon.morfessor_segmenter import MAGIC, DAMPENING, MorfessorSegmenter, _FastBaselineModel

STEMS = {"walk": 40, "talk": 35, "jump": 30, "play": 50, "look": 60, "work": 45, "help": 25, "call": 38,
         "kill": 20, "open": 22, "want": 70, "need": 55}
OTHERS = {"the": 500, "dog": 30, "cat": 28, "house": 20, "sing": 15, "king": 12, "red": 18, "bed": 9,
          "is": 300, "this": 120}
UNSEEN = ["walker", "Jumping", "xyz", "talkative", "Opened", "q", "dogs", "re-open", "naïve", "İstanbul"]


def word_counts():
    words = dict(OTHERS)
    for stem, n in STEMS.items():
        words.update({stem: n, stem + "s": n // 2, stem + "ed": n // 2, stem + "ing": n // 3})
    return words


@pytest.fixture(scope="module")
def segmenter():
    return MorfessorSegmenter.train(word_counts(), seed=1)


def test_learns_suffixes(segmenter):
    assert segmenter.segment("walking") == ["walk", "ing"]
    assert segmenter.segment("talked") == ["talk", "ed"]
    assert segmenter.segment("jumps") == ["jump", "s"]
    assert segmenter.segment("the") == ["the"]  # frequent words stay whole with log dampening
    assert segmenter.segment("opening") == ["open", "ing"]  # a training word


def test_segmentation_covers_the_word(segmenter):
    for word in list(word_counts()) + UNSEEN:
        morphs = segmenter.segment(word)
        assert morphs and all(morphs), word
        assert "".join(morphs) == word
    assert segmenter.segment("Jumping") == ["Jump", "ing"]  # casing kept, boundaries of "jumping"
    assert segmenter.segment("q") == ["q"]  # a character never seen is a morph of its own


def test_segment_rejects_an_empty_word(segmenter):
    with pytest.raises(ValueError):
        segmenter.segment("")


def test_deterministic_for_a_seed_and_leaves_random_alone():
    random.seed(123)
    expected_next = random.random()
    random.seed(123)
    first = MorfessorSegmenter.train(word_counts(), seed=7)
    assert random.random() == expected_next  # the global rng state is restored
    second = MorfessorSegmenter.train(list(reversed(list(word_counts().items()))), seed=7)  # pairs, other order
    assert first.segmentations == second.segmentations and first.params == second.params
    assert [first.segment(w) for w in UNSEEN] == [second.segment(w) for w in UNSEEN]


@pytest.mark.parametrize("dampening", sorted(DAMPENING))
def test_same_result_as_morfessors_own_model(dampening):
    """The fast model takes the same decisions as Morfessor 2.0.6's BaselineModel, to the last bit."""
    damp = DAMPENING[dampening]
    data = [(damp(count), word) for word, count in sorted(word_counts().items())]
    results = []
    for cls in (morfessor.BaselineModel, _FastBaselineModel):
        model = cls(forcesplit_list=["-"])
        random.seed(3)
        model.load_data(data)
        epochs, cost = model.train_batch()
        results.append((epochs, cost, sorted(model.get_constructions()),
                        [model.segment(w) for _, w in data],
                        [model.viterbi_segment(w.lower(), 1.0)[0] for w in UNSEEN]))
    assert results[0] == results[1]


def test_save_load_round_trip(segmenter, tmp_path):
    path = tmp_path / "morfessor.en.txt"
    segmenter.save(path)
    text = path.read_text(encoding="utf-8")
    assert text.startswith(MAGIC + "\n# params: {")
    assert f"\n{segmenter.counts['walking']} walk + ing\n" in text and segmenter.counts["walk"] == 5  # log2(40 + 1)
    loaded = MorfessorSegmenter.load(path)
    assert loaded.segmentations == segmenter.segmentations and loaded.params == segmenter.params
    for word in list(word_counts()) + UNSEEN + ["walkings", "unhelpful", "bedroom"]:
        assert loaded.segment(word) == segmenter.segment(word), word
    assert sorted(loaded._model.get_constructions()) == sorted(segmenter._model.get_constructions())
    loaded.save(tmp_path / "again.txt")
    assert (tmp_path / "again.txt").read_text(encoding="utf-8") == text
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []  # atomic: no leftovers


def test_morfessor_can_read_the_file(segmenter, tmp_path):
    path = tmp_path / "morfessor.en.txt"
    segmenter.save(path)
    rows = list(morfessor.MorfessorIO().read_segmentation_file(str(path)))
    assert {word: tuple(morphs) for _, word, morphs in rows} == segmenter.segmentations


@pytest.mark.parametrize("content, where", [
    (None, "not found"),
    ("hello\n", "not a fairseq-see Morfessor segmenter"),
    (MAGIC + "\nno params\n1 walk\n", ":2:"),
    (MAGIC + '\n# params: {"types": 1}\n1 walk\n', ":2:"),
    ("BAD-LINE", ":3:"),
    ("TRUNCATE", "truncated"),
    (b"\xff\xfe\x00garbage", "not UTF-8"),
])
def test_bad_file_is_a_lexicon_error_naming_it(segmenter, tmp_path, content, where):
    path = tmp_path / "morfessor.en.txt"
    if content in ("BAD-LINE", "TRUNCATE"):
        segmenter.save(path)
        lines = path.read_text(encoding="utf-8").split("\n")
        lines = lines[:2] + ["x walk + ing"] + lines[3:] if content == "BAD-LINE" else lines[:-5]
        path.write_text("\n".join(lines), encoding="utf-8")
    elif isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(LexiconError) as error:
        MorfessorSegmenter.load(path)
    message = str(error.value)
    assert str(path) in message and where in message and "\n" not in message


def test_contradictory_file_is_rejected(segmenter, tmp_path):
    path = tmp_path / "morfessor.en.txt"
    segmenter.save(path)
    text = path.read_text(encoding="utf-8").replace("\n5 walk\n", "\n5 wa + lk\n")  # "walk" split, yet a morph
    path.write_text(text, encoding="utf-8")
    with pytest.raises(LexiconError, match="contradict"):
        MorfessorSegmenter.load(path)


@pytest.mark.parametrize("words", [{}, {"two words": 3}, {"walk": 0}, {"walk": 1.5}, {"": 2}, [("walk", "x")]])
def test_train_rejects_bad_input(words):
    with pytest.raises(ValueError):
        MorfessorSegmenter.train(words)


def test_train_rejects_an_unknown_dampening():
    with pytest.raises(ValueError, match="dampening"):
        MorfessorSegmenter.train({"walk": 2}, dampening="sqrt")


def test_lowercasing_merges_counts():
    seg = MorfessorSegmenter.train({"Walk": 3, "walk": 4, "WALKING": 1, "walking": 1})
    assert sorted(seg.segmentations) == ["walk", "walking"] and seg.params["tokens"] == 9
    cased = MorfessorSegmenter.train({"Walk": 3, "walk": 4}, lowercase=False)
    assert sorted(cased.segmentations) == ["Walk", "walk"]
