"""The state directory as a place to write: checked before a deploy starts, and what to say when it cannot be used."""

from __future__ import annotations

import errno
import getpass
import os
import sqlite3
import tempfile
from pathlib import Path

# A deploy writes its WAR into the store, the run's artifacts (a few MB) and the history: with
# less than this free it would fail half-way, so it is refused before any node is touched.
MIN_FREE_BYTES = 16 << 20


def require_writable(state_dir: Path) -> None:
    """Make ``state_dir`` if needed and prove a file can be written in it, with room to spare
    (OSError if not: ENOSPC when its file system has less than MIN_FREE_BYTES free).

    A real write, not os.access: that says yes to root on a read-only file system.
    """
    state_dir.mkdir(parents=True, exist_ok=True)
    try:
        with tempfile.TemporaryFile(dir=state_dir, prefix=".writable-") as probe:
            probe.write(b"\0" * 65536)  # a block of data, not only an inode: a full disk refuses it
            probe.flush()
            os.fsync(probe.fileno())
        space = os.statvfs(state_dir)
        if space.f_bavail * space.f_frsize < MIN_FREE_BYTES:
            raise OSError(errno.ENOSPC, f"No space left on device ({space.f_bavail * space.f_frsize >> 20} MB free)")
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, str(state_dir)) from None
    history = state_dir / "history.sqlite"
    if history.exists() and not os.access(history, os.W_OK):
        raise PermissionError(13, "Permission denied", str(history))


def out_of_space(exc: BaseException) -> bool:
    """A write that failed because a file system (or a quota) is full, said by the OS or by SQLite."""
    if isinstance(exc, OSError):
        return exc.errno in (errno.ENOSPC, errno.EDQUOT)
    return isinstance(exc, sqlite3.Error) and "full" in str(exc)


def unusable(state_dir: Path, exc: BaseException, *, writable: bool) -> str:
    """What to say about a state directory that cannot be used, with the fix."""
    reason = f"{exc.strerror}: {exc.filename}" if isinstance(exc, OSError) and exc.strerror else str(exc)
    if out_of_space(exc):
        return (
            f"the state directory {state_dir} cannot be written ({reason}): its file system is full. Free some "
            f"space there (old deploys' artifacts under {state_dir / 'deploys'} can go), or choose another "
            "directory with --state-dir or [deploy] state_directory in orchestrator.toml"
        )
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = f"uid {os.getuid()}"
    return (
        f"the state directory {state_dir} cannot be {'written' if writable else 'read'} ({reason}): the "
        f"orchestrator keeps its history, deploy lock and WARs there. Make it writable for {user} "
        f"(chown -R {user} {state_dir}, or a read-write mount), or choose another with --state-dir or "
        "[deploy] state_directory in orchestrator.toml"
    )
