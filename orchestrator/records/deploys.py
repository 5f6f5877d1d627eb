"""The deploy log: every deploy, when it reached each stage, how it ended, and each node's result."""

from __future__ import annotations

import builtins
import json
import os
import sqlite3
import time
from dataclasses import dataclass, field

from ansible_collections.orchestrator.fleet.plugins.module_utils.processes import identity, still_running
from orchestrator.records import deliveries, verdicts

# When each stage was reached. With [migrate]: expand runs from expand_started to expanded (under
# the lock, before any node is touched), the roll ends at rolled (every node done and baked),
# contract runs from contract_started to contracted.
STAGES = (
    "pushed",
    "claimed",
    "built",
    "tested",
    "expand_started",
    "expanded",
    "deploy_started",
    "rolled",
    "contract_started",
    "contracted",
    "finished",
)


@dataclass
class DeployRecord:
    id: int
    trigger: str
    revision: str | None
    branch: str | None
    release_id: str | None
    sha256: str | None
    outcome: str
    stage: str | None
    message: str | None
    output_tail: str | None
    flags: int
    artifacts: str | None
    times: dict[str, float | None]
    nodes: list[dict]
    verdicts: list[dict]
    deliveries: list[dict] = field(default_factory=list)  # its webhook notifications' outcomes
    strategy: str | None = None  # rolling or bluegreen (None: recorded before the history kept it)

    def as_dict(self) -> dict:
        return dict(self.__dict__)


class DeployLog:
    db: sqlite3.Connection

    def start(
        self,
        trigger: str,
        *,
        revision: str | None = None,
        branch: str | None = None,
        pushed: float | None = None,
        claimed: float | None = None,
        flags: int = 0,
    ) -> int:
        cur = self.db.execute(
            "INSERT INTO deploys (trigger, revision, branch, pushed, claimed, outcome, flags, owner)"
            " VALUES (?, ?, ?, ?, ?, 'running', ?, ?)",
            (trigger, revision, branch, pushed, claimed, flags, identity(os.getpid())),
        )
        assert cur.lastrowid is not None  # an INSERT's row
        return cur.lastrowid

    def update(self, deploy_id: int, **fields) -> None:
        allowed = {
            "revision",
            "branch",
            "release_id",
            "sha256",
            "outcome",
            "stage",
            "message",
            "output_tail",
            "artifacts",
            "strategy",
            *STAGES,
        }
        unknown = set(fields) - allowed
        if unknown:
            raise ValueError(f"unknown history fields {unknown}")
        if not fields:
            return
        cols = ", ".join(f"{k} = ?" for k in fields)
        self.db.execute(f"UPDATE deploys SET {cols} WHERE id = ?", (*fields.values(), deploy_id))

    def stage_reached(self, deploy_id: int) -> str:
        """Where a deploy that ended without saying so (its process died) was: from its stage times."""
        record = self.get(deploy_id)
        reached = [s for s in STAGES if record is not None and record.times.get(s)]
        last = reached[-1] if reached else "claimed"
        return {
            "pushed": "export",
            "claimed": "export",
            "built": "test",
            "tested": "lock",
            "expand_started": "expand",
            "expanded": "deploy",
            "deploy_started": "deploy",
            "rolled": "deploy",
            "contract_started": "contract",
            "contracted": "finish",
            "finished": "finish",
        }[last]

    def mark(self, deploy_id: int, stage: str) -> None:
        """Record that ``stage`` was reached now."""
        if stage not in STAGES:
            raise ValueError(stage)
        self.update(deploy_id, **{stage: time.time()})

    def record_nodes(self, deploy_id: int, nodes: builtins.list[dict]) -> None:
        """Each node's result: releases, outcome (done, failed, untouched; while the roll runs, the
        phase it is in), phases (phase -> seconds), spans (phase -> [start, end]), slot."""
        self.db.execute("BEGIN")
        try:
            for n in nodes:
                self.db.execute(
                    "INSERT OR REPLACE INTO node_results"
                    " (deploy_id, node, old_release, new_release, outcome, phases, slot, spans)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        deploy_id,
                        n["node"],
                        n.get("old"),
                        n.get("new"),
                        n["outcome"],
                        json.dumps(n.get("phases") or {}),
                        n.get("slot") or None,
                        json.dumps(n.get("spans") or {}),
                    ),
                )
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def last_deployed(self) -> DeployRecord | None:
        """The newest deploy (or rollback) that went live on the whole fleet: what the fleet runs."""
        row = self.db.execute("SELECT * FROM deploys WHERE outcome = 'deployed' ORDER BY id DESC LIMIT 1").fetchone()
        return self._record(row) if row else None

    def last_attempt(self, revision: str, *, besides: int) -> DeployRecord | None:
        """The newest deploy of ``revision`` (other than ``besides``) that ran to an outcome."""
        row = self.db.execute(
            "SELECT * FROM deploys WHERE revision = ? AND id != ? AND outcome NOT IN "
            "('running', 'interrupted', 'unchanged') ORDER BY id DESC LIMIT 1",
            (revision, besides),
        ).fetchone()
        return self._record(row) if row else None

    def running(self) -> builtins.list[int]:
        return [r[0] for r in self.db.execute("SELECT id FROM deploys WHERE outcome = 'running' ORDER BY id")]

    def cut_short(self) -> builtins.list[int]:
        """Deploys recorded as running whose process is gone (killed, or the machine restarted):
        nobody will record how they ended. (One from before owners were recorded counts too.)"""
        rows = self.db.execute("SELECT id, owner FROM deploys WHERE outcome = 'running' ORDER BY id")
        return [r[0] for r in rows if not still_running(r[1] or "")]

    def record_interrupted(self, deploy_id: int, why: str) -> str:
        """Close a deploy that was cut short: outcome interrupted, at the stage it had reached; returns that stage."""
        stage = self.stage_reached(deploy_id)
        self.update(deploy_id, outcome="interrupted", stage=stage, message=why)
        self.mark(deploy_id, "finished")
        return stage

    def list(self, limit: int = 20) -> builtins.list[DeployRecord]:
        rows = self.db.execute("SELECT * FROM deploys ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
        return [self._record(r) for r in rows]

    def count(self, *, outcome: str | None = None) -> int:
        if outcome is None:
            return int(self.db.execute("SELECT count(*) FROM deploys").fetchone()[0])
        return int(self.db.execute("SELECT count(*) FROM deploys WHERE outcome = ?", (outcome,)).fetchone()[0])

    def get(self, deploy_id: int) -> DeployRecord | None:
        row = self.db.execute("SELECT * FROM deploys WHERE id = ?", (deploy_id,)).fetchone()
        return self._record(row) if row else None

    def _record(self, row: sqlite3.Row) -> DeployRecord:
        nodes = [
            dict(
                node=n["node"],
                old=n["old_release"],
                new=n["new_release"],
                outcome=n["outcome"],
                phases=json.loads(n["phases"] or "{}"),
                slot=n["slot"],
                spans=json.loads(n["spans"] or "{}"),
            )
            for n in self.db.execute("SELECT * FROM node_results WHERE deploy_id = ? ORDER BY node", (row["id"],))
        ]
        return DeployRecord(
            id=row["id"],
            trigger=row["trigger"],
            revision=row["revision"],
            branch=row["branch"],
            release_id=row["release_id"],
            sha256=row["sha256"],
            outcome=row["outcome"],
            stage=row["stage"],
            message=row["message"],
            output_tail=row["output_tail"],
            flags=row["flags"],
            artifacts=row["artifacts"],
            strategy=row["strategy"],
            times={s: row[s] for s in STAGES},
            nodes=nodes,
            verdicts=[
                dict(node=v.node, release_id=v.release_id, verdict=v.verdict, seconds=v.seconds, summary=v.summary)
                for v in verdicts.select(self.db, deploy_id=row["id"])
            ],
            deliveries=deliveries.of_deploy(self.db, row["id"]),
        )
