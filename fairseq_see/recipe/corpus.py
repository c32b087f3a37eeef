"""Raw parallel text: reading it strictly, writing it atomically, and the corpus check."""

from ..errors import RecipeError
from ..lexicon.files import atomic_output


def write_atomic(path, lines):
    with atomic_output(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        for line in lines:
            f.write(line + "\n")


def read_lines(path):
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise RecipeError(f"{path}: not found; pass an existing file") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[:e.start].count(b"\n") + 1
        raise RecipeError(f"{path}:{line}: not UTF-8 text; convert it (e.g. iconv -f GB18030 -t UTF-8)") from None
    return text.splitlines()


def check_parallel(source, target):
    """UTF-8, the same number of lines, no empty line; returns the number of pairs."""
    source_lines, target_lines = read_lines(source), read_lines(target)
    if len(source_lines) != len(target_lines):
        raise RecipeError(f"{target}: {len(target_lines)} lines but {source} has {len(source_lines)}; "
                          "pass line-aligned files")
    for path, lines in ((source, source_lines), (target, target_lines)):
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                raise RecipeError(f"{path}:{number}: empty line; remove the pair (both files) or fill it")
    return len(source_lines)
