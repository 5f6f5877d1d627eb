"""What operators asked for from the dashboard, and the answers."""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Action:
    """What an operator asked for from the dashboard, and the answer."""

    id: int
    at: float
    verb: str
    who: str
    outcome: str
    message: str | None


class ActionLog:
    db: sqlite3.Connection

    def record_action(self, verb: str, who: str, outcome: str, message: str | None) -> None:
        self.db.execute(
            "INSERT INTO actions (at, verb, who, outcome, message) VALUES (?, ?, ?, ?, ?)",
            (time.time(), verb, who, outcome, message),
        )

    def actions(self, limit: int = 20) -> list[Action]:
        rows = self.db.execute("SELECT * FROM actions ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
        return [Action(**dict(r)) for r in rows]
