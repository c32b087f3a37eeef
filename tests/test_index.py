import os
import subprocess

import numpy as np
import pytest

from conftest import GLOSSARY, SEMEME_NAMES, THUNLP, cli, shared_or_skip, write, write_dictionary
from fairseq_see.lexicon import (Entry, Lexicon, LexiconError, SememeIndex, build_index, dictionary_checksum,
                                 load_lexicons, read_fairseq_dictionary)
from fairseq_see.lexicon.index import IndexBuilder
from fairseq_see.lexicon.morfessor_segmenter import MorfessorSegmenter

SPECIALS = ["<s>", "<pad>", "</s>", "<unk>"]


def tiny_lexicon():
    return Lexicon("tiny", entries={
        "苹果": Entry(senses=(("fruit|水果",), ("computer|电脑", "able|能", "bring|携带", "tree|树"))),
        "梨": Entry(senses=(("fruit|水果",),)),
        "的": Entry(senses=(("FuncWord|功能词", "tool|用具", "part|部件", "aim|定向", "shoot|射击"),), merged=True),
        "apple": Entry(senses=(("fruit|水果",),)),
        "a": Entry(senses=(("character|文字",),)),
    })


def slots_of(index, v):
    """Token v's slots as unit names, the table prefix ("t<k>/") dropped."""
    return [tuple(index.units[u].split("/", 1)[1] for u in index.unit_ids[v, k]) for k in range(index.rank)]


def test_index_follows_the_adopted_formulation():
    symbols = SPECIALS + ["▁苹果", "梨", "▁的", "自由贸易区", "▁run", "run@@", "▁Apple", "a", "madeupword0000"]
    counts = [1, 1, 1, 1, 50, 20, 100, 5, 10, 10, 3, 7, 0]
    # every unit kept, even those only one token reads (test_units_of_one_token_become_pads)
    index = build_index(symbols, counts, tiny_lexicon(), order=3, rank=4, min_readers=1)
    assert index.unit_ids.shape == (13, 4, 3) and index.unit_ids.dtype == np.uint8  # a tiny table: 8 bits hold its rows
    # special symbols: their own unit padded, first in the table, then identity units
    assert index.units[:5] == ["t0/sym:<s>", "t0/sym:<pad>", "t0/sym:</s>", "t0/sym:<unk>", "t0/sym:madeupword0000"]
    assert slots_of(index, 1)[0] == ("sym:<pad>", "pad.1", "pad.2")
    # every token fills all R slots: at most R-2 senses (ranked by size, cut to o sememes, filled
    # with morphemes then pads), then its morphemes (the word-start marker first), identity last
    apple = slots_of(index, 4)
    assert apple[:3] == [("sem:computer|电脑", "sem:able|能", "sem:bring|携带"), ("sem:fruit|水果", "mor:苹", "mor:果"),
                         ("mor:▁", "mor:苹", "mor:果")]
    t = 3  # identity digits: base t with t^3 >= 13
    assert apple[3] == tuple(f"id0.{j}:{d}" for j, d in enumerate((0, 1, 1)))  # 4 = 0*9 + 1*3 + 1
    # a token with one sense: the free slot gets identity digits of another rank
    pear = slots_of(index, 5)
    assert pear[:2] == [("sem:fruit|水果", "mor:梨", "pad.2"), ("mor:梨", "pad.1", "pad.2")]
    assert pear[2][0].startswith("id1.") and pear[3][0].startswith("id0.")
    # a merged bag becomes pseudo-senses of o sememes
    assert slots_of(index, 6)[:2] == [("sem:FuncWord|功能词", "sem:tool|用具", "sem:part|部件"),
                                      ("sem:aim|定向", "sem:shoot|射击", "mor:的")]
    # no entry: morphemes only; more than o characters keep the first o-1 and the last
    assert slots_of(index, 7)[0] == ("mor:自", "mor:由", "mor:区")
    # word-start and word-internal pieces differ; no segmenter: a Latin piece is one morpheme
    assert slots_of(index, 8)[0] == ("mor:▁", "mor:run", "pad.2") and slots_of(index, 9)[0] == ("mor:run", "pad.1", "pad.2")
    # case-folded lookup for Latin words; one-letter pieces are not looked up
    assert slots_of(index, 10)[0] == ("sem:fruit|水果", "mor:Apple", "pad.2")
    assert slots_of(index, 11)[0] == ("mor:a", "pad.1", "pad.2")
    assert index.covered.tolist() == [False] * 4 + [True, True, True, False, False, False, True, False, False]
    types, mass = index.coverage()
    assert types == pytest.approx(4 / 8)  # 8 regular tokens, specials and madeupword excluded
    assert mass == pytest.approx((50 + 20 + 100 + 3) / (50 + 20 + 100 + 5 + 10 + 10 + 3 + 7))
    assert index.distinct_rows() == 13 and index.live_rows() == 1.0
    assert "coverage: types=50.0% tokens=84.4% distinct rows=13/13 live rows=100.0%" in index.summary("zh")


@pytest.mark.parametrize("order,rank,tables", [(1, 2, 1), (2, 2, 2), (3, 4, 1), (3, 4, 4), (4, 3, 2), (2, 6, 3)])
def test_every_token_is_distinct_and_every_row_is_read(order, rank, tables):
    """Synonyms with equal sememe tuples, word-start/internal twins, specials and fillers: all distinct."""
    lexicon = Lexicon("syn", entries={w: Entry(senses=(("human|人", "occupation|职位"),))
                                      for w in ("法官", "律师", "检察官", "医生")})
    symbols = SPECIALS + ["▁法官", "法官", "▁律师", "律师", "检察官", "医生", "▁you", "you", "▁I", "I", "▁", "。"]
    symbols += [f"madeupword{i:04d}" for i in range(4)]
    index = build_index(symbols, [1] * len(symbols), lexicon, order, rank, tables)
    assert index.distinct_rows() == len(symbols)
    assert index.live_rows() == 1.0
    # slot k reads table k mod m only
    for k in range(rank):
        assert {index.units[u].split("/")[0] for u in index.unit_ids[:, k].ravel()} == {f"t{k % tables}"}


def test_identity_ranks_take_the_last_slots_and_the_semantic_slots_come_first():
    symbols = SPECIALS + ["▁苹果", "梨", "▁的", "▁run"]
    index = build_index(symbols, [1] * len(symbols), tiny_lexicon(), order=2, rank=6, min_readers=1, identity_ranks=4)
    assert index.identity_ranks == 4 and index.meta["identity_ranks"] == 4
    apple = slots_of(index, 4)
    # two semantic slots: one sense (S - 1), then the morphemes; ranks 3, 2, 1, 0 after them
    assert apple[:2] == [("sem:computer|电脑", "sem:able|能"), ("mor:▁", "mor:果")]
    assert [units[0].split(".")[0] for units in apple[2:]] == ["id3", "id2", "id1", "id0"]
    # a token without senses: its morphemes, then the free semantic slot holds one more identity rank
    run = slots_of(index, 7)
    assert run[0] == ("mor:▁", "mor:run") and [u[0].split(".")[0] for u in run[1:]] == ["id4", "id3", "id2", "id1", "id0"]
    # every slot identity: word2ketXS's structure (with SEE's LayerNorm)
    pure = build_index(symbols, [1] * len(symbols), tiny_lexicon(), order=2, rank=3, identity_ranks=3)
    assert not any(u.split("/", 1)[1].startswith(("sem:", "mor:", "sym:")) for u in pure.units)
    assert pure.distinct_rows() == len(symbols)
    with pytest.raises(LexiconError, match="--see-identity-ranks must be between 1 and --see-rank"):
        build_index(symbols, [1] * len(symbols), tiny_lexicon(), order=2, rank=3, identity_ranks=4)


@pytest.mark.parametrize("order,rank,tables,identity_ranks",
                         [(2, 9, 1, 8), (3, 4, 2, 1), (3, 6, 3, 2), (4, 6, 4, 1), (2, 2, 1, 2), (3, 5, 2, 3)])
def test_row_count_prices_an_index_without_building_it(order, rank, tables, identity_ranks):
    lexicon = Lexicon("syn", entries={w: Entry(senses=(("human|人", "occupation|职位"), ("fruit|水果",)))
                                      for w in ("法官", "律师", "检察官", "医生")} | {"梨": Entry(senses=(("fruit|水果",),))})
    symbols = SPECIALS + ["▁法官", "法官", "▁律师", "律师", "检察官", "医生", "▁梨", "梨", "▁you", "you", "。"]
    symbols += [f"▁w{i}" for i in range(60)] + [f"madeupword{i:04d}" for i in range(4)]
    builder = IndexBuilder(symbols, [1] * len(symbols), lexicon)
    index = builder.build(order, rank, tables, identity_ranks)
    assert builder.row_count(order, rank, tables, identity_ranks) == len(index.units)
    assert index.live_rows() == 1.0 and index.distinct_rows() == len(symbols)


def test_units_of_one_token_become_pads():
    """A unit one token reads would be a per-token vector; the identity units are that already."""
    lexicon = Lexicon("x", entries={"苹果": Entry(senses=(("fruit|水果", "tree|树"),)), "梨": Entry(senses=(("fruit|水果",),))})
    symbols = SPECIALS + ["▁苹果", "梨", "▁梨", "▁香蕉"]
    index = build_index(symbols, [1] * len(symbols), lexicon, 3, 3)
    assert slots_of(index, 4)[0] == ("sem:fruit|水果", "pad.1", "pad.2")  # tree|树, 苹 and 果: one token each
    assert slots_of(index, 5)[0] == ("sem:fruit|水果", "mor:梨", "pad.2")  # 梨: two tokens
    assert slots_of(index, 7)[0] == ("mor:▁", "pad.1", "pad.2")  # 香, 蕉: one token each
    assert not {u for u in index.units if "树" in u or "香" in u} and index.distinct_rows() == len(symbols)
    assert index.covered[4:].tolist() == [True, True, True, False]


def test_tables_hold_only_the_units_their_slots_read():
    symbols = SPECIALS + ["▁苹果", "梨", "香蕉", "▁run"]
    one, four = (build_index(symbols, [1] * 8, tiny_lexicon(), 3, 4, tables) for tables in (1, 4))
    assert one.tables == 1 and four.tables == 4
    # four tables of every unit would be 4x the rows; each holds only what its slot reads
    names = {u.split("/", 1)[1] for u in one.units}
    assert len(one.units) == len(names) < len(four.units) < 4 * len(names)


def test_unit_ids_point_into_the_inventory_and_are_deterministic():
    symbols = SPECIALS + ["▁苹果", "梨", "香蕉", "▁run"]
    first = build_index(symbols, [1] * 8, tiny_lexicon(), 3, 4)
    second = build_index(symbols, [1] * 8, tiny_lexicon(), 3, 4)
    assert first.units == second.units and np.array_equal(first.unit_ids, second.unit_ids)
    assert first.unit_ids.max() < len(first.units) and first.unit_ids.min() >= 0


def test_morphemes_come_from_the_segmenter_for_latin_pieces_only():
    class Halves:  # a stand-in with MorfessorSegmenter's segment(): cuts a word in two
        def segment(self, word):
            return [word[: len(word) // 2], word[len(word) // 2:]] if len(word) > 1 else [word]
    symbols = SPECIALS + ["▁walking", "苹果", "▁123", "ok"]
    index = build_index(symbols, [1] * 8, None, 4, 2, segmenter=Halves(), min_readers=1)
    assert slots_of(index, 4)[0] == ("mor:▁", "mor:wal", "mor:king", "pad.3")
    assert slots_of(index, 5)[0] == ("mor:苹", "mor:果", "pad.2", "pad.3")  # characters stay characters
    assert slots_of(index, 6)[0] == ("mor:▁", "mor:123", "pad.2", "pad.3")  # no letters: not segmented
    assert slots_of(index, 7)[0] == ("mor:o", "mor:k", "pad.2", "pad.3")


def test_save_load_roundtrip_is_atomic(tmp_path):
    symbols = SPECIALS + ["▁苹果", "梨"]
    index = build_index(symbols, [1] * 6, tiny_lexicon(), 3, 2, lexicon_name="tiny")
    path = str(tmp_path / "see_index.zh.npz")
    index.save(path)
    assert os.listdir(tmp_path) == ["see_index.zh.npz"]  # no temporary left behind
    loaded = SememeIndex.load(path)
    assert np.array_equal(loaded.unit_ids, index.unit_ids) and loaded.units == index.units
    assert loaded.meta == {"format": 2, "order": 3, "rank": 2, "tables": 1, "identity_ranks": 1, "min_readers": 2,
                           "lexicon": "tiny", "segmenter": None}
    assert loaded.checksum == index.checksum and loaded.unit_ids.dtype == np.uint8
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
    write_dictionary(tmp_path / "dict.en.txt", ["▁apple", "apple", "▁the"])
    lexicon = write(tmp_path / "lex.txt", "苹果\n水果 树 \n梨\n水果 \napple\n水果 \n")
    text = write(tmp_path / "train.en", "I was walking and talking, he walked and talked\nthe apple\n")
    result = run_index_cli(str(tmp_path), "--sememe-lexicon", lexicon, "--see-rank", "2", "--see-tables", "2",
                           "--segmenter-corpus", f"en={text}")
    assert result.returncode == 0, result.stderr
    assert "SEE index (zh): |V|=7" in result.stdout and "types=66.7%" in result.stdout
    assert "SEE index (en): |V|=7" in result.stdout and "types=66.7%" in result.stdout
    assert "distinct rows=7/7" in result.stdout and "live rows=100.0%" in result.stdout
    assert f"morphemes (en): Morfessor trained on 10 word types of {text}" in result.stdout
    index = SememeIndex.load(str(tmp_path / "see_index.zh.npz"))
    assert index.unit_ids.shape == (7, 2, 3) and index.meta["lexicon"] == "lex.txt" and index.tables == 2
    # the segmenter is saved beside the index, so the task and fairseq-see-extend cut words the same way
    assert MorfessorSegmenter.load(str(tmp_path / "see_morfessor.en.txt")).params["types"] == 10


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
    sememes = [u for u in index.units if "/sem:" in u]
    assert 1_500 < len(sememes) < 2_300
    assert len(index.units) < len(symbols) / 2  # units are far fewer than words
    assert index.distinct_rows() == len(symbols) and index.live_rows() == 1.0


def test_morfessor_segmentation_inside_the_index():
    words = {"walk": 40, "walked": 12, "walking": 15, "walks": 9, "talk": 30, "talked": 10, "talking": 12,
             "talks": 8, "jump": 20, "jumped": 7, "jumping": 9, "jumps": 5, "play": 25, "played": 9, "playing": 11}
    segmenter = MorfessorSegmenter.train(words, seed=1)
    symbols = SPECIALS + ["▁walking", "ing", "▁talked", "▁jumps"]
    index = build_index(symbols, [1] * len(symbols), None, 3, 2, segmenter=segmenter, min_readers=1)
    assert slots_of(index, 4)[0] == ("mor:▁", "mor:walk", "mor:ing")
    assert slots_of(index, 5)[0] == ("mor:ing", "pad.1", "pad.2")  # shared with ▁walking's suffix
    assert slots_of(index, 6)[0] == ("mor:▁", "mor:talk", "mor:ed")


def test_an_index_file_of_the_first_format_is_refused_in_one_line(tmp_path):
    path = str(tmp_path / "see_index.zh.npz")
    np.savez(path, unit_ids=np.zeros((5, 2, 3), dtype=np.int64), sense_mask=np.ones((5, 2), dtype=bool),
             covered=np.zeros(5, dtype=bool), special=np.zeros(5, dtype=bool), counts=np.ones(5, dtype=np.int64),
             units=np.array(["sym:<s>"]), meta=np.array('{"order": 3, "rank": 2, "lexicon": "x", "checksum": "c"}'))
    with pytest.raises(LexiconError, match=r"see_index.zh.npz: a SEE index of format 1 \(this version reads 2\); "
                                           r"rebuild it with fairseq-see-index$"):
        SememeIndex.load(path)


def test_index_cli_says_what_is_lost_without_the_names_map(tmp_path):
    write_dictionary(tmp_path / "dict.zh.txt", ["▁苹果", "梨"])
    first, second = write(tmp_path / "a.txt", "苹果\n水果 \n"), write(tmp_path / "b.txt", "梨\n水果 \n")
    result = run_index_cli(str(tmp_path), "--sememe-lexicon", f"{first},{second}", "--morpheme-segmenter", "none")
    assert result.returncode == 0, result.stderr
    assert result.stderr.startswith("warning: no --sememe-names: each lexicon's sememe names stay its own units")
    assert result.stderr.count("\n") == 1
