"""The deploy's steps one at a time, on a real history, where a branch needs no fleet: a file that
is no WAR, a deploy cut short and not settled, the contract migrations failing, and the listener
keeping each node's phase for another process to read."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from orchestrator.config import Stage as Command
from orchestrator.errors import InputError
from orchestrator.pipeline.deploy import Deploy, DeployListener, DeployRequest
from orchestrator.pipeline.outcome import ContractFailed, Stage, StageFailed
from orchestrator.pipeline.report import Reporter
from orchestrator.records.history import History
from orchestrator.rollout.progress import NodeProgress


@pytest.fixture
def history(tmp_path):
    h = History(tmp_path / "state")
    yield h
    h.close()


def a_deploy(tmp_path: Path, history: History, said: list[str], **options) -> Deploy:
    request = DeployRequest(
        tmp_path / "app.war",
        inventory=tmp_path / "inventory",
        state_dir=tmp_path / "state",
        deploy_id=history.start("manual"),
        **options,
    )
    return Deploy(request, history, Reporter(said.append), Stage())


def test_a_file_that_is_no_war_stops_at_the_artifact_stage(tmp_path, history):
    # Given a "WAR" that is a text file
    said: list[str] = []
    deploy = a_deploy(tmp_path, history, said)
    (tmp_path / "app.war").write_text("not a zip")
    # When its first step runs, then it is rejected at the artifact stage, and nothing is stored
    with pytest.raises(StageFailed) as failed:
        deploy.store_war()
    assert failed.value.stage == "artifact" and deploy.stage.name == "artifact"
    assert not (tmp_path / "state" / "releases").exists()


def test_a_deploy_cut_short_refuses_the_next_one_unless_it_recovers(tmp_path, history):
    # Given a deploy recorded as running whose process is gone
    cut = history.start("hg")
    history.db.execute("UPDATE deploys SET owner = '2147483647:1' WHERE id = ?", (cut,))
    said: list[str] = []
    # When the next deploy (not --recover, not a rollback) settles what came before it
    with pytest.raises(InputError) as refused:
        a_deploy(tmp_path, history, said).settle_earlier_deploys()
    # Then it is refused, naming that deploy and the command that settles it
    assert f"deploy #{cut} was cut short" in str(refused.value) and "orchestrator recover" in str(refused.value)
    assert history.get(cut).outcome == "running"  # left for recover to record


def test_a_failed_contract_phase_is_returned_to_raise_once_all_is_recorded(tmp_path, history):
    # Given a release whose contract command fails (it runs for real, in the release's tree)
    failing = Command("echo dropping; exit 3", 30)
    migrations = SimpleNamespace(
        settings=SimpleNamespace(command=lambda phase: failing),
        schema=SimpleNamespace(directory=tmp_path, files=[], of=lambda phase: []),
        tree=tmp_path,
        command_env=lambda env, phase: env,
    )
    said: list[str] = []
    deploy = a_deploy(tmp_path, history, said, migrations=migrations)
    plan = SimpleNamespace(war=SimpleNamespace(release_id="2-abc"))
    # When the contract step runs, then its failure comes back (not raised), with the command's output
    failed = deploy.contract(plan, result="the roll's result")
    assert isinstance(failed, ContractFailed) and "2-abc is live on every node" in str(failed)
    assert "dropping" in failed.tail and failed.result == "the roll's result"
    assert deploy.stage.name == "contract" and history.get(deploy.id).times["contract_started"]


def test_the_listener_keeps_each_nodes_phase_in_the_history_as_it_goes(tmp_path, history):
    deploy_id = history.start("manual")
    heard: list[tuple[str, str]] = []
    listener = DeployListener(
        Reporter(lambda m: None, lambda n, p: heard.append((n.name, p))), history, deploy_id, "2-abc"
    )
    node = NodeProgress("node1")
    listener.phase(node, "drain")
    assert heard == [("node1", "drain")]
    # another process reading the history sees where node1 is
    other = History(tmp_path / "state", writable=False)
    try:
        (row,) = other.get(deploy_id).nodes
    finally:
        other.close()
    assert (row["node"], row["new"], row["outcome"]) == ("node1", "2-abc", "drain")
