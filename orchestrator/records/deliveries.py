"""Each webhook delivery's outcome (the URL without its path: it may hold a token)."""

from __future__ import annotations

import sqlite3


class DeliveryLog:
    db: sqlite3.Connection

    def record_delivery(self, delivery) -> None:
        """One webhook delivery's outcome (a notify.Delivery)."""
        self.db.execute(
            "INSERT INTO deliveries (deploy_id, event, url, outcome, attempts, status, error, queued, finished)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                delivery.deploy_id,
                delivery.event,
                delivery.url,
                delivery.outcome,
                delivery.attempts,
                delivery.status,
                delivery.error,
                delivery.queued,
                delivery.finished,
            ),
        )


def of_deploy(db: sqlite3.Connection, deploy_id: int) -> list[dict]:
    """The webhook deliveries about one deploy, oldest first."""
    return [
        {k: d[k] for k in d.keys() if k not in ("id", "deploy_id")}  # noqa: SIM118 - a Row iterates its values
        for d in db.execute("SELECT * FROM deliveries WHERE deploy_id = ? ORDER BY id", (deploy_id,))
    ]
