"""Raw parallel text: reading it strictly, writing it atomically, and the corpus check.

Lines are split on ``\\n`` only, as ``wc -l`` counts them and as fairseq-preprocess sees a file the
recipe wrote (``str.splitlines`` would also split on U+2028, NEL, VT, FF, lone CR, ...: a line
count that agrees with neither); a CR before the ``\\n`` (Windows line ends) is dropped.
"""

from ..errors import RecipeError
from ..lexicon.files import atomic_output


def write_atomic(path, lines):
    with atomic_output(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        for line in lines:
            f.write(line + "\n")


def split_lines(text):
    """The lines of ``text``, split on ``\\n`` only; a final ``\\n`` ends the last line, CRs before it go."""
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    return [line.rstrip("\r") for line in lines]


def read_lines(path, what="file", fix="pass an existing file"):
    """The lines of a UTF-8 text file (see ``split_lines``); a missing, unreadable or non-UTF-8 file is a
    one-line error naming it (``what`` it is, and the ``fix`` of a missing one)."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise RecipeError(f"{path}: {what} not found; {fix}") from None
    except IsADirectoryError:
        raise RecipeError(f"{path}: a directory, not a {what}; {fix}") from None
    except OSError as e:
        raise RecipeError(f"{path}: cannot read the {what} ({e.strerror or e})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw[:e.start].count(b"\n") + 1
        raise RecipeError(f"{path}:{line}: not UTF-8 text; convert it (e.g. iconv -f GB18030 -t UTF-8)") from None
    return split_lines(text)


def check_text(path, lines):
    """No empty line, no NUL, no carriage return inside a line (fairseq-preprocess reads a lone CR as a
    line break: the sides would no longer be aligned)."""
    for number, line in enumerate(lines, start=1):
        if "\0" in line:
            raise RecipeError(f"{path}:{number}: a NUL byte in the line (column {line.index(chr(0)) + 1}); remove it "
                              "(e.g. tr -d '\\000') or fix the file's encoding")
        if "\r" in line:
            raise RecipeError(f"{path}:{number}: a carriage return inside the line (column {line.index(chr(13)) + 1}); "
                              "fairseq-preprocess would read it as a line break: replace it (e.g. tr '\\r' ' ')")
        if not line.strip():
            raise RecipeError(f"{path}:{number}: empty line; remove the pair (both files) or fill it")


def check_parallel(source, target):
    """UTF-8, the same number of lines, no empty line, no NUL or CR inside a line; returns the number of pairs."""
    source_lines, target_lines = read_lines(source), read_lines(target)
    for path, lines in ((source, source_lines), (target, target_lines)):
        check_text(path, lines)
    if len(source_lines) != len(target_lines):
        raise RecipeError(f"{target}: {len(target_lines)} lines but {source} has {len(source_lines)}; "
                          "pass line-aligned files")
    return len(source_lines)
