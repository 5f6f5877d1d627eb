"""The judge's verdict on each node of each deploy, with the bake module's whole report."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass


@dataclass
class Verdict:
    deploy_id: int
    node: str
    release_id: str
    verdict: str
    seconds: float | None
    summary: str | None
    report: dict

    def as_dict(self) -> dict:
        return dict(self.__dict__)


class VerdictLog:
    db: sqlite3.Connection

    def record_verdicts(self, deploy_id: int, release_id: str, verdicts: dict[str, dict]) -> None:
        """Keep each node's last report from the bake (node -> haproxy_bake's report)."""
        for node, report in verdicts.items():
            results = " ".join(
                f"{m.get('name')}={m.get('verdict')}"
                for m in report.get("metrics") or []
                if isinstance(m, dict) and m.get("against", "old") == "old"
            )
            self.db.execute(
                "INSERT OR REPLACE INTO verdicts"
                " (deploy_id, node, release_id, verdict, seconds, summary, report, results)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    deploy_id,
                    node,
                    release_id,
                    str(report.get("verdict", "")),
                    report.get("seconds"),
                    report.get("summary"),
                    json.dumps(report, sort_keys=True),
                    results,
                ),
            )

    def verdicts(self, *, release_id: str | None = None, deploy_id: int | None = None) -> list[Verdict]:
        """Verdicts of a release (every deploy of it) or of one deploy, oldest first."""
        return select(self.db, release_id=release_id, deploy_id=deploy_id)


def select(db: sqlite3.Connection, *, release_id: str | None = None, deploy_id: int | None = None) -> list[Verdict]:
    """Verdicts of a release (every deploy of it) or of one deploy, oldest first."""
    where, args = ("release_id = ?", (release_id,)) if release_id is not None else ("deploy_id = ?", (deploy_id,))
    rows = db.execute(f"SELECT * FROM verdicts WHERE {where} ORDER BY deploy_id, node", args).fetchall()
    return [
        Verdict(
            r["deploy_id"],
            r["node"],
            r["release_id"],
            r["verdict"],
            r["seconds"],
            r["summary"],
            json.loads(r["report"]),
        )
        for r in rows
    ]
