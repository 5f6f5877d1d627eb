"""A history written by an older orchestrator is brought up to date in place, its rows kept."""

from __future__ import annotations

import sqlite3

from orchestrator import history as history_lib
from orchestrator.history import History


def test_a_schema_3_history_gains_the_slot_column_and_keeps_its_deploys(tmp_path):
    # Given a history as schema 3 left it, with one deploy and its node result
    db = sqlite3.connect(tmp_path / "history.sqlite")
    db.executescript(history_lib.SCHEMA + history_lib.LEDGER + history_lib.VERDICTS + "PRAGMA user_version = 3;")
    db.execute("INSERT INTO deploys (id, trigger, outcome) VALUES (1, 'manual', 'deployed')")
    db.execute("INSERT INTO node_results VALUES (1, 'node1', 'a', 'b', 'done', '{}')")
    db.commit()
    db.close()

    # When this orchestrator opens it and records a blue/green deploy
    history = History(tmp_path)
    try:
        deploy_id = history.start("manual")
        history.record_nodes(deploy_id, [{"node": "node1", "old": "b", "new": "c", "outcome": "done", "slot": "green"}])

        # Then the old deploy is still there (no slot), and the new one says which slot took the release
        assert history.get(1).nodes == [dict(node="node1", old="a", new="b", outcome="done", phases={}, slot=None)]
        assert history.get(deploy_id).nodes[0]["slot"] == "green"
        assert history.db.execute("PRAGMA user_version").fetchone()[0] == history_lib.SCHEMA_VERSION
    finally:
        history.close()
