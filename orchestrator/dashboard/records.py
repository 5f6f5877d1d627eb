"""The history as the pages read it: one read connection per server thread, light queries for
long lists (a page of 10,000 deploys reads one page of rows, not every report).

SQLite in WAL mode: these reads never wait for the deploy that writes, nor hold it up. The
dashboard writes one thing, the record of an action asked of it.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from orchestrator.records.deploys import STAGES, DeployRecord
from orchestrator.records.history import History
from orchestrator.records.ledger import Release

PAGE_SIZE = 50


@dataclass(frozen=True)
class DeployRow:
    """One line of the deploys page."""

    id: int
    trigger: str
    revision: str | None
    branch: str | None
    release_id: str | None
    outcome: str
    stage: str | None
    strategy: str | None
    message: str | None
    started: float | None  # the push, else the claim, else the roll's start
    finished: float | None
    stage_seconds: dict[str, float]  # build, test, roll... -> seconds
    nodes: int

    @property
    def seconds(self) -> float | None:
        end = self.finished or (time.time() if self.outcome == "running" else None)
        return end - self.started if end is not None and self.started is not None else None


class Records:
    """Read access to the history in ``state_dir`` for the dashboard's server threads."""

    def __init__(self, state_dir: Path):
        self.state_dir = Path(state_dir)
        self._local = threading.local()

    def history(self) -> History:
        """This thread's connection (an InputError naming the directory and the fix if it cannot be read)."""
        history = getattr(self._local, "history", None)
        if history is None:
            history = History(self.state_dir, writable=False)
            self._local.history = history
        return history

    def deploy_rows(
        self, *, outcome: str | None = None, before: int | None = None, limit: int = PAGE_SIZE
    ) -> list[DeployRow]:
        where: list[str] = ["1"]
        args: list[object] = []
        if outcome:
            where.append("outcome = ?")
            args.append(outcome)
        if before is not None:
            where.append("id < ?")
            args.append(before)
        rows = (
            self.history()
            .db.execute(
                f"""SELECT d.*, (SELECT count(*) FROM node_results n WHERE n.deploy_id = d.id) AS node_count
                    FROM deploys d WHERE {" AND ".join(where)} ORDER BY id DESC LIMIT ?""",
                (*args, limit),
            )
            .fetchall()
        )
        return [_row(r) for r in rows]

    def outcomes(self) -> dict[str, int]:
        """Deploys by outcome, for the page's filter."""
        return {r[0]: r[1] for r in self.history().db.execute("SELECT outcome, count(*) FROM deploys GROUP BY outcome")}

    def releases(self, *, status: str | None = None, offset: int = 0) -> list[Release]:
        """The ledger, newest first, a page at a time."""
        return self.history().releases(status=status, offset=offset, limit=PAGE_SIZE)

    def deploy(self, deploy_id: int) -> DeployRecord | None:
        return self.history().get(deploy_id)

    def reports(self, deploy_id: int) -> list:
        """Each judged node's full report (history.Verdict), for the evidence charts."""
        return self.history().verdicts(deploy_id=deploy_id)

    def running(self) -> DeployRecord | None:
        """The newest deploy recorded as running (the caller checks the lock: one that died reads running too)."""
        ids = self.history().running()
        return self.history().get(ids[-1]) if ids else None

    def last(self) -> DeployRecord | None:
        last = self.history().list(1)
        return last[0] if last else None


def _row(r) -> DeployRow:
    times = {s: r[s] for s in STAGES}
    started = times["pushed"] or times["claimed"] or times["expand_started"] or times["deploy_started"]
    return DeployRow(
        id=r["id"],
        trigger=r["trigger"],
        revision=r["revision"],
        branch=r["branch"],
        release_id=r["release_id"],
        outcome=r["outcome"],
        stage=r["stage"],
        strategy=r["strategy"],
        message=r["message"],
        started=started,
        finished=times["finished"],
        stage_seconds=stage_seconds(times),
        nodes=r["node_count"],
    )


# A deploy's stages, each from the time it began to the time it ended (history.STAGES).
STAGE_SPANS = (
    ("queued", "pushed", "claimed"),
    ("build", "claimed", "built"),
    ("test", "built", "tested"),
    ("expand", "expand_started", "expanded"),
    ("roll", "deploy_started", "rolled"),
    ("contract", "contract_started", "contracted"),
)


def stage_spans(times: dict[str, float | None], *, now: float | None = None) -> list[tuple[str, float, float]]:
    """(stage, start, end) for each stage that began; a stage that failed (a build, a roll) ended
    when the deploy did, one still running ends ``now`` (None: not drawn)."""
    spans = []
    for i, (name, begin, end) in enumerate(STAGE_SPANS):
        start = times.get(begin)
        if start is None:
            continue
        later = [times[b] for _, b, _ in STAGE_SPANS[i + 1 :] if times.get(b) is not None]
        stop = times.get(end) or (later[0] if later else None) or times.get("finished") or now
        if stop is None:
            continue
        spans.append((name, start, max(start, stop)))
    return spans


def stage_seconds(times: dict[str, float | None]) -> dict[str, float]:
    return {name: end - start for name, start, end in stage_spans(times)}


def report_json(report: dict) -> str:
    """A report for a <script type="application/json"> block: '</' can not end the block early."""
    return json.dumps(report, sort_keys=True).replace("</", "<\\/")
