"""The spool: where pushes wait for the watcher, and what became of each.

Layout (each a directory under ``[spool] directory``):
  incoming/  the hooks write flags here (temp file + rename)
  claimed/   the watcher moves a batch here before working on it; what is left here after a
             crash is the batch that was interrupted
  rejected/  whatever was not a valid flag, each with a ``.reason`` file beside it
  done/      flags whose batch has been handled, kept for audit

Anyone who may push may write into incoming/, so nothing found there is trusted: only a
regular file is read, opened without following a link and without blocking (a FIFO named
``*.json`` would otherwise hold the watcher in ``open()`` for ever), and never more than a
flag's size. Anything else is moved to rejected/ with the reason.

The layout is repaired whenever part of it is missing (an operator's ``rm -rf``, a cleanup
job), and the repair is said: a flag is never left waiting without a word.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

from orchestrator import flags as flag_lib

DIRS = ("incoming", "claimed", "rejected", "done")


class Spool:
    def __init__(self, root: Path, *, say: Callable[[str], None] = lambda message: None):
        self.root = Path(root)
        self.say = say
        self._said: set[str] = set()

    @property
    def incoming(self) -> Path:
        return self.root / "incoming"

    @property
    def claimed(self) -> Path:
        return self.root / "claimed"

    @property
    def rejected(self) -> Path:
        return self.root / "rejected"

    @property
    def done(self) -> Path:
        return self.root / "done"

    def repair(self) -> list[str]:
        """Create whatever part of the layout is missing; returns (and says) what was created."""
        made = []
        for name in DIRS:
            path = self.root / name
            if path.is_dir():
                continue
            try:
                path.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                # said once per cause, not on every round; the flags wait in incoming/
                complaint = f"the spool's {name}/ cannot be made: {exc.strerror} ({path}); fix it by hand"
                if complaint not in self._said:
                    self._said.add(complaint)
                    self.say(complaint)
                continue
            made.append(name)
        if made and len(made) < len(DIRS):
            self.say(f"the spool {self.root} was missing {', '.join(d + '/' for d in made)}: made again")
        return made

    def identity(self) -> tuple:
        """Which directories these are: a spool or an incoming/ deleted and made again differs."""
        ids: list[tuple[int, int] | None] = []
        for path in (self.root, self.incoming):
            try:
                st = os.stat(path)
                ids.append((st.st_dev, st.st_ino))
            except OSError:
                ids.append(None)
        return tuple(ids)

    def claim(self) -> list[Path]:
        """Move every waiting flag into claimed/; returns their new paths.

        A flag that vanished in between was claimed by another watcher; one that cannot be
        moved for another reason stays where it is and the reason is said.
        """
        self.repair()
        try:
            names = sorted(e.name for e in os.scandir(self.incoming) if e.name.endswith(flag_lib.FLAG_SUFFIX))
        except OSError:
            return []  # repair() has said why incoming/ is not there
        return [self.claimed / name for name in names if self._claim(name)]

    def _claim(self, name: str) -> bool:
        source, target = self.incoming / name, self.claimed / name
        try:
            os.rename(source, target)
            return True
        except FileNotFoundError:
            if not os.path.lexists(source):
                return False  # claimed by someone else in between
            self.repair()  # it is claimed/ that went missing, not the flag: once more
            try:
                os.rename(source, target)
                return True
            except OSError as exc:
                failure = exc
        except OSError as exc:
            failure = exc
        self.say(f"could not claim {name}: {failure.strerror} ({failure.filename}); it waits in incoming/")
        return False

    def read(self, path: Path) -> str:
        """The text of a flag file; FlagError for anything that is not a small regular file."""
        try:
            st = os.lstat(path)
        except OSError as exc:
            raise flag_lib.FlagError(f"cannot be read: {exc.strerror}") from None
        if not stat.S_ISREG(st.st_mode):
            raise flag_lib.FlagError(f"is {_kind(st.st_mode)}, not a regular file; flags are written by the hooks")
        if st.st_size > flag_lib.MAX_FLAG_BYTES:
            raise flag_lib.FlagError(f"flag is larger than {flag_lib.MAX_FLAG_BYTES} bytes ({st.st_size})")
        try:
            # checked again on the open file: it may have been swapped after the lstat
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY)
        except OSError as exc:
            raise flag_lib.FlagError(f"cannot be read: {exc.strerror}") from None
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise flag_lib.FlagError("was replaced by something that is not a regular file")
            data = f.read(flag_lib.MAX_FLAG_BYTES + 1)
        return data.decode(errors="replace")

    def reject(self, path: Path, reason: str) -> None:
        """Move ``path`` (whatever it is) to rejected/, with the reason beside it."""
        self.repair()
        target = _free_name(self.rejected / path.name)
        try:
            os.replace(path, target)
        except OSError as exc:
            self.say(f"rejected {path.name}: {reason}; it could not be moved to {self.rejected}: {exc.strerror}")
            return
        target.with_name(target.name + ".reason").write_text(reason + "\n")
        self.say(f"rejected {path.name}: {reason}")

    def finish(self, paths) -> None:
        """Move a handled batch's flags to done/."""
        self.repair()
        for path in paths:
            if os.path.lexists(path):
                os.replace(path, _free_name(self.done / path.name))


def _free_name(path: Path) -> Path:
    """``path``, or ``path.N`` when something of that name is already there (a directory cannot be replaced)."""
    n, candidate = 1, path
    while os.path.lexists(candidate):
        candidate = path.with_name(f"{path.name}.{n}")
        n += 1
    return candidate


def _kind(mode: int) -> str:
    for test, name in (
        (stat.S_ISLNK, "a symbolic link"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
    ):
        if test(mode):
            return name
    return "not a regular file"
