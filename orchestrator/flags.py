"""Flag files: one per push, written by the repository hooks, read by the watcher.

Standard library only, and importable by path: Mercurial runs ``hg_changegroup`` in its own
Python (``changegroup.orchestrator = python:/path/to/orchestrator/flags.py:hg_changegroup``),
where the orchestrator package is not installed.

A flag is a hint that something was pushed, never an instruction: the watcher validates it,
passes none of its fields to a shell, and resolves the revision to deploy from the
repository itself.
"""

from __future__ import annotations

import getpass
import json
import os
import re
import socket
import stat
import tempfile
import time
from dataclasses import dataclass

SCHEMA_VERSION = 1
MAX_FLAG_BYTES = 4096
SOURCES = ("hg", "git", "manual")
REVISION = re.compile(r"^[0-9a-f]{7,64}$")
BRANCH = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,199}$")
FLAG_SUFFIX = ".json"


class FlagError(ValueError):
    """A flag file that is not a valid flag; the message says which field and why."""


@dataclass(frozen=True)
class Flag:
    source: str
    repository: str
    branch: str
    revision: str
    user: str
    pushed_at: float  # seconds since the epoch

    def to_json(self) -> str:
        return (
            json.dumps(
                {
                    "schema": SCHEMA_VERSION,
                    "source": self.source,
                    "repository": self.repository,
                    "branch": self.branch,
                    "revision": self.revision,
                    "user": self.user,
                    "pushed_at": self.pushed_at,
                },
                sort_keys=True,
            )
            + "\n"
        )


def parse(text: str) -> Flag:
    """Validate a flag's text; raises FlagError naming the field."""
    if len(text.encode()) > MAX_FLAG_BYTES:
        raise FlagError(f"flag is larger than {MAX_FLAG_BYTES} bytes")
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise FlagError(f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise FlagError("not a JSON object")
    if data.get("schema") != SCHEMA_VERSION:
        raise FlagError(f"schema is {data.get('schema')!r}; this watcher reads schema {SCHEMA_VERSION}")
    fields = {}
    for name in ("source", "repository", "branch", "revision", "user"):
        value = data.get(name)
        if not isinstance(value, str):
            raise FlagError(f"field '{name}' is missing or not a string")
        fields[name] = value
    if fields["source"] not in SOURCES:
        raise FlagError(f"field 'source' is {fields['source']!r}; expected one of {', '.join(SOURCES)}")
    if not REVISION.match(fields["revision"]):
        raise FlagError(f"field 'revision' is {fields['revision'][:80]!r}; expected 7 to 64 lowercase hex digits")
    if not BRANCH.match(fields["branch"]):
        raise FlagError(f"field 'branch' is {fields['branch'][:80]!r}; expected a plain branch name")
    pushed_at = data.get("pushed_at")
    if not isinstance(pushed_at, (int, float)) or isinstance(pushed_at, bool):
        raise FlagError("field 'pushed_at' is missing or not a number")
    return Flag(pushed_at=float(pushed_at), **fields)


def write(spool: str, flag: Flag) -> str:
    """Write ``flag`` into ``<spool>/incoming/`` atomically; returns its path.

    The temp file is made in ``incoming/`` itself and renamed: the watcher sees one complete
    file appear (a move into the directory), never a half-written one. Names sort by time.
    A spool whose ``incoming/`` was deleted gets it back (the watcher repairs the rest); a
    spool directory that does not exist is an error: it is not the watcher's.
    """
    incoming = os.path.join(spool, "incoming")
    name = f"{flag.pushed_at:.6f}-{flag.source}-{flag.revision[:12]}-{os.getpid()}{FLAG_SUFFIX}"
    if not os.path.isdir(incoming) and os.path.isdir(spool):
        try:
            os.mkdir(incoming)
            # as open as the spool itself (group-writable for a team of pushers), whatever our umask
            os.chmod(incoming, stat.S_IMODE(os.stat(spool).st_mode))
        except FileExistsError:
            pass  # another push made it first
    fd, tmp = tempfile.mkstemp(dir=incoming, prefix=".tmp-", suffix=".part")
    try:
        with os.fdopen(fd, "w") as out:
            out.write(flag.to_json())
        os.chmod(tmp, 0o640)
        final = os.path.join(incoming, name)
        os.replace(tmp, final)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return final


def make(source: str, repository: str, branch: str, revision: str, user: str | None = None) -> Flag:
    flag = Flag(
        source=source,
        repository=repository,
        branch=branch,
        revision=revision,
        user=user or _user(),
        pushed_at=time.time(),
    )
    parse(flag.to_json())  # the writer refuses what the reader would reject
    return flag


def _user() -> str:
    try:
        return f"{getpass.getuser()}@{socket.gethostname()}"
    except (KeyError, OSError):
        return f"uid {os.getuid()}"


def hg_changegroup(ui, repo, hooktype=None, node=None, node_last=None, **kwargs):
    """Mercurial in-process hook: one flag for the push, naming its newest changeset.

    hgrc:  [hooks]
           changegroup.orchestrator = python:/path/to/orchestrator/flags.py:hg_changegroup
           [orchestrator]
           spool = /var/spool/orchestrator
    Returns False (success) even when no flag could be written, after a warning: a push is
    never refused because deployment is unavailable.
    """
    spool = ui.config(b"orchestrator", b"spool")
    if not spool:
        ui.warn(b"orchestrator: no [orchestrator] spool in hgrc; no deploy triggered\n")
        return False
    last = node_last or node
    try:
        ctx = repo[last]
        flag = make(
            "hg", os.fsdecode(repo.root), ctx.branch().decode(), ctx.hex().decode(), user=os.environ.get("USER") or None
        )
        path = write(os.fsdecode(spool), flag)
    except (OSError, FlagError) as exc:
        ui.warn(f"orchestrator: could not write the deploy flag: {exc}\n".encode())
        return False
    ui.status(
        f"orchestrator: deploy of {flag.revision[:12]} ({flag.branch}) queued: {os.path.basename(path)}\n".encode()
    )
    return False
