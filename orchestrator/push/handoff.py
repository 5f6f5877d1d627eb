"""A CI job's hand-off: ask the watcher to deploy a revision, then follow the deploy that contains it.

`orchestrator trigger --rev R --wait` writes a flag as the push hook does (so the watcher's
coalescing, test gate and lock apply as for any push) and reads the history until a deploy of
a revision that contains R, running when the flag was written or begun since, has ended. The watcher
deploys the newest revision of its branch, so that deploy may be of a later revision: it still
answers whether R is live.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from orchestrator import flags as flag_lib
from orchestrator import vcs
from orchestrator.config import Config
from orchestrator.errors import InputError, OrchestratorError
from orchestrator.records.deploys import DeployRecord
from orchestrator.records.history import History
from orchestrator.records.lock import DeployLock

LIVE = ("deployed", "unchanged")
NOT_LIVE = ("failed", "rejected", "refused")
# stage -> how it reads in the progress lines, in the order a deploy reaches them
PROGRESS = (
    ("claimed", "claimed by the watcher"),
    ("built", "built"),
    ("tested", "tests passed"),
    ("expanded", "expand migrations applied"),
    ("deploy_started", "rolling out"),
    ("rolled", "every node switched"),
    ("contracted", "contract migrations applied"),
)


class NotLive(OrchestratorError):
    """The deploy that contains the revision ended without making it live (exit 1)."""

    def __init__(self, message: str, record: DeployRecord):
        super().__init__(message)
        self.record = record


class WaitTimedOut(OrchestratorError):
    """No answer within the timeout; the deploy, if any, goes on (exit 4)."""

    exit_code = 4


@dataclass(frozen=True)
class Request:
    revision: str  # the full id
    flag: Path  # where the flag was written
    written: float  # when


def request(config: Config, rev: str) -> Request:
    """Check ``rev`` is on the watcher's branch and write the flag; InputError (exit 2) if it is not."""
    revision = vcs.resolve(config.repository, rev=rev)
    head = vcs.resolve(config.repository, branch=config.branch)
    if not vcs.contains(config.repository, head, revision):
        raise InputError(
            f"revision {rev} is not on branch {config.branch!r} of {config.repository} ([source] branch "
            f"in {config.path}): the watcher deploys only that branch; push it there first"
        )
    written = time.time()
    flag = flag_lib.make("manual", str(config.repository), config.branch, revision)
    try:
        path = flag_lib.write(str(config.spool), flag)
    except FileNotFoundError:
        raise InputError(
            f"the spool {config.spool} ([spool] directory in {config.path}) does not exist: "
            "start 'orchestrator watch' once, which makes it"
        ) from None
    return Request(revision, Path(path), written)


def follow(
    config: Config, asked: Request, *, timeout: float, say: Callable[[str], None], poll: float = 0.5
) -> DeployRecord:
    """Wait for the deploy that contains ``asked.revision``; return it if it went live.

    Raises NotLive (it failed, was rejected or refused: the record's message says why) or
    WaitTimedOut. An interrupted deploy is not an answer: the watcher recovers and deploys again.
    """
    deadline = time.monotonic() + timeout
    told: dict[int, set[str]] = {}
    history = History(config.state_dir, writable=False)
    try:
        while True:
            for record in _candidates(history, config, asked):
                _tell_progress(record, told.setdefault(record.id, set()), say)
                if record.outcome in LIVE:
                    return record
                if record.outcome in NOT_LIVE:
                    raise NotLive(_why_not(record), record)
            if time.monotonic() >= deadline:
                raise WaitTimedOut(_timed_out(config, asked, timeout, told))
            time.sleep(poll)
    finally:
        history.close()


def document(config: Config, record: DeployRecord) -> dict:
    """The deploy as `orchestrator history --json` prints it, with its release's standing in the ledger."""
    history = History(config.state_dir, writable=False)
    try:
        return history.documents([record])[0]
    finally:
        history.close()


def _candidates(history: History, config: Config, asked: Request) -> list[DeployRecord]:
    """Deploys of a revision that contains the one asked for, still running when the flag was
    written or begun since, oldest first (an earlier one that ended before cannot answer)."""
    found = []
    for record in reversed(history.list(50)):
        finished = record.times.get("finished")
        if finished is not None and finished < asked.written:
            continue
        if record.revision is None:  # not exported yet (or a rollback): we do not know what it deploys
            continue
        if record.revision == asked.revision or vcs.contains(config.repository, record.revision, asked.revision):
            found.append(record)
    return found


def _tell_progress(record: DeployRecord, told: set[str], say: Callable[[str], None]) -> None:
    if not told:
        told.add("start")
        say(f"deploy #{record.id}: revision {(record.revision or '?')[:12]}")
    base = record.times.get("claimed") or 0
    for stage, words in PROGRESS:
        when = record.times.get(stage)
        if when and stage not in told:
            told.add(stage)
            extra = f" {record.release_id}" if stage == "deploy_started" and record.release_id else ""
            say(f"deploy #{record.id}: {words}{extra} (+{when - base:.1f}s)")
    if record.outcome == "interrupted" and "interrupted" not in told:
        told.add("interrupted")
        say(f"deploy #{record.id}: interrupted at {record.stage} (the watcher stopped); its recovery deploys again")
    if record.outcome != "running" and "end" not in told:
        told.add("end")
        for node in record.nodes:
            say(
                f"deploy #{record.id}: {node['node']}: {node['outcome']} ({node.get('old') or '-'} -> {node.get('new') or '-'})"
            )
        for verdict in record.verdicts:
            say(f"deploy #{record.id}: judged {verdict['node']}: {verdict['summary'] or verdict['verdict']}")


def _why_not(record: DeployRecord) -> str:
    return (
        f"deploy #{record.id} of {(record.revision or '?')[:12]} {record.outcome} at {record.stage or '-'}: "
        f"{record.message or 'no message'}"
    )


def _timed_out(config: Config, asked: Request, timeout: float, told: dict[int, set[str]]) -> str:
    if told:
        return (
            f"no outcome in {timeout:g}s: deploy #{max(told)} is still running; it goes on "
            "('orchestrator status', 'orchestrator history')"
        )
    if asked.flag.exists():
        holder = DeployLock(config.state_dir).held_by()
        why = (
            f"it waits for the deploy in progress ({holder})"
            if holder
            else "nothing is deploying: is 'orchestrator watch' running for this spool?"
        )
        return (
            f"no deploy in {timeout:g}s: the flag {asked.flag.name} is still in {asked.flag.parent}, unclaimed; {why}"
        )
    return (
        f"no outcome in {timeout:g}s: the flag was claimed and its deploy has not exported a revision yet; "
        "it goes on ('orchestrator status', 'orchestrator history')"
    )
