"""Atomic file output: write beside the target, then rename, so an interrupted write leaves the
previous file intact and no half-written one behind.

A process killed outright (SIGKILL, power loss) cannot remove its temporary file; the next write
of the same target removes such leftovers: temporaries of that target older than the writing
process (a writer still at work keeps touching its own, so it is younger).
"""

import contextlib
import os
import re
import tempfile
import time

_IMPORTED = time.time()


def process_start_time():
    """When this process started (seconds since the epoch; up to 1 s early: the boot time is whole
    seconds), or the module's import time where /proc is absent."""
    try:
        with open("/proc/self/stat") as f:
            ticks = int(f.read().rsplit(")", 1)[1].split()[19])  # field 22, starttime, after the comm
        with open("/proc/stat") as f:
            boot = next(int(line.split()[1]) for line in f if line.startswith("btime "))
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return _IMPORTED


def _temporary_pattern(name):
    # tempfile.mkstemp(prefix=".<name>.", suffix=".tmp"): 8 characters of [a-z0-9_] in between
    return re.compile(rf"\.{re.escape(name)}\.[a-z0-9_]{{8}}\.tmp")


def remove_stale_temporaries(path):
    """Remove the temporaries an earlier, killed writer of ``path`` left behind; returns their paths."""
    directory, name = os.path.split(os.path.abspath(path))
    pattern, started, removed = _temporary_pattern(name), process_start_time(), []
    try:
        entries = os.listdir(directory)
    except OSError:
        return removed
    for entry in entries:
        if pattern.fullmatch(entry):
            leftover = os.path.join(directory, entry)
            try:
                if os.path.getmtime(leftover) < started:
                    os.unlink(leftover)
                    removed.append(leftover)
            except OSError:
                pass  # gone meanwhile, or not ours to remove
    return removed


@contextlib.contextmanager
def atomic_output(path):
    """Yields a temporary path in the target's directory; renamed onto ``path`` on success."""
    directory = os.path.dirname(os.path.abspath(path))
    remove_stale_temporaries(path)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    os.close(fd)
    try:
        yield tmp
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; give the file the usual permissions
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
