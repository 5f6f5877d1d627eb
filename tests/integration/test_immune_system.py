"""The immune system: builds that pass their health check but misbehave under real traffic are
rejected during their bake, on a real HAProxy and real Tomcats under wrk load."""

from __future__ import annotations

import shutil

from tests.conftest import run_cli

BAKE = "webapp_bake_seconds: 8\n"


def baking_inventory(cluster, tmp_path) -> str:
    """The cluster's inventory with an 8 s bake on every node (host_vars beat its group_vars)."""
    inv = tmp_path / "inventory"
    shutil.copytree(cluster.inventory, inv)
    (inv / "host_vars").mkdir(exist_ok=True)
    for name in cluster.nodes:
        (inv / "host_vars" / f"{name}.yml").write_text(BAKE)
    return str(inv)


def deploy_under_load(cluster, war, inventory):
    with cluster.load() as load:
        result = run_cli("deploy", "--war", war, "-i", inventory, "--state-dir", cluster.state_dir)
    report = load.report
    return result, report


def test_a_build_that_fails_a_fifth_of_requests_is_rejected_during_its_bake(cluster, wars, tmp_path):
    # Given two nodes on v1, and a build that answers 500 to every fifth request
    cluster.given_release(wars["v1"])
    node2_pid = cluster.tomcat_pid("node2")

    # When it is deployed with a bake, under load
    result, report = deploy_under_load(cluster, wars["errors"], baking_inventory(cluster, tmp_path))
    blast = report.statuses.get("500", 0)
    print(f"\nblast radius: {blast} of {report.requests} responses were the bad build's 500s; {report.line()}")

    # Then it is rejected by the 5xx rule, node1 is back on v1 in rotation, node2 never touched
    assert result.returncode == 1, result.stdout + result.stderr
    assert "node1" in result.stderr and "bake" in result.stderr and "5xx share" in result.stderr, result.stderr
    assert cluster.node_health("node1")["version"] == "1"
    assert cluster.tomcat_pid("node2") == node2_pid
    cluster.assert_all_in_rotation()
    assert cluster.haproxy_row("node1")["weight"] == "100"  # the canary weight is gone
    # the only failures the load saw were the bad build's own 500s, and few of them
    assert report.socket_errors == 0 and report.non2xx == blast
    assert 0 < blast < 0.01 * report.requests


def test_a_build_300_ms_slower_is_rejected_by_the_response_time_rule(cluster, wars, tmp_path):
    cluster.given_release(wars["v1"])

    result, report = deploy_under_load(cluster, wars["slow"], baking_inventory(cluster, tmp_path))
    print(f"\nduring the slow build's bake: {report.line()}")

    assert result.returncode == 1, result.stdout + result.stderr
    assert "response time" in result.stderr and "node1" in result.stderr, result.stderr
    assert cluster.node_health("node1")["version"] == "1"
    cluster.assert_all_in_rotation()
    assert report.failed == 0, report.line()


def test_a_good_build_passes_its_bake_and_the_roll_goes_on(cluster, wars, tmp_path):
    cluster.given_release(wars["v1"])

    result, report = deploy_under_load(cluster, wars["v2"], baking_inventory(cluster, tmp_path))

    assert result.returncode == 0, result.stdout + result.stderr
    for name in cluster.nodes:
        assert cluster.node_health(name)["version"] == "2"
        assert cluster.haproxy_row(name)["weight"] == "100"
    assert report.failed == 0, report.line()
