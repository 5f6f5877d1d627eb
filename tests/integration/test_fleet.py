"""The fleet: nodes added and removed by editing the inventory, the dry run and the capacity
guard, on three real nodes behind a real HAProxy."""

from __future__ import annotations

import shutil
import signal
import subprocess
from pathlib import Path

from ansible_collections.orchestrator.fleet.plugins.module_utils.processes import owned_pid, terminate
from orchestrator.records.history import History
from orchestrator.rollout import apply as apply_lib
from tests.conftest import run_cli
from tests.integration.conftest import with_host, without_host
from tests.support.cli import ansible_playbook, orchestrator_command
from tests.support.load import wait_until


def snapshot(cluster):
    return {
        n: (cluster.tomcat_pid(n), cluster.current_release(n), cluster.haproxy_row(n)["status"][:2])
        for n in cluster.nodes
    }


def test_plan_for_three_nodes_and_serial_2_changes_nothing(three_nodes, wars):
    cluster = three_nodes
    cluster.given_release(wars["v1"])
    before = snapshot(cluster)

    result = run_cli(
        "plan", "--war", wars["v2"], "-i", cluster.inventory, "--state-dir", cluster.state_dir, "--serial", "2"
    )

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
        wait_until(
            lambda: cluster.haproxy_row("node3")["status"].startswith("DOWN"),
            timeout=30,
            what="HAProxy to see node3 DOWN",
        )
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
        # and the summary shows node1 as it is, untouched (not failed), and names node3's fault
        node1_row = next(line for line in result.stdout.splitlines() if line.startswith("node1 "))
        assert "(untouched)" in node1_row and "failed" not in node1_row, result.stdout
        assert "not done by the deploy:\n  node3 is DOWN in HAProxy" in result.stdout, result.stdout
        for name in ("node1", "node2"):
            assert cluster.haproxy_row(name)["status"].startswith("UP")
            assert cluster.tomcat_pid(name) == pids[name]
            assert cluster.node_health(name)["version"] == "1"
    finally:
        cluster.start_tomcat("node3")
        wait_until(lambda: cluster.haproxy_row("node3")["status"].startswith("UP"), timeout=60, what="node3 back UP")


def test_a_host_removed_from_the_inventory_and_added_back_under_load(three_nodes, wars, tmp_path):
    # Given three nodes on v1 and `orchestrator watch` running, with no push waiting (the
    # sandbox's first commit left a flag)
    cluster = three_nodes
    cluster.given_release(wars["v1"])
    for flag in (cluster.box.spool / "incoming").glob("*"):
        flag.unlink()
    hosts = cluster.inventory / "hosts.yml"
    original = hosts.read_text()
    log_path = tmp_path / "watch.log"
    with open(log_path, "w") as log:
        watcher = subprocess.Popen(
            orchestrator_command("watch", "--config", cluster.box.config),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    said = lambda: log_path.read_text()  # noqa: E731
    try:
        wait_until(lambda: "for new and removed hosts" in said(), timeout=60, what="the watcher to start")
        others = {n: cluster.tomcat_pid(n) for n in ("node1", "node2")}

        # When node3's lines are deleted from the inventory, under load
        with cluster.load() as load:
            hosts.write_text(without_host(original, "node3"))
            wait_until(
                lambda: "the fleet matches the inventory: node1, node2" in said(),
                timeout=180,
                what="the watcher to retire node3",
            )
        # Then node3 is out of HAProxy and stopped, the others untouched, and no request failed
        assert "node3" not in cluster.backend(), said()
        assert cluster.tomcat_pid("node3") is None
        assert {n: cluster.tomcat_pid(n) for n in others} == others
        assert load.report.failed == 0, load.report

        # When the lines are put back, under load
        with cluster.load() as load:
            hosts.write_text(original)
            wait_until(
                lambda: "the fleet matches the inventory: node1, node2, node3" in said(),
                timeout=240,
                what="the watcher to add node3",
            )
            # Then node3 serves the last known-good release through HAProxy
            wait_until(lambda: int(cluster.backend()["node3"]["stot"]) > 0, timeout=30, what="requests served by node3")
        assert load.report.failed == 0, load.report
        assert cluster.node_health("node3")["version"] == "1"
        assert cluster.current_release("node3") == cluster.current_release("node1")
        cluster.assert_all_in_rotation()
        assert {n: cluster.tomcat_pid(n) for n in others} == others
        assert "Traceback" not in said()
    finally:
        watcher.send_signal(signal.SIGTERM)
        watcher.wait(timeout=60)
        if hosts.read_text() != original or "node3" not in cluster.backend():
            hosts.write_text(original)
            history = History(cluster.state_dir)
            try:
                apply_lib.apply(cluster.inventory, state_dir=cluster.state_dir, history=history)
            finally:
                history.close()


def test_a_new_host_that_fails_its_health_check_is_not_added(three_nodes, wars, tmp_path):
    # Given three nodes on v1, and an inventory with a fourth whose health endpoint answers 404
    cluster = three_nodes
    cluster.given_release(wars["v1"])
    inv = tmp_path / "inventory"
    shutil.copytree(cluster.inventory, inv)
    (inv / "hosts.yml").write_text(with_host((inv / "hosts.yml").read_text(), "node4", "127.0.4.4"))
    (inv / "host_vars" / "node4.yml").write_text("webapp_health_path: /missing\nwebapp_health_timeout: 3\n")
    before = snapshot(cluster)

    # When the operator looks first: plan and apply --check name the node to add, and change nothing
    looked = run_cli("apply", "--check", "-i", inv, "--state-dir", cluster.state_dir)
    assert looked.returncode == 0, looked.stderr
    assert "add node4: provision Tomcat, install 1-" in looked.stdout and "nothing was changed" in looked.stdout
    planned = run_cli("plan", "--war", wars["v2"], "-i", inv, "--state-dir", cluster.state_dir)
    assert planned.returncode == 0, planned.stderr
    assert "to add: not behind every load balancer yet (orchestrator apply)" in planned.stdout
    assert "a deploy refuses until 'orchestrator apply' has added node4" in planned.stdout
    assert "node4" not in cluster.backend()

    # When it is applied
    result = run_cli("apply", "-i", inv, "--state-dir", cluster.state_dir)

    # Then apply fails naming the node and the step; node4 is in no load balancer, its Tomcat
    # stopped; the fleet is as it was
    assert result.returncode == 1, result.stdout + result.stderr
    assert "node4: could not be brought into service" in result.stderr, result.stderr
    assert "'verify | Wait until the node itself answers healthy" in result.stderr
    assert "Traceback" not in result.stderr
    assert "node4" not in cluster.backend()
    base = cluster.box.tomcat_base("node4")
    assert owned_pid(base / "temp" / "catalina.pid", f"-Dcatalina.base={base}") is None
    assert snapshot(cluster) == before


def test_provisioning_by_hand_never_puts_a_node_without_a_release_in_rotation(three_nodes, wars, tmp_path):
    # Given three nodes on v1, and an inventory with a fourth host the operator just added
    cluster = three_nodes
    cluster.given_release(wars["v1"])
    inv = tmp_path / "inventory"
    shutil.copytree(cluster.inventory, inv)
    (inv / "hosts.yml").write_text(with_host((inv / "hosts.yml").read_text(), "node4", "127.0.4.4"))
    config = Path(cluster.box.haproxy_dir / "haproxy.cfg").read_text()

    # When they run provision.yml by hand (it would render node4 into haproxy.cfg and reload)
    try:
        result = ansible_playbook("-i", inv, "orchestrator.fleet.provision", timeout=600)

        # Then the load balancer refuses: node4 is in no backend and haproxy.cfg is unchanged
        assert result.returncode != 0, result.stdout[-3000:]
        assert "node4 would enter the rotation of lb1 the moment HAProxy reloads" in result.stdout, result.stdout[
            -3000:
        ]
        assert "orchestrator apply" in result.stdout
        assert "node4" not in cluster.backend()
        assert Path(cluster.box.haproxy_dir / "haproxy.cfg").read_text() == config
        cluster.assert_all_in_rotation()
    finally:
        base = cluster.box.tomcat_base("node4")  # its empty Tomcat was provisioned: stop it
        pid = owned_pid(base / "temp" / "catalina.pid", f"-Dcatalina.base={base}")
        if pid:
            terminate(pid)
