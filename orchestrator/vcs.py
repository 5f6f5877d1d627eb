"""Ask the central repository (Mercurial or git) for revisions, and export one.

Revisions and branch names from flags are never trusted: the newest revision of the configured
branch is asked of the repository, and every value reaches the VCS as an argv element, never
through a shell.
"""

from __future__ import annotations

import re
import subprocess
import tarfile
from pathlib import Path

from orchestrator.errors import InputError, OrchestratorError

REV = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,199}$")


class VcsError(OrchestratorError):
    """The repository could not be read or exported."""


def _run(argv: list[str], *, timeout: float = 60) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError:
        raise VcsError(f"{argv[0]} is not installed") from None
    except subprocess.TimeoutExpired:
        raise VcsError(f"'{' '.join(argv)}' did not finish in {timeout}s") from None
    if done.returncode != 0:
        raise VcsError(f"'{' '.join(argv)}' failed: {done.stderr.strip()[:500]}")
    return done.stdout.strip()


def kind(repository: Path) -> str:
    return "hg" if (Path(repository) / ".hg").is_dir() else "git"


def resolve(repository: Path, *, branch: str | None = None, rev: str | None = None) -> str:
    """The full id of ``rev``, or of the newest revision on ``branch``."""
    if rev is not None and (not REV.match(rev) or ".." in rev):
        raise InputError(
            f"revision {rev!r} is not one revision: give a revision id, a tag, a bookmark or a branch "
            "name (never a range or a revset)"
        )
    if kind(repository) == "hg":
        # quoted, a revset is one symbol, looked up as a name or id: never a range, never an operator
        revset = f"'{rev}'" if rev is not None else f"max(branch('{branch}'))"
        try:
            out = _run(["hg", "--cwd", str(repository), "log", "-r", revset, "-l", "1", "-T", "{node}"])
        except VcsError as exc:
            if rev is not None:
                raise InputError(f"revision {rev} does not exist in {repository}: {exc}") from None
            raise
        if not out:
            raise InputError(f"branch {branch!r} has no revisions in {repository}")
        return out
    ref = f"{rev}^{{commit}}" if rev is not None else f"refs/heads/{branch}^{{commit}}"
    try:
        return _run(["git", "-C", str(repository), "rev-parse", "--verify", "--quiet", ref])
    except VcsError:
        what = f"revision {rev}" if rev is not None else f"branch {branch!r}"
        raise InputError(f"{what} does not exist in {repository}") from None


def commit_time(repository: Path, revision: str) -> int:
    """When ``revision`` was committed, in seconds since the epoch (a build's SOURCE_DATE_EPOCH)."""
    if kind(repository) == "hg":
        out = _run(["hg", "--cwd", str(repository), "log", "-r", revision, "-T", "{date|hgdate}"])
    else:
        out = _run(["git", "-C", str(repository), "show", "-s", "--format=%ct", revision])
    return int(float(out.split()[0]))


def export(repository: Path, revision: str, destination: Path, *, timeout: float = 300) -> None:
    """Write the files of ``revision`` into the empty directory ``destination``."""
    destination.mkdir(parents=True, exist_ok=False)
    if kind(repository) == "hg":
        # archive refuses to overwrite; the directory is ours and empty
        destination.rmdir()
        _run(
            ["hg", "--cwd", str(repository), "archive", "-r", revision, "--type", "files", str(destination)],
            timeout=timeout,
        )
        (destination / ".hg_archival.txt").unlink(missing_ok=True)
        return
    proc = subprocess.Popen(
        ["git", "-C", str(repository), "archive", "--format=tar", revision],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None  # both are pipes
    try:
        with tarfile.open(fileobj=proc.stdout, mode="r|") as archive:
            archive.extractall(destination, filter="data")
    finally:
        proc.stdout.close()
        err = proc.stderr.read().decode(errors="replace")
        proc.stderr.close()
        rc = proc.wait(timeout=timeout)
    if rc != 0:
        raise VcsError(f"git archive {revision} failed: {err.strip()[:500]}")


def contains(repository: Path, revision: str, ancestor: str) -> bool:
    """Whether ``revision`` has ``ancestor`` in its history (a revision contains itself)."""
    if kind(repository) == "hg":
        out = _run(["hg", "--cwd", str(repository), "log", "-r", f"{ancestor} and ::{revision}", "-T", "{node}"])
        return bool(out)
    try:
        done = subprocess.run(
            ["git", "-C", str(repository), "merge-base", "--is-ancestor", ancestor, revision],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except FileNotFoundError:
        raise VcsError("git is not installed") from None
    if done.returncode not in (0, 1):
        raise VcsError(f"'git merge-base --is-ancestor {ancestor} {revision}' failed: {done.stderr.strip()[:500]}")
    return done.returncode == 0
