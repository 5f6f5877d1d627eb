"""The fleet: the dry run and the capacity guard, on three real nodes."""

from __future__ import annotations

import shutil

from bench.load import wait_until
from orchestrator import sandbox
from orchestrator.processes import terminate
from tests.conftest import run_cli


def snapshot(cluster):
    return {n: (cluster.tomcat_pid(n), cluster.current_release(n), cluster.haproxy_row(n)["status"][:2])
            for n in cluster.nodes}


def test_plan_for_three_nodes_and_serial_2_changes_nothing(three_nodes, wars):
    cluster = three_nodes
    cluster.given_release(wars["v1"])
    before = snapshot(cluster)

    result = run_cli("plan", "--war", wars["v2"], "-i", cluster.inventory, "--state-dir", cluster.state_dir,
                     "--serial", "2")

    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "3 app servers behind lb1; batch size 2" in out
    assert "step 1: out of rotation: node1, node2" in out and "in rotation: node3 (1 of 3)" in out
    assert "step 2: out of rotation: node3" in out and "in rotation: node1, node2 (2 of 3)" in out
    assert "sha256 " in out and "nothing was changed" in out
    assert snapshot(cluster) == before


def test_capacity_guard_refuses_when_a_node_is_already_down(three_nodes, wars, tmp_path):
    # Given three nodes on v1, and node3's Tomcat stopped by hand (HAProxy sees it DOWN)
    cluster = three_nodes
    cluster.given_release(wars["v1"])
    node3 = cluster.tomcat_pid("node3")
    terminate(node3)
    try:
        wait_until(lambda: cluster.haproxy_row("node3")["status"].startswith("DOWN"), timeout=30,
                   what="HAProxy to see node3 DOWN")
        inv = tmp_path / "inventory"
        shutil.copytree(cluster.inventory, inv)
        (inv / "group_vars" / "all.yml").write_text("deploy_min_healthy: 2\n")
        pids = {n: cluster.tomcat_pid(n) for n in ("node1", "node2")}

        # When a deploy needs 2 of 3 to stay UP
        result = run_cli("deploy", "--war", wars["v2"], "-i", inv, "--state-dir", cluster.state_dir)

        # Then it refuses with a clear message and drains nothing
        assert result.returncode == 1, result.stdout + result.stderr
        assert "capacity guard: refusing to take node1 out of rotation" in result.stderr, result.stderr
        assert "node3 is DOWN" in result.stderr and "deploy_min_healthy" in result.stderr
        assert "Traceback" not in result.stderr
        for name in ("node1", "node2"):
            assert cluster.haproxy_row(name)["status"].startswith("UP")
            assert cluster.tomcat_pid(name) == pids[name]
            assert cluster.node_health(name)["version"] == "1"
    finally:
        sandbox.up(cluster.box)  # starts node3's Tomcat again
        wait_until(lambda: cluster.haproxy_row("node3")["status"].startswith("UP"), timeout=60,
                   what="node3 back UP")
