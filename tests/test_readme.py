"""The README's own commands, run as written (issue 14): every fenced block carries a marker, and the
blocks marked ``<!-- readme-test: run -->`` run in order, in one bash, from a fresh copy of the
repository, on a small real slice (only the sizes are turned down, by their variables)."""

import os
import re
import subprocess

from conftest import REPO, SHARED, VENV_BIN, shared_or_skip

README = os.path.join(REPO, "README.md")
FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.M | re.S)
MARKER = re.compile(r"<!-- readme-test: (run|skip: [^>]+) -->")

# the sizes the README's variables set, turned down to a few hundred lines, a few updates and fairseq's
# tiny transformer (the same code path as the IWSLT sizes, a fraction of the time)
SMALL = {"N": "300", "N_DEV": "20", "ZH_PIECES": "100", "EN_PIECES": "300", "UPDATES": "3",
         "ARCH": "see_transformer_tiny", "TEACHER_ARCH": "transformer_tiny"}


def readme_blocks():
    """[(marker, language, code, line)] of every fenced block, in order; marker None when missing."""
    with open(README, encoding="utf-8") as f:
        text = f.read()
    blocks = []
    for match in FENCE.finditer(text):
        before = text[:match.start()].rstrip()  # the marker is the last thing before the fence
        marker = MARKER.fullmatch(before, before.rfind("<!--")) if "<!--" in before else None
        blocks.append((marker.group(1) if marker else None, match.group(1), match.group(2),
                       text.count("\n", 0, match.start()) + 1))
    return blocks


def readme_script():
    """The blocks marked run, in order, with SMALL's variables turned down (each must be set once)."""
    script = "\n".join(code for marker, _, code, _ in readme_blocks() if marker == "run")
    for name, value in SMALL.items():
        script, count = re.subn(rf"^{name}=\S+", f"{name}={value}", script, flags=re.M)
        assert count == 1, f"README: {name}=... is set {count} times in the blocks it runs (expected once)"
    return script


def test_every_block_is_marked_and_the_run_blocks_set_the_sizes_once():
    blocks = readme_blocks()
    unmarked = [line for marker, _, _, line in blocks if marker is None]
    assert not unmarked, (f"README.md lines {unmarked}: a code block without a '<!-- readme-test: run -->' or "
                          "'<!-- readme-test: skip: REASON -->' line before it")
    assert all(language == "bash" for marker, language, _, _ in blocks if marker == "run")
    assert sum(marker == "run" for marker, _, _, _ in blocks) >= 4
    readme_script()


def fresh_copy(root):
    """root/repo: the tracked top-level entries and the venv (links), root/shared: the real data."""
    repo = root / "repo"
    repo.mkdir()
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    for name in sorted({path.split("/")[0] for path in tracked.splitlines()}):
        if os.path.exists(os.path.join(REPO, name)):
            os.symlink(os.path.join(REPO, name), repo / name)
    os.symlink(os.path.dirname(VENV_BIN), repo / ".venv")
    os.symlink(SHARED, root / "shared")
    return repo


def test_readme_commands_run_as_written(tmp_path):
    shared_or_skip(os.path.join(SHARED, "data", "zh-en", "train", "tvsub", "train.zh.xz"),
                   os.path.join(SHARED, "data", "hownet"), os.path.join(SHARED, "data", "wordnet"))
    repo = fresh_copy(tmp_path)
    (repo / "readme.sh").write_text("set -eu\n" + readme_script() + "\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "FAIRSEQ_SEE_DATA")}
    env.update(OMP_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="", HOME=str(tmp_path))
    result = subprocess.run(["bash", "readme.sh"], cwd=repo, env=env, capture_output=True, text=True, timeout=2400)
    out = result.stdout + result.stderr
    assert result.returncode == 0, f"a README command failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    assert re.search(r"--vocab-size 100 raised to \d+", out)  # the helpers' sizes, said in one line
    assert re.search(r"SEE index \(zh\): .* coverage: types=", out)
    assert re.search(r"Generate test with beam=5: BLEU4 = \d", out)
    assert re.search(r"^\+ ▁量子力学 ", out, re.M)  # fairseq-see-extend
    assert re.search(r"^D-0\t", result.stdout, re.M)  # fairseq-interactive translated the line it was given
    for made in ("checkpoints/see/checkpoint_best.pt", "teacher/checkpoint_best.pt", "stage2/checkpoint_last.pt",
                 "extended/checkpoint.pt", "exported/model.pt", "ck_two/checkpoint_last.pt",
                 "ck_loop/checkpoint_last.pt"):
        assert (repo / made).is_file(), f"{made}: not written by the README's commands"
    # fairseq's own output stays; the deprecation warnings of its dependencies do not (fairseq_see/compat.py)
    assert not re.findall(r"^.*(?:UserWarning|FutureWarning|DeprecationWarning).*$", result.stderr, re.M)
