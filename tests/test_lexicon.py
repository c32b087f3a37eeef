import json
import os
import pickle
import subprocess
import sys
import textwrap

import pytest

from conftest import GLOSSARY, REPO, SEMEME_NAMES, SEWRL, THUNLP, shared_or_skip, write
from fairseq_see.lexicon import (Lexicon, LexiconError, SememeNames, combine, detect_format, load_lexicons,
                                 read_lexicon)

GLOSSARY_TEXT = (
    "苹果                \tN    \tfruit|水果\n"
    "苹果                \tN    \tcomputer|电脑,PatternValue|样式值,able|能,#bring|携带,SpeBrand|特定牌子\n"
    "苹果                \tN    \tfruit|水果\n"  # duplicate sense, dropped
    "但是                \tCONJ \t{contrast}\n"  # a role, no sememe: the word gets no entry
    "阿富汗              \tN    \tplace|地方,country|国家,ProperName|专,(Afghanistan|阿富汗)\n"
    "挨打                \tV    \tsuffer|遭受,content=beat|打\n"
    "很                  \tADV  \t^$pay|付,{degree|程度}\n"
)
THUNLP_TEXT = "\n特性值 他 \n苹果\n用具 电脑 水果 树 \n梨\n水果 树 \n"
SEWRL_TEXT = "的 2 2 功能词 构助 4 定向 射击 用具 部件\n了 1 1 完毕\n"
NAMES = {"fruit|水果": 30, "computer|电脑": 20, "tool|用具": 10, "tree|树": 9, "FuncWord|功能词": 5,
         "lights|光": 3, "light|光": 7, "AttributeValue|属性值": 4}


def test_hownet2000_senses_main_sememe_first(tmp_path):
    lex = read_lexicon(write(tmp_path / "g.txt", GLOSSARY_TEXT), "hownet2000")
    assert lex.get("苹果").senses == (
        ("fruit|水果",),
        ("computer|电脑", "PatternValue|样式值", "able|能", "bring|携带", "SpeBrand|特定牌子"))
    assert "但是" not in lex  # {contrast} is a relation role, not a sememe
    assert lex.get("阿富汗").senses == (("place|地方", "country|国家", "ProperName|专"),)  # (x|y) is an instance
    assert lex.get("挨打").senses == (("suffer|遭受", "beat|打"),)  # role= prefix stripped
    assert lex.get("很").senses == (("pay|付", "degree|程度"),)  # markers ^$ and braces stripped


def test_thunlp_merged_bag_and_empty_first_word(tmp_path):
    lex = read_lexicon(write(tmp_path / "t.txt", THUNLP_TEXT), "thunlp")
    assert set(lex.entries) == {"苹果", "梨"}  # the file's empty first word is skipped
    assert lex.get("苹果").senses == (("用具", "电脑", "水果", "树"),)
    assert lex.get("苹果").merged


def test_sewrl_senses(tmp_path):
    lex = read_lexicon(write(tmp_path / "s.txt", SEWRL_TEXT), "sewrl")
    assert lex.get("的").senses == (("功能词", "构助"), ("定向", "射击", "用具", "部件"))
    assert lex.get("了").senses == (("完毕",),)


@pytest.mark.parametrize("text,fmt", [(GLOSSARY_TEXT, "hownet2000"), (THUNLP_TEXT, "thunlp"), (SEWRL_TEXT, "sewrl")])
def test_format_detection(tmp_path, text, fmt):
    path = write(tmp_path / "lex.txt", text)
    assert detect_format(path) == fmt
    assert len(read_lexicon(path)) == len(read_lexicon(path, fmt))


@pytest.mark.parametrize("text,fmt,line", [
    (GLOSSARY_TEXT + "坏行\tN\n", "hownet2000", 8),
    (SEWRL_TEXT + "的 2 1 功能词\n", "sewrl", 3),
    ("苹果\n水果\n梨\n", "thunlp", 3),
])
def test_garbled_line_reports_file_and_line(tmp_path, text, fmt, line):
    path = write(tmp_path / "bad.txt", text)
    with pytest.raises(LexiconError, match=rf"bad\.txt:{line}: "):
        read_lexicon(path, fmt)


def test_bad_input_errors(tmp_path):
    with pytest.raises(LexiconError, match="missing.txt: lexicon not found"):
        load_lexicons(str(tmp_path / "missing.txt"))
    with pytest.raises(LexiconError, match="empty.txt: lexicon is empty"):
        load_lexicons(write(tmp_path / "empty.txt", "\n\n"))
    with pytest.raises(LexiconError, match="unknown lexicon format"):
        load_lexicons(write(tmp_path / "odd.txt", "a|b\tc\n"))
    gbk = tmp_path / "gbk.txt"
    gbk.write_bytes("苹果\n水果\n".encode("gb18030"))
    with pytest.raises(LexiconError, match=r"gbk.txt:1: not UTF-8"):
        load_lexicons(str(gbk), "thunlp")
    with pytest.raises(LexiconError, match="no word with sememes"):
        load_lexicons(write(tmp_path / "roles.txt", "但是\tCONJ\t{contrast}|x\n".replace("|x", "")), "hownet2000")


def test_sememe_names_unify_sources(tmp_path):
    names_path = write(tmp_path / "names.json", json.dumps(NAMES))
    lex = load_lexicons(write(tmp_path / "t.txt", "苹果\n电脑 水果 光 未知 \n"), sememe_names=names_path)
    # Chinese-only names map to OpenHowNet's; 光 is ambiguous (the more frequent wins), 未知 unknown
    assert lex.get("苹果").senses == (("computer|电脑", "fruit|水果", "light|光", "未知"),)
    assert lex.ambiguous_sememes == {"光": "light|光"}
    assert lex.unknown_sememes == {"未知": 1}
    # an older English half is mapped through its Chinese half
    glossary = load_lexicons(write(tmp_path / "g.txt", "好看\tADJ\taValue|属性值\n"), sememe_names=names_path)
    assert glossary.get("好看").senses == (("AttributeValue|属性值",),)


def test_combine_first_wins(tmp_path):
    first = read_lexicon(write(tmp_path / "g.txt", GLOSSARY_TEXT))
    second = read_lexicon(write(tmp_path / "t.txt", THUNLP_TEXT))
    both = combine([first, second])
    assert both.get("苹果") == first.get("苹果")
    assert both.get("梨") == second.get("梨")
    paths = f"{tmp_path / 'g.txt'},{tmp_path / 't.txt'}"
    assert load_lexicons(paths).entries == both.entries


def write_openhownet_resources(home):
    """A small folder in OpenHowNet's real on-disk format (~/.openhownet/resources)."""
    resources = os.path.join(home, ".openhownet", "resources")
    os.makedirs(resources)
    sememes = {"fruit|水果": 5, "computer|电脑": 3, "tree|树": 2, "reproduce|生殖": 1, "PartOf|部件": 1,
               "place|地方": 4, "city|市": 2, "country|国家": 2, "ProperName|专": 3}
    with open(os.path.join(resources, "sememe_all"), "wb") as f:
        pickle.dump(sememes, f)
    with open(os.path.join(resources, "sememe_triples_taxonomy.txt"), "w", encoding="utf-8") as f:
        f.write("fruit|水果 hypernym PartOf|部件\n")
    senses = {
        "000001": {"No": "000001", "en_word": "apple", "en_grammar": "noun", "ch_word": "苹果",
                   "ch_grammar": "noun", "Def": "{fruit|水果}"},
        "000002": {"No": "000002", "en_word": "apple", "en_grammar": "noun", "ch_word": "苹果",
                   "ch_grammar": "noun", "Def": "{computer|电脑:{reproduce|生殖:PatientProduct={tree|树}}}"},
        "000003": {"No": "000003", "en_word": "pear", "en_grammar": "noun", "ch_word": "梨",
                   "ch_grammar": "noun", "Def": "{fruit|水果}"},
        "000004": {"No": "000004", "en_word": "London", "en_grammar": "noun", "ch_word": "伦敦",
                   "ch_grammar": "noun", "Def": "{place|地方:PlaceSect={city|市},modifier={ProperName|专}}"},
        "000005": {"No": "000005", "en_word": "US", "en_grammar": "noun", "ch_word": "美国",
                   "ch_grammar": "noun", "Def": "{place|地方:PlaceSect={country|国家},modifier={ProperName|专}}"},
        "000006": {"No": "000006", "en_word": "pear tree", "en_grammar": "noun", "ch_word": "梨树",
                   "ch_grammar": "noun", "Def": "{tree|树:{reproduce|生殖:PatientProduct={fruit|水果}}}"},
    }
    with open(os.path.join(resources, "HowNet_dict_complete"), "wb") as f:
        pickle.dump(senses, f)


def run_with_home(home, code):
    env = dict(os.environ, HOME=str(home), PYTHONPATH=REPO)
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True,
                          text=True, timeout=120)


def test_openhownet_reader_through_its_api(tmp_path):
    write_openhownet_resources(str(tmp_path))
    result = run_with_home(tmp_path, """
        from fairseq_see.lexicon import load_lexicons
        lex = load_lexicons("openhownet")
        print(sorted(lex.get("苹果").senses), lex.get("apple") == lex.get("苹果"), lex.get("pear").senses)
    """)
    assert result.returncode == 0, result.stderr
    assert ("[('computer|电脑', 'reproduce|生殖', 'tree|树'), ('fruit|水果',)] True (('fruit|水果',),)"
            in result.stdout)


def test_openhownet_english_words_get_their_senses(tmp_path):
    write_openhownet_resources(str(tmp_path))
    result = run_with_home(tmp_path, """
        from fairseq_see.lexicon import load_lexicons
        lex = load_lexicons("openhownet")
        print(lex.get("London").senses, lex.get("london") == lex.get("London") == lex.get("伦敦"))
        print(lex.get("US") == lex.get("美国"), lex.get("us"), lex.get("pear tree") == lex.get("梨树"))
    """)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()[-2:]
    assert lines[0] == "(('place|地方', 'city|市', 'ProperName|专'),) True"
    # the capitalised English word is also found lower-cased, except as a closed-class word
    assert lines[1] == "True None True"


def test_openhownet_missing_data_says_how_to_get_it(tmp_path):
    result = run_with_home(tmp_path, """
        from fairseq_see.lexicon import load_lexicons, LexiconError
        try:
            load_lexicons("openhownet")
        except LexiconError as e:
            print(e)
    """)
    assert "OpenHowNet.download()" in result.stdout and "HowNet_dict_complete" in result.stdout


def test_lexicon_package_imports_without_torch_or_fairseq():
    """The lexicon folder works on its own: loaded standalone with torch and fairseq made unimportable."""
    code = f"""
        import importlib.util, sys
        sys.modules["torch"] = None
        sys.modules["fairseq"] = None
        folder = {os.path.join(REPO, "fairseq_see", "lexicon")!r}
        spec = importlib.util.spec_from_file_location("lexicon", folder + "/__init__.py",
                                                      submodule_search_locations=[folder])
        lexicon = importlib.util.module_from_spec(spec)
        sys.modules["lexicon"] = lexicon
        spec.loader.exec_module(lexicon)
        print(lexicon.build_index.__name__)
    """
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "build_index"


def test_real_lexicons_read_and_agree_on_names():
    shared_or_skip(GLOSSARY, THUNLP, SEWRL, SEMEME_NAMES)
    glossary = load_lexicons(GLOSSARY, sememe_names=SEMEME_NAMES)
    thunlp = load_lexicons(THUNLP, sememe_names=SEMEME_NAMES)
    sewrl = load_lexicons(SEWRL, sememe_names=SEMEME_NAMES)
    assert len(glossary) > 53_000 and len(thunlp) > 126_000 and len(sewrl) == 9_084
    assert ("fruit|水果",) in glossary.get("苹果").senses
    assert "fruit|水果" in thunlp.get("苹果").senses[0] and "computer|电脑" in thunlp.get("苹果").senses[0]
    # after mapping, the sources share one sememe vocabulary: most of thunlp's names are glossary names
    shared = thunlp.sememes() & glossary.sememes()
    assert len(shared) > 1_300
    assert isinstance(combine([glossary, thunlp]), Lexicon)
    names = SememeNames.load(SEMEME_NAMES)
    assert names.canonical("水果", Lexicon("x")) == "fruit|水果"
