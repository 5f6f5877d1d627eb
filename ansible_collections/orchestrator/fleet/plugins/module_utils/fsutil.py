"""Small file-system helpers: an atomic write, an atomic symlink swap.

Standard library only: the release modules on the nodes import it as ansible.module_utils.fsutil.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def write_atomic(path: str | Path, text: str, *, mode: int = 0o644) -> bool:
    """Write ``text`` to ``path`` through a temp file in the same directory and a rename.

    A crash leaves the old file or the new one, never half of one. Returns False (and writes
    nothing) when the file already holds exactly ``text``.
    """
    path = Path(path)
    try:
        if path.read_text() == text:
            return False
    except OSError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    return True


def swap_link(link: str | Path, target: str | Path) -> None:
    """Point the symlink ``link`` at ``target`` atomically: a new link beside it, renamed over it."""
    tmp_link = f"{link}.tmp"
    if os.path.lexists(tmp_link):
        os.unlink(tmp_link)
    os.symlink(target, tmp_link)
    os.replace(tmp_link, link)
