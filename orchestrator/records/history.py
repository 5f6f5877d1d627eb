"""The history in SQLite (state directory/history.sqlite): one connection, and the tables each kept by
a module of their own - the deploy log (deploys.py), the release ledger (ledger.py), the judge's
verdicts (verdicts.py), webhook deliveries (deliveries.py) and operators' actions (actions.py).
schema.py holds the SQL; storage.py what a state directory must allow."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from orchestrator.errors import InputError
from orchestrator.records.actions import ActionLog
from orchestrator.records.deliveries import DeliveryLog
from orchestrator.records.deploys import DeployLog, DeployRecord
from orchestrator.records.ledger import ReleaseLedger
from orchestrator.records.schema import SCHEMA_VERSION, STEPS
from orchestrator.records.storage import require_writable, unusable
from orchestrator.records.verdicts import VerdictLog


class History(DeployLog, ReleaseLedger, VerdictLog, DeliveryLog, ActionLog):
    def __init__(self, state_dir: Path, *, writable: bool = True):
        """Open (and make, or bring up to date) the history in ``state_dir``.

        ``writable``: the caller will record deploys, so the directory must take writes; checked
        here, before anything else is done, so that a deploy never starts and then cannot say
        how it ended. Either way a directory that cannot be used is an InputError naming it.
        """
        state_dir = Path(state_dir)
        self.path = state_dir / "history.sqlite"
        try:
            if writable:
                require_writable(state_dir)
            self.db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            self.db.row_factory = sqlite3.Row
            self.db.execute("PRAGMA journal_mode=WAL")
            version = self.db.execute("PRAGMA user_version").fetchone()[0]
            # each version adds to the one before; one transaction: a crash leaves no half-made schema
            missing = "".join(STEPS[version:]) if version < SCHEMA_VERSION else None
            if missing is not None:
                self.db.executescript(f"BEGIN; {missing} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;")
        except (OSError, sqlite3.Error) as exc:
            raise InputError(unusable(state_dir, exc, writable=writable)) from None
        if missing is None and version != SCHEMA_VERSION:
            raise InputError(
                f"{self.path} has schema {version}; this orchestrator reads {SCHEMA_VERSION}: "
                "it was written by a newer orchestrator; upgrade this one"
            )

    def documents(self, records: list[DeployRecord]) -> list[dict]:
        """Deploys as `history --json` prints them and a CI job reads them: every field of each,
        and the standing of the release it deployed in the ledger (release_status; None for none)."""
        standings = self.standings()
        return [{**record.as_dict(), "release_status": standings.get(record.release_id or "")} for record in records]

    def close(self) -> None:
        self.db.close()
