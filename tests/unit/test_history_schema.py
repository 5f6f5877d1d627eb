"""A history written by an older orchestrator is brought up to date in place, its rows kept."""

from __future__ import annotations

import json
import sqlite3

from orchestrator.records import schema as history_lib
from orchestrator.records.history import History


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
        assert history.get(1).nodes == [
            dict(node="node1", old="a", new="b", outcome="done", phases={}, slot=None, spans={})
        ]
        assert history.get(deploy_id).nodes[0]["slot"] == "green"
        assert history.db.execute("PRAGMA user_version").fetchone()[0] == history_lib.SCHEMA_VERSION
    finally:
        history.close()


def test_a_schema_4_history_gains_the_migration_stages_and_the_contracts(tmp_path):
    # Given a history as schema 4 left it, with a release in its ledger
    db = sqlite3.connect(tmp_path / "history.sqlite")
    db.executescript(
        history_lib.SCHEMA
        + history_lib.LEDGER
        + history_lib.VERDICTS
        + history_lib.SLOT_COLUMN
        + "PRAGMA user_version = 4;"
    )
    db.execute("INSERT INTO releases (release_id, status, changed) VALUES ('1-a', 'deployed', 1)")
    db.commit()
    db.close()

    # When this orchestrator opens it
    history = History(tmp_path)
    try:
        # Then the old release reads with no migrations known, and the new fields take writes
        assert history.release("1-a").migrations is None
        deploy_id = history.start("manual")
        history.mark(deploy_id, "expand_started")
        history.set_schema("1-a", files=["001-a.expand.sql"], expand=1)
        history.record_contracts(deploy_id, "1-a", ["002-b.contract.sql"])
        assert history.get(deploy_id).times["expand_started"] is not None
        assert (history.release("1-a").schema_expand, history.release("1-a").migrations) == (1, ["001-a.expand.sql"])
        assert [c.migration for c in history.contracts()] == ["002-b.contract.sql"]
    finally:
        history.close()


def test_a_deploy_that_died_is_placed_at_the_stage_it_was_in(tmp_path):
    history = History(tmp_path)
    try:
        deploy_id = history.start("hg")
        assert history.stage_reached(deploy_id) == "export"
        for stage, where in (
            ("built", "test"),
            ("tested", "lock"),
            ("expand_started", "expand"),
            ("expanded", "deploy"),
            ("deploy_started", "deploy"),
            ("rolled", "deploy"),
            ("contract_started", "contract"),
            ("contracted", "finish"),
        ):
            history.mark(deploy_id, stage)
            assert history.stage_reached(deploy_id) == where, stage
    finally:
        history.close()


def test_a_deploy_record_carries_its_webhook_deliveries_by_field(tmp_path):
    # Given a deploy with one delivery recorded
    from orchestrator.notify import Delivery

    history = History(tmp_path)
    deploy_id = history.start("manual")
    history.record_delivery(
        Delivery(deploy_id, "deploy_finished", "https://hooks.example/…", "failed", 3, 500, "HTTP 500", 10.0, 12.5)
    )
    # When the record is read, Then the delivery comes with its fields named (not the row's ids)
    [delivery] = history.get(deploy_id).deliveries
    history.close()
    assert delivery == {
        "event": "deploy_finished",
        "url": "https://hooks.example/…",
        "outcome": "failed",
        "attempts": 3,
        "status": 500,
        "error": "HTTP 500",
        "queued": 10.0,
        "finished": 12.5,
    }


def test_a_schema_6_history_gains_node_spans_strategies_actions_and_counted_verdicts(tmp_path):
    # Given a history as schema 6 left it, with a judged deploy
    db = sqlite3.connect(tmp_path / "history.sqlite")
    db.executescript(
        history_lib.SCHEMA
        + history_lib.LEDGER
        + history_lib.VERDICTS
        + history_lib.SLOT_COLUMN
        + history_lib.MIGRATIONS
        + history_lib.DELIVERIES
        + "PRAGMA user_version = 6;"
    )
    db.execute("INSERT INTO deploys (id, trigger, outcome) VALUES (1, 'hg', 'deployed')")
    report = {
        "verdict": "pass",
        "metrics": [{"name": "errors", "verdict": "pass"}, {"name": "tail", "verdict": "marginal"}],
    }
    db.execute("INSERT INTO verdicts VALUES (1, 'node1', '1-a', 'pass', 5, 'pass', ?)", (json.dumps(report),))
    db.commit()
    db.close()

    # When this orchestrator opens it
    history = History(tmp_path)
    try:
        # Then the verdict's metrics are summed up for /metrics, and the new fields take writes
        assert history.db.execute("SELECT results FROM verdicts").fetchone()[0] == "errors=pass tail=marginal"
        assert history.get(1).strategy is None and history.get(1).nodes == []
        history.record_action("pause", "alice", "refused", "nothing to pause")
        assert [a.who for a in history.actions()] == ["alice"]
    finally:
        history.close()
