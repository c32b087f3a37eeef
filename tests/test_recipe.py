import re
import subprocess

from conftest import cli, write


def recipe(*args):
    return subprocess.run([cli("fairseq-see-recipe"), *map(str, args)], capture_output=True, text=True, timeout=120)


def test_check_refuses_bad_raw_text_in_one_line(tmp_path):
    zh, en = write(tmp_path / "a.zh", "你好\n谢谢\n"), write(tmp_path / "a.en", "hello\nthanks\n")
    ok = recipe("check", zh, en)
    assert ok.returncode == 0 and "2 aligned pairs" in ok.stdout
    (tmp_path / "gbk.zh").write_bytes("你好\n谢谢\n".encode("gb18030"))
    cases = [(tmp_path / "gbk.zh", en, r"gbk.zh:1: not UTF-8 text"),
             (write(tmp_path / "gap.zh", "你好\n\n"), write(tmp_path / "gap.en", "hello\nx\n"), r"gap.zh:2: empty line"),
             (zh, write(tmp_path / "long.en", "a\nb\nc\n"), r"long.en: 3 lines but .*a.zh has 2")]
    for source, target, message in cases:
        result = recipe("check", source, target)
        assert result.returncode == 1 and result.stderr.count("\n") == 1, result.stderr
        assert re.search(message, result.stderr), result.stderr


def test_choose_hits_the_ratio_it_reports(data_dir):
    result = recipe("choose", "--data", data_dir, "--dim", 64, "--ratio", 2, "--sememe-lexicon", data_dir / "lex.txt")
    assert result.returncode == 0, result.stderr
    flags = result.stdout.split()
    assert flags[0::2] == ["--see-order", "--see-tables", "--see-rank"]
    achieved = float(re.search(r"ratio ([\d.]+)x \(asked 2.0x\)", result.stderr).group(1))
    assert 1.0 < achieved < 4.0
