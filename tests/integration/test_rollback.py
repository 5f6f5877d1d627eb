"""Rollback and the failure policy, on real HAProxy and Tomcat under load."""

from __future__ import annotations

import shutil

from orchestrator.records.history import History
from orchestrator.rollout import roll as rollout
from tests.conftest import build_war, run_cli
from tests.integration.conftest import baking_inventory


def release_id(war, cluster) -> str:
    return rollout.prepare(war, inventory=cluster.inventory).war.release_id


def deploy(cluster, war):
    result = run_cli("deploy", "--war", war, "-i", cluster.inventory, "--state-dir", cluster.state_dir)
    assert result.returncode == 0, result.stdout + result.stderr


def test_rollback_after_a_good_deploy_serves_the_previous_release_and_resends_a_missing_war(cluster, wars):
    # Given v1, then v2, deployed through the orchestrator (so the ledger knows both), and node2
    # no longer holding v1's WAR
    deploy(cluster, wars["v1"])
    deploy(cluster, wars["v2"])
    v1 = release_id(wars["v1"], cluster)
    shutil.rmtree(cluster.box.node_dir("node2") / "releases" / v1, ignore_errors=True)
    assert not (cluster.box.node_dir("node2") / "releases" / v1).exists()

    # When the operator rolls back (to the last known-good before v2: v1), under load
    with cluster.load() as load:
        result = run_cli("rollback", "-i", cluster.inventory, "--state-dir", cluster.state_dir)
    report = load.report
    print(f"\nload during the rollback: {report.line()}")

    # Then v1 is served everywhere, node2 got its WAR again, nothing failed, and the ledger says so
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"the fleet is on {v1}" in result.stdout, result.stdout
    for name in cluster.nodes:
        assert cluster.node_health(name)["version"] == "1"
        assert cluster.current_release(name) == v1
    assert (cluster.box.node_dir("node2") / "releases" / v1 / "app.war").is_file()
    assert report.failed == 0, report.line()
    ledger = run_cli("releases", "--state-dir", cluster.state_dir).stdout
    assert f"{release_id(wars['v2'], cluster)}" in ledger and "rolled_back" in ledger


def test_rollback_to_an_unknown_release_touches_nothing(cluster, wars):
    before = {n: cluster.tomcat_pid(n) for n in cluster.nodes}
    result = run_cli("rollback", "--to", "9-000000000000", "-i", cluster.inventory, "--state-dir", cluster.state_dir)
    assert result.returncode == 2
    assert "unknown release '9-000000000000'; known releases:" in result.stderr
    assert {n: cluster.tomcat_pid(n) for n in cluster.nodes} == before


def test_rollback_with_no_earlier_release(tmp_path, cluster):
    result = run_cli("rollback", "-i", cluster.inventory, "--state-dir", tmp_path / "fresh-state")
    assert result.returncode == 2
    assert "no earlier release to roll back to" in result.stderr


# At full load a canary's first weight has requests enough for a verdict: one step, not the
# ramp (weights 10, 50, 100) that light traffic needs (the light-load tests of test_immune_system).
ONE_STEP = "webapp_canary_weight_steps: []\n"


def test_a_failure_on_node2_rolls_node1_back_without_judging_the_old_release_again(three_nodes, tmp_path):
    # Given three nodes on v1, and v7, which node2 cannot run (its health check fails there)
    cluster = three_nodes
    v1, v7 = build_war(tmp_path / "app-1.war", "1"), build_war(tmp_path / "app-7.war", "7")
    cluster.given_release(v1)
    node3_pid = cluster.tomcat_pid("node3")

    # When v7 is deployed with a bake, under load: node1 passes its bake, node2 fails
    with cluster.load() as load:
        result = run_cli(
            "deploy", "--war", v7, "-i", baking_inventory(cluster, tmp_path, ONE_STEP), "--state-dir", cluster.state_dir
        )
    report = load.report
    print(f"\nload during the failed deploy and the rollback: {report.line()}")

    # Then node1 is rolled back to v1 and v1 is not judged on the way (one verdict: v7 on node1)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "node2" in result.stderr and "node1 rolled back to" in result.stderr, result.stderr
    assert result.stdout.count(" judged against ") == 1, result.stdout
    assert "node1 judged against the old release on node2, node3" in result.stdout, result.stdout
    for name in cluster.nodes:
        assert cluster.node_health(name)["version"] == "1", name
    cluster.assert_all_in_rotation()
    assert cluster.tomcat_pid("node3") == node3_pid
    assert report.failed == 0, report.line()
    history = History(cluster.state_dir)
    assert history.release(release_id(v7, cluster)).status == "rejected"
    history.close()


def test_a_failure_that_leaves_the_fleet_on_two_releases_says_which_node_runs_what(three_nodes, tmp_path):
    # Given three nodes on v1, whose WAR is no longer in the orchestrator's store
    cluster = three_nodes
    v1, v7 = build_war(tmp_path / "app-1.war", "1"), build_war(tmp_path / "app-7.war", "7")
    cluster.given_release(v1)
    (cluster.state_dir / "releases" / f"{release_id(v1, cluster)}.war").unlink()

    # When v7 fails on node2 after node1 switched: node1 cannot be rolled back
    result = run_cli("deploy", "--war", v7, "-i", cluster.inventory, "--state-dir", cluster.state_dir)

    # Then the message, the exit code and `status` all say the fleet is mixed, and which node runs what
    assert result.returncode == 5, result.stdout + result.stderr
    v1_id, v7_id = release_id(v1, cluster), release_id(v7, cluster)
    assert "THE FLEET IS MIXED" in result.stderr, result.stderr
    assert f"node1 on {v7_id}" in result.stderr and f"node2, node3 on {v1_id}" in result.stderr, result.stderr
    status = run_cli("status", "-i", cluster.inventory, "--config", cluster.box.directory / "orchestrator.toml")
    assert "fleet: MIXED" in status.stdout and f"node1 on {v7_id}" in status.stdout, status.stdout + status.stderr
    cluster.assert_all_in_rotation()

    # And a deploy of v1 puts it right
    deploy(cluster, v1)
    assert (
        "fleet: every node on"
        in run_cli("status", "-i", cluster.inventory, "--config", cluster.box.directory / "orchestrator.toml").stdout
    )
