import os
import subprocess

import numpy as np
import pytest

from conftest import GLOSSARY, SEMEME_NAMES, THUNLP, cli, shared_or_skip, write, write_dictionary
from fairseq_see.lexicon import (Entry, Lexicon, LexiconError, SememeIndex, build_index, dictionary_checksum,
                                 load_lexicons, read_fairseq_dictionary)

SPECIALS = ["<s>", "<pad>", "</s>", "<unk>"]


def tiny_lexicon():
    return Lexicon("tiny", entries={
        "苹果": Entry(senses=(("fruit|水果",), ("computer|电脑", "able|能", "bring|携带", "tree|树"))),
        "梨": Entry(senses=(("fruit|水果",),)),
        "的": Entry(senses=(("FuncWord|功能词", "tool|用具", "part|部件", "aim|定向", "shoot|射击"),), merged=True),
        "apple": Entry(senses=(("fruit|水果",),)),
        "a": Entry(senses=(("character|文字",),)),
    })


def units_of(index, v):
    return [tuple(index.units[u] for u in index.unit_ids[v, k]) for k in range(index.rank) if index.sense_mask[v, k]]


def test_index_follows_the_adopted_formulation():
    symbols = SPECIALS + ["▁苹果", "梨", "▁的", "自由贸易区", "▁run", "run@@", "▁Apple", "a", "madeupword0000"]
    counts = [1, 1, 1, 1, 50, 20, 100, 5, 10, 10, 3, 7, 0]
    index = build_index(symbols, counts, tiny_lexicon(), order=3, rank=2)
    assert index.unit_ids.shape == (13, 2, 3) and index.sense_mask.shape == (13, 2)
    # special symbols own one unit each, first in the inventory
    assert index.units[:5] == ["sym:<s>", "sym:<pad>", "sym:</s>", "sym:<unk>", "sym:madeupword0000"]
    assert units_of(index, 1) == [("sym:<pad>",) * 3]
    # senses ranked by size, cut to o sememes; a short sense is filled with morphemes then cycled
    assert units_of(index, 4) == [("sem:computer|电脑", "sem:able|能", "sem:bring|携带"),
                                  ("sem:fruit|水果", "mor:苹", "mor:果")]
    assert units_of(index, 5) == [("sem:fruit|水果", "mor:梨", "sem:fruit|水果")]
    # a merged bag becomes pseudo-senses of o sememes
    assert units_of(index, 6) == [("sem:FuncWord|功能词", "sem:tool|用具", "sem:part|部件"),
                                  ("sem:aim|定向", "sem:shoot|射击", "mor:的")]
    # no entry: morphemes only; more than o characters keep the first o-1 and the last
    assert units_of(index, 7) == [("mor:自", "mor:由", "mor:区")]
    # sentencepiece and subword-nmt markers are stripped, so both pieces share one unit
    assert units_of(index, 8) == units_of(index, 9) == [("mor:run",) * 3]
    # case-folded lookup for Latin words; one-letter pieces are not looked up
    assert units_of(index, 10) == [("sem:fruit|水果", "mor:Apple", "sem:fruit|水果")]
    assert units_of(index, 11) == [("mor:a",) * 3]
    assert index.covered.tolist() == [False] * 4 + [True, True, True, False, False, False, True, False, False]
    types, mass = index.coverage()
    assert types == pytest.approx(4 / 8)  # 8 regular tokens, specials and madeupword excluded
    assert mass == pytest.approx((50 + 20 + 100 + 3) / (50 + 20 + 100 + 5 + 10 + 10 + 3 + 7))
    assert index.distinct_rows() == 12  # ▁run and run@@ share a structure
    assert "coverage: types=50.0% tokens=84.4%" in index.summary("zh")


def test_unit_ids_point_into_the_inventory_and_are_deterministic():
    symbols = SPECIALS + ["▁苹果", "梨", "香蕉", "▁run"]
    first = build_index(symbols, [1] * 8, tiny_lexicon(), 3, 4)
    second = build_index(symbols, [1] * 8, tiny_lexicon(), 3, 4)
    assert first.units == second.units and np.array_equal(first.unit_ids, second.unit_ids)
    assert first.unit_ids.max() < len(first.units) and first.unit_ids.min() >= 0
    assert not first.sense_mask[:, 0].__invert__().any()  # every token has a first sense


def test_save_load_roundtrip_is_atomic(tmp_path):
    symbols = SPECIALS + ["▁苹果", "梨"]
    index = build_index(symbols, [1] * 6, tiny_lexicon(), 3, 2, lexicon_name="tiny")
    path = str(tmp_path / "see_index.zh.npz")
    index.save(path)
    assert os.listdir(tmp_path) == ["see_index.zh.npz"]  # no temporary left behind
    loaded = SememeIndex.load(path)
    assert np.array_equal(loaded.unit_ids, index.unit_ids) and loaded.units == index.units
    assert loaded.meta == {"order": 3, "rank": 2, "lexicon": "tiny"} and loaded.checksum == index.checksum
    loaded.check_dictionary(symbols, path, "dict.zh.txt")
    with pytest.raises(LexiconError, match=r"^dict.zh.txt: 7 symbols, but .*see_index.zh.npz has 6 rows; rebuild it"):
        loaded.check_dictionary(symbols + ["新"], path, "dict.zh.txt")
    write(tmp_path / "broken.npz", "not an index")
    with pytest.raises(LexiconError, match="broken.npz: not a SEE index"):
        SememeIndex.load(str(tmp_path / "broken.npz"))


def test_read_fairseq_dictionary(tmp_path):
    path = write(tmp_path / "dict.zh.txt", "▁的 100\n<unk> 5 #fairseq:overwrite\n苹 果 3\n")
    symbols, counts = read_fairseq_dictionary(path)
    assert symbols == SPECIALS + ["▁的", "<unk>", "苹 果"] and counts == [0, 0, 0, 0, 100, 5, 3]
    assert dictionary_checksum(symbols) != dictionary_checksum(symbols[::-1])
    with pytest.raises(LexiconError, match=r"dict.bad.txt:2: expected '<token> <count>'"):
        read_fairseq_dictionary(write(tmp_path / "dict.bad.txt", "a 1\nbroken\n"))


def run_index_cli(*args):
    return subprocess.run([cli("fairseq-see-index"), *args], capture_output=True, text=True, timeout=120)


def test_index_cli_writes_beside_dictionaries(tmp_path):
    write_dictionary(tmp_path / "dict.zh.txt", ["▁苹果", "梨", "香蕉"])
    write_dictionary(tmp_path / "dict.en.txt", ["▁apple", "▁the"])
    lexicon = write(tmp_path / "lex.txt", "苹果\n水果 树 \napple\n水果 \n")
    result = run_index_cli(str(tmp_path), "--sememe-lexicon", lexicon, "--see-rank", "2")
    assert result.returncode == 0, result.stderr
    assert "SEE index (zh): |V|=7" in result.stdout and "types=33.3%" in result.stdout
    assert "SEE index (en): |V|=6" in result.stdout and "types=50.0%" in result.stdout
    index = SememeIndex.load(str(tmp_path / "see_index.zh.npz"))
    assert index.unit_ids.shape == (7, 2, 3) and index.meta["lexicon"] == "lex.txt"


def test_index_cli_bad_lexicon_is_one_line_and_writes_nothing(tmp_path):
    write_dictionary(tmp_path / "dict.zh.txt", ["▁苹果"])
    result = run_index_cli(str(tmp_path), "--sememe-lexicon", str(tmp_path / "nope.txt"))
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0 and "nope.txt: lexicon not found" in result.stderr
    assert not any(name.startswith("see_index") or name.startswith(".see_index") for name in os.listdir(tmp_path))


def test_real_lexicon_against_a_real_sized_dictionary():
    """127k-word lexicon (glossary + thunlp) against a 40k-token dictionary built from its own words."""
    shared_or_skip(GLOSSARY, THUNLP, SEMEME_NAMES)
    lexicon = load_lexicons(f"{GLOSSARY},{THUNLP}", sememe_names=SEMEME_NAMES)
    words = sorted(lexicon.entries)[:40_000]
    symbols = SPECIALS + ["▁" + w for w in words]
    index = build_index(symbols, [1] * len(symbols), lexicon, 3, 4)
    assert index.coverage()[0] == pytest.approx(1.0, abs=0.01)
    sememes = [u for u in index.units if u.startswith("sem:")]
    assert 1_500 < len(sememes) < 2_300
    assert len(index.units) < len(symbols) / 2  # units are far fewer than words
