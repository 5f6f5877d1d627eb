"""Real SSH: an sshd per node on its own loopback address, as production reaches its hosts."""

from __future__ import annotations

import subprocess

import pytest

from orchestrator.sandbox import cluster as sandbox
from tests.conftest import build_war, run_cli
from tests.integration.conftest import Cluster, without_host
from tests.support.cli import orchestrator_command
from tests.support.load import wait_until


@pytest.fixture(scope="module")
def ssh_cluster(tmp_path_factory):
    root = tmp_path_factory.mktemp("ssh")
    box = sandbox.Sandbox(directory=root / "sandbox", inventory=root / "inventory", nodes=3, net=8, ssh=True)
    try:
        sandbox.up(box)
        yield Cluster(box, box.directory / "state")
    finally:
        sandbox.down(box)


# First: it deploys v1, then v2; the test after it starts from v2.
def test_deploy_to_three_nodes_over_ssh_loses_no_request(ssh_cluster, tmp_path):
    cluster = ssh_cluster
    v1, v2 = build_war(tmp_path / "app-1.war", "1"), build_war(tmp_path / "app-2.war", "2")
    cluster.given_release(v1)

    with cluster.load() as load:
        result = run_cli("deploy", "--war", v2, "-i", cluster.inventory, "--state-dir", cluster.state_dir)
    report = load.report
    print(f"\nload during the deploy over SSH: {report.line()}")

    assert result.returncode == 0, result.stdout + result.stderr
    for name in cluster.nodes:
        assert cluster.node_health(name)["version"] == "2"
    assert report.failed == 0, report.line()


def test_a_node_lost_mid_deploy_stops_the_roll_and_is_not_drained(ssh_cluster, tmp_path):
    cluster = ssh_cluster
    # Given three nodes on v2 (the test above), reached over SSH
    v3 = build_war(tmp_path / "app-3.war", "3")
    assert {cluster.node_health(n)["version"] for n in cluster.nodes} == {"2"}
    pids = {n: cluster.tomcat_pid(n) for n in ("node2", "node3")}

    try:
        with cluster.load() as load:
            deploy = subprocess.Popen(
                orchestrator_command("deploy", "--war", v3, "-i", cluster.inventory, "--state-dir", cluster.state_dir),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            # node2's sshd (and its open sessions) goes away while node1 is being switched
            wait_until(
                lambda: cluster.haproxy_row("node1")["status"].startswith("MAINT"),
                timeout=120,
                interval=0.02,
                what="node1 out of rotation",
            )
            lost = sandbox.stop_sshd(cluster.box, "node2")
            assert lost, "node2's sshd was not running"
            out, err = deploy.communicate(timeout=300)
        report = load.report
    finally:
        sandbox.start_sshd(cluster.box)  # node2 reachable again for what follows
    print(f"\nload while node2 was lost: {report.line()}\n{err}")

    assert deploy.returncode == 1, out + err
    assert "node2 is unreachable" in err, err
    # node2 was never drained: it still serves its release, in rotation, same JVM; node3 untouched
    for name in ("node2", "node3"):
        assert cluster.haproxy_row(name)["status"].startswith("UP"), name
        assert cluster.tomcat_pid(name) == pids[name]
        assert cluster.node_health(name)["version"] == "2"
    # node1 keeps serving (rolled back to the fleet's release by the failure policy)
    assert cluster.node_health("node1")["version"] == "2"
    cluster.assert_all_in_rotation()
    assert report.failed == 0, report.line()


# Last: it leaves node3 retired. (Joining a node is provisioning, a WAR sent and an HAProxy
# server added: `sandbox up --ssh` provisions over SSH, every deploy here sends a WAR over it,
# and tests/integration/test_fleet.py joins and retires under load with the same playbook.)
def test_a_node_retired_over_ssh_is_stopped_there_and_loses_no_request(ssh_cluster, tmp_path):
    # Given three nodes reached over SSH, serving the release the test above deployed
    cluster = ssh_cluster
    cluster.assert_all_in_rotation()
    hosts = cluster.inventory / "hosts.yml"

    # When node3 is deleted from the inventory and applied, under load
    with cluster.load() as load:
        hosts.write_text(without_host(hosts.read_text(), "node3"))
        removed = run_cli("apply", "-i", cluster.inventory, "--state-dir", cluster.state_dir)

    # Then it left HAProxy and its Tomcat was stopped over SSH (how to reach it came from the
    # orchestrator's roster: the inventory no longer has it), with no request lost
    assert removed.returncode == 0, removed.stdout + removed.stderr
    assert "node3 retired" in removed.stdout and "warning" not in removed.stdout
    assert "node3" not in cluster.backend() and cluster.tomcat_pid("node3") is None
    assert all(cluster.haproxy_row(n)["status"].startswith("UP") for n in ("node1", "node2"))
    assert load.report.failed == 0, load.report.line()
