"""One deploy at a time, between the watcher and manual deploys.

An ``flock`` on a file in the state directory: the kernel drops it when its holder dies, so a
killed or crashed deploy never leaves the lock behind. The holder writes who it is into the
file so a waiting deploy can say whom it waits for.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Callable
from pathlib import Path

from orchestrator.errors import OrchestratorError


class LockBusy(OrchestratorError):
    """Another deploy holds the lock and the caller asked not to wait."""

    exit_code = 3


class DeployLock:
    def __init__(self, state_dir: Path):
        self.path = Path(state_dir) / "deploy.lock"
        self._fd: int | None = None

    def holder(self) -> str:
        try:
            info = json.loads(self.path.read_text() or "{}")
        except (OSError, ValueError):
            return "another process"
        if not info:
            return "another process"
        return f"{info.get('what', 'a deploy')} (pid {info.get('pid')}, since {info.get('since')})"

    def held_by(self) -> str | None:
        """Who holds the lock now, or None when nobody does (probed without waiting)."""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return self.holder()
        finally:
            os.close(fd)
        return None

    def acquire(
        self,
        what: str,
        *,
        wait: bool = True,
        on_wait: Callable[[str], None] | None = None,
        poll: float = 0.2,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> DeployLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not wait:
                    os.close(fd)
                    raise LockBusy(
                        f"another deploy is running: {self.holder()}; try again later "
                        "or leave out --no-wait to wait for it"
                    ) from None
                if not told and on_wait is not None:
                    on_wait(self.holder())
                    told = True
                if should_stop():
                    os.close(fd)
                    raise LockBusy("stopped while waiting for the deploy lock") from None
                time.sleep(poll)
        os.ftruncate(fd, 0)
        os.pwrite(
            fd, json.dumps({"pid": os.getpid(), "what": what, "since": time.strftime("%Y-%m-%d %H:%M:%S")}).encode(), 0
        )
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> DeployLock:
        return self

    def __exit__(self, *exc) -> None:
        self.release()
