"""English sememes through WordNet 3.0: reader, morphology, sense order, closed-class words, wiring."""

import json
import os
import pickle

import pytest

from conftest import HOWNET, SEMEME_NAMES, THUNLP, shared_or_skip, write
from fairseq_see.lexicon import LexiconError, detect_format, load_lexicons, read_lexicon
from fairseq_see.lexicon.wordnet import FUNCTION_WORDS, WordNet, read_synset_sememes, read_wordnet_lexicon

WORDNET = os.path.join(os.path.dirname(HOWNET), "wordnet")
SYNSETS = os.path.join(HOWNET, "yeyn19_structured_sememe_prediction__synsetStructed.txt")
HEADER = "  1 This software and database is being provided to you, the LICENSEE, by  \n"

# synset name -> (lexicographer file, ss_type, words, gloss); data lines are built in wndb(5WN) format
SYNSETS_BY_POS = {
    "noun": [
        ("apple_fruit", "13", "n", ["apple"], "fruit with red or yellow or green skin"),
        ("apple_tree", "20", "n", ["apple", "orchard_apple_tree"], "native Eurasian tree"),
        ("goose", "05", "n", ["goose"], "web-footed long-necked bird"),
        ("helium", "27", "n", ["helium", "He"], "a very light colorless element"),
        ("inch", "23", "n", ["inch", "in"], "a unit of length"),
        ("ohio", "15", "n", ["Ohio", "Buckeye_State", "OH"], "a midwestern state"),
        ("television", "10", "n", ["television", "TV"], "broadcasting visual images"),
        ("run_noun", "04", "n", ["run", "tally"], "a score in baseball"),
        ("time", "28", "n", ["time"], "an instance or single occasion"),
        ("times", "23", "n", ["multiplication", "times"], "an arithmetic operation"),
    ],
    "verb": [
        ("misremember", "31", "v", ["misremember"], "remember incorrectly"),
        ("err", "31", "v", ["err", "mistake", "slip"], "to make an error"),
        ("run_verb", "38", "v", ["run"], "move fast by using one's feet"),
        ("go", "38", "v", ["go", "travel", "move"], "change location"),
    ],
    "adj": [
        ("thin", "00", "a", ["thin"], "lacking substance"),
        ("rare", "00", "s", ["rare", "rarefied"], "having low density"),
    ],
    "adv": [("quickly", "02", "r", ["quickly"], "with speed")],
}
POS_LETTER = {"noun": "n", "verb": "v", "adj": "a", "adv": "r"}


def write_wordnet(folder, broken_index_line=None):
    """A tiny WordNet 3.0 database in the real file formats; returns {synset name: offset}."""
    offsets = {}
    for pos, synsets in SYNSETS_BY_POS.items():
        text = HEADER
        for name, lexfile, ss_type, words, gloss in synsets:
            offsets[name] = len(text.encode())
            pairs = " ".join(f"{w} 0" for w in words)
            text += f"{offsets[name]:08d} {lexfile} {ss_type} {len(words):02x} {pairs} 000 | {gloss}  \n"
        write(os.path.join(folder, f"data.{pos}"), text)
    index = {pos: {} for pos in SYNSETS_BY_POS}
    for pos, synsets in SYNSETS_BY_POS.items():
        for name, _, _, words, _ in synsets:
            for word in words:
                index[pos].setdefault(word.lower(), []).append(offsets[name])
    index["noun"]["apple"] = [offsets["apple_fruit"], offsets["apple_tree"]]  # WordNet's sense order
    for pos, lemmas in index.items():
        lines = [HEADER.rstrip("\n")]
        for lemma in sorted(lemmas):
            synsets = lemmas[lemma]
            n = len(synsets)
            lines.append(f"{lemma} {POS_LETTER[pos]} {n} 1 @ {n} 0 " + " ".join(f"{o:08d}" for o in synsets) + "  ")
        if broken_index_line:
            lines.insert(broken_index_line - 1, "broken n x")
        write(os.path.join(folder, f"index.{pos}"), "\n".join(lines) + "\n")
    write(os.path.join(folder, "noun.exc"), "geese goose\nmice mouse\n")
    write(os.path.join(folder, "verb.exc"), "went go\nrunning run\nran run\n")
    write(os.path.join(folder, "adj.exc"), "")
    write(os.path.join(folder, "adv.exc"), "")
    write(os.path.join(folder, "cntlist.rev"),
          "run%1:04:00:: 1 10\nrun%2:38:00:: 1 50\ntime%1:28:00:: 1 90\ntimes%1:23:00:: 1 2\n")
    return offsets


def synset_file(folder, offsets, extra=""):
    """The synset -> sememe file; the verb and adjective offsets shifted as in the real file."""
    o = offsets
    text = (
        f"wn:{o['apple_fruit']:08d}n\tbn:00005054n\t={{fruits|水果}}\t\n"
        f"wn:{o['apple_tree']:08d}n\tbn:00005055n\t={{tree|树:{{reproduce|生殖:PatientProduct={{fruit|水果}}}}}}\n"
        f"wn:{o['goose']:08d}n\tbn:00041099n\t={{bird|禽:modifier={{domesticated|家养}}}}\n"
        f"wn:{o['helium']:08d}n\tbn:1n\t={{chemical|化学物}}\n"
        f"wn:{o['inch']:08d}n\tbn:2n\t={{unit|单位:{{~}}}}\n"
        f"wn:{o['ohio']:08d}n\tbn:3n\t={{place|地方:belong=\"US|美国\",modifier={{ProperName|专}}}}\n"
        f"wn:{o['television']:08d}n\tbn:4n\t={{tool|用具:{{look|看}}}}\n"
        f"wn:{o['run_noun']:08d}n\tbn:5n\t={{fact|事情:{{SelfMove|自移}}}}\n"
        f"wn:{o['time']:08d}n\tbn:6n\t={{time|时间}}\n"
        f"wn:{o['times']:08d}n\tbn:7n\t={{calculate|计算}}\n"
        f"wn:{o['err'] - 18:08d}v\tbn:8v\t={{do|做:manner={{wrong|误}}}}\n"
        f"wn:{o['err'] - 18:08d}v\tbn:8v\t={{err|出错}}\n"
        f"wn:{o['run_verb'] - 18:08d}v\tbn:9v\t={{run|跑}}\n"
        f"wn:{o['go']:08d}v\tbn:10v\t={{AlterLocation|变空间位置}};{{leave|离开}}\n"
        f"wn:{o['rare'] - 1:08d}a\tbn:11a\t={{sparse|疏}}\n"
        f"wn:{o['quickly']:08d}r\tbn:12r\t={{fast|快}}\n"
    )
    return write(os.path.join(folder, "synsets.txt"), text + extra)


@pytest.fixture
def wordnet(tmp_path):
    folder = str(tmp_path / "wordnet")
    offsets = write_wordnet(folder)
    return folder, synset_file(str(tmp_path), offsets), offsets


def test_reader_index_order_morphology(wordnet):
    wn = WordNet(wordnet[0])
    assert len(wn.synsets("apple", "n")) == 2
    assert wn.morphword("geese", "n") == ["goose"]  # exception list
    assert wn.morphword("went", "v") == ["go"]
    assert wn.morphword("apples", "n") == ["apple"]  # detachment rule s ->
    assert wn.morphword("inches", "n") == ["inch"]  # ches -> ch
    assert wn.morphword("glass", "n") == []  # ends in ss: no plural
    assert wn.morphword("applez", "n") == []
    assert wn.tag_count("run", "v") == 50 and wn.tag_count("run", "n", 1) == 10


def test_base_forms_find_the_lemma(wordnet):
    lex = read_wordnet_lexicon(wordnet[1], wordnet[0])
    apple = lex.get("apple")
    assert "apples" not in lex.entries and lex.get("apples") == apple  # through Lexicon.base_forms
    assert lex.get("Apples") == apple
    assert lex.get("geese") == lex.get("goose") == lex.get("GEESE")
    assert lex.get("running").senses == lex.get("ran").senses == (("run|跑",),)  # the verb's senses only
    assert lex.get("went").senses == (("AlterLocation|变空间位置", "leave|离开"),)  # heads of both trees
    assert lex.get("applesauce") is None


def test_synset_sememes_main_first_shifted_offsets_and_satellites(wordnet):
    folder, path, _ = wordnet
    lex = read_wordnet_lexicon(path, folder)
    # two lines for one synset: both heads first, then the rest; its offset was 18 bytes early
    assert lex.get("err").senses == (("do|做", "err|出错", "wrong|误"),)
    assert lex.get("mistake") == lex.get("err")
    assert lex.get("misremember") is None  # the synset before the shifted offset gets nothing
    assert lex.get("rare").senses == (("sparse|疏",),)  # satellite 's', labelled 'a', 1 byte early
    assert lex.get("thin") is None
    assert lex.get("apple").senses[1] == ("tree|树", "reproduce|生殖", "fruit|水果")
    assert lex.get("inch").senses == (("unit|单位",),)  # {~} is no sememe
    assert lex.get("ohio").senses == (("place|地方", "US|美国", "ProperName|专"),)  # quoted names count
    sememes = read_synset_sememes(path)  # keyed by the file's own offsets
    assert sememes[("v", wordnet[2]["go"])] == ("AlterLocation|变空间位置", "leave|离开")
    assert sememes[("a", wordnet[2]["rare"] - 1)] == ("sparse|疏",)


def test_sense_order_by_tag_count_across_pos(wordnet):
    lex = read_wordnet_lexicon(wordnet[1], wordnet[0])
    # index order within a POS; the tagged verb sense (50) before the noun sense (10)
    assert lex.get("apple").senses[0] == ("fruits|水果",)
    assert lex.get("run").senses == (("run|跑",), ("fact|事情", "SelfMove|自移"))
    # "times" is a lemma (multiplication) and the plural of the far more used "time"
    assert lex.get("times").senses == (("time|时间",), ("calculate|计算",))
    assert lex.get("time").senses == (("time|时间",),)


def test_closed_class_words_get_nothing(wordnet):
    lex = read_wordnet_lexicon(wordnet[1], wordnet[0])
    for word in ("in", "he", "He", "the", "I", "a", "will", "can", "may", "s", "don"):
        assert lex.get(word) is None, word
    assert {"i", "a", "it", "in", "he", "will", "can", "may", "to", "of", "the",
            "and", "or", "so", "up", "all", "one", "s", "t", "ll", "re", "ve", "m", "d"} <= FUNCTION_WORDS
    # be/have/do and not/no keep their WordNet senses: the sememes HowNet gives 是/有/做/不
    assert not {"be", "is", "have", "do", "does", "not", "no"} & FUNCTION_WORDS
    assert lex.get("inch").senses == (("unit|单位",),)  # the open-class word keeps the synset
    assert lex.get("helium") is not None
    assert lex.get("oh") is None  # "OH" (Ohio): a capitalised-only two-letter place code
    assert lex.get("tv").senses == (("tool|用具", "look|看"),)  # "TV" is not a symbol synset


def test_sememe_names_shared_with_the_chinese_lexicons(wordnet, tmp_path):
    names = write(tmp_path / "names.json", json.dumps({"fruit|水果": 9, "tree|树": 3, "time|时间": 5}))
    thunlp = write(tmp_path / "zh.txt", "苹果\n水果 树 \n")
    lex = load_lexicons(f"{thunlp},{wordnet[1]}", sememe_names=names, wordnet=wordnet[0])
    # "fruits|水果" is mapped through its Chinese half: English and Chinese share the unit
    assert lex.get("apple").senses[0] == ("fruit|水果",)
    assert "fruit|水果" in lex.get("苹果").senses[0]
    assert lex.get("apples") == lex.get("apple")  # combine() keeps the WordNet morphology
    assert "bird|禽" in lex.unknown_sememes


def test_format_detection_and_read_lexicon(wordnet):
    folder, path, _ = wordnet
    assert detect_format(path) == "wordnet_synsets"
    lex = read_lexicon(path, wordnet=folder)
    assert lex.get("goose").senses == (("bird|禽", "domesticated|家养"),)
    assert read_lexicon(path, "wordnet_synsets", wordnet=folder).entries == lex.entries
    restored = pickle.loads(pickle.dumps(lex))
    assert restored.get("geese") == lex.get("goose")


def test_missing_wordnet_dir_says_how(wordnet, tmp_path):
    path = wordnet[1]
    with pytest.raises(LexiconError, match=r"synsets\.txt: .*--wordnet DIR"):
        load_lexicons(path)
    with pytest.raises(LexiconError, match=r"nowhere: WordNet folder not found"):
        load_lexicons(path, wordnet=str(tmp_path / "nowhere"))
    os.remove(os.path.join(wordnet[0], "verb.exc"))
    with pytest.raises(LexiconError, match=r"verb\.exc: WordNet file not found"):
        load_lexicons(path, wordnet=wordnet[0])


def test_garbled_lines_report_file_and_line(wordnet, tmp_path):
    folder, path, _ = wordnet
    bad = write(tmp_path / "bad.txt", open(path, encoding="utf-8").read() + "wn:123n\tbn:1n\t={x|y}\n")
    with pytest.raises(LexiconError, match=r"bad\.txt:17: expected 'wn:"):
        read_lexicon(bad, "wordnet_synsets", wordnet=folder)
    broken = str(tmp_path / "broken")
    write_wordnet(broken, broken_index_line=3)
    with pytest.raises(LexiconError, match=r"index\.noun:3: expected"):
        read_lexicon(path, wordnet=broken)


def test_real_wordnet_gives_english_words_hownet_sememes():
    shared_or_skip(WORDNET, SYNSETS, SEMEME_NAMES, THUNLP)
    lex = load_lexicons(SYNSETS, sememe_names=SEMEME_NAMES, wordnet=WORDNET)
    assert len(lex) > 40_000
    assert any("水果" in s for sense in lex.get("apple").senses for s in sense)
    assert lex.get("apples") == lex.get("apple")
    assert lex.get("geese") is not None and lex.get("went") is not None and lex.get("running") is not None
    for word in ("the", "I", "i", "in", "a", "it", "he", "can", "will", "may", "oh"):
        assert lex.get(word) is None, word
    assert lex.get("is").senses[:2] == (("FuncWord|功能词",), ("be|是",)) and ("own|有",) in lex.get("has").senses
    assert lex.get("does").senses[0] == ("do|做",)  # do, not the plural of "doe"
    chinese = load_lexicons(THUNLP, sememe_names=SEMEME_NAMES)
    apple = {s for sense in lex.get("apple").senses for s in sense}
    assert apple & set(chinese.get("苹果").senses[0])  # one sememe vocabulary for both languages
