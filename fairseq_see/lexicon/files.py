"""Atomic file output: write beside the target, then rename, so an interrupted write leaves the
previous file intact and no half-written one behind."""

import contextlib
import os
import tempfile


@contextlib.contextmanager
def atomic_output(path):
    """Yields a temporary path in the target's directory; renamed onto ``path`` on success."""
    directory = os.path.dirname(os.path.abspath(path))
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
