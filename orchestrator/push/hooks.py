"""Install the push hooks into the central repositories (idempotent).

Mercurial: an in-process Python hook (no process start per push), loaded by path from this
package's flags.py. git: a post-receive script that runs ``orchestrator trigger --git``.
Both only write a flag into the spool; neither deploys, and a push never fails because of them.
"""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path

from ansible_collections.orchestrator.fleet.plugins.module_utils.fsutil import write_atomic
from orchestrator import flags as flag_lib
from orchestrator.errors import InputError

BEGIN = "# BEGIN orchestrator (written by 'orchestrator hook install'; edit there)"
END = "# END orchestrator"
BLOCK = re.compile(re.escape(BEGIN) + r".*?" + re.escape(END) + r"\n?", re.S)


def install_hg(repository: Path, spool: Path) -> Path:
    repository = Path(repository).resolve()
    hgrc = repository / ".hg" / "hgrc"
    if not (repository / ".hg").is_dir():
        raise InputError(f"{repository} is not a Mercurial repository (no .hg directory)")
    block = (
        f"{BEGIN}\n[hooks]\nchangegroup.orchestrator = python:{Path(flag_lib.__file__).resolve()}:hg_changegroup\n"
        f"[orchestrator]\nspool = {Path(spool).resolve()}\n{END}\n"
    )
    text = hgrc.read_text() if hgrc.exists() else ""
    text = BLOCK.sub("", text)
    if text and not text.endswith("\n"):
        text += "\n"
    write_atomic(hgrc, text + block)
    return hgrc


def install_git(repository: Path, spool: Path) -> Path:
    repository = Path(repository).resolve()
    hooks = repository / "hooks" if (repository / "HEAD").is_file() else repository / ".git" / "hooks"
    if not hooks.parent.is_dir() or not (hooks.parent / "HEAD").is_file():
        raise InputError(f"{repository} is not a git repository")
    script = hooks / "post-receive"
    if script.exists() and BEGIN not in script.read_text():
        raise InputError(
            f"{script} exists and is not ours; add this line to it by hand: {_git_command(repository, spool)}"
        )
    write_atomic(
        script,
        f"#!/bin/sh\n{BEGIN}\n# Writes one flag per push into the spool; never fails the push.\n"
        f"{_git_command(repository, spool)} || true\n{END}\n",
        mode=0o755,
    )
    return script


def _git_command(repository: Path, spool: Path) -> str:
    return " ".join(
        shlex.quote(a)
        for a in [
            sys.executable,
            "-m",
            "orchestrator",
            "trigger",
            "--git",
            "--spool",
            str(Path(spool).resolve()),
            "--repository",
            str(repository),
        ]
    )


def git_post_receive(lines: list[str], *, spool: Path, repository: str) -> list[str]:
    """One flag per updated branch, from post-receive's "<old> <new> <ref>" lines."""
    written = []
    for line in lines:
        parts = line.split()
        if len(parts) != 3 or not parts[2].startswith("refs/heads/") or set(parts[1]) == {"0"}:
            continue  # a tag, a deleted branch, or noise
        flag = flag_lib.make("git", repository, parts[2][len("refs/heads/") :], parts[1])
        written.append(flag_lib.write(str(spool), flag))
    return written
