"""Faults from outside the deploy, forced on the real sandbox under load: HAProxy reloaded by a
bare signal mid-deploy, a JVM killed during its health gate, another node's JVM killed before
its turn. Each asserts what users see: no request lost beyond those in flight on a killed JVM,
the fleet on one release, and the message that names what happened."""

from __future__ import annotations

import os
import signal
import threading
from datetime import UTC, datetime

import pytest

from ansible_collections.orchestrator.fleet.plugins.module_utils import haproxy_admin
from orchestrator import pipeline
from orchestrator.errors import DeployFailed
from orchestrator.records.history import History
from tests.integration.conftest import LOAD_CONNECTIONS
from tests.support.load import wait_until


class Sampler:
    """A server's HAProxy status every 10 ms, from whichever worker answers, in a thread of its own."""

    def __init__(self, cluster, server: str):
        self.cluster, self.server = cluster, server
        self.samples: list[tuple[datetime, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.01):
            try:
                status = self.cluster.haproxy_row(self.server)["status"]
            except haproxy_admin.HAProxyAdminError:
                continue  # the socket changing hands during a reload
            self.samples.append((datetime.now(UTC), status))

    def between(self, start: datetime, end: datetime) -> list[str]:
        return [status for at, status in self.samples if start <= at <= end]

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


def deploy(cluster, war, on_phase) -> tuple[object, list[str], int]:
    """Deploy ``war`` in this process, as `orchestrator deploy` does, calling ``on_phase(node, phase)``
    as each node enters a phase; returns (result or the DeployFailed, what was said, history id)."""
    said: list[str] = []
    history = History(cluster.state_dir)
    deploy_id = history.start("manual")
    try:
        with pipeline.recorded(history, deploy_id) as where:
            result = pipeline.deploy_war(
                war,
                inventory=cluster.inventory,
                state_dir=cluster.state_dir,
                history=history,
                deploy_id=deploy_id,
                where=where,
                report=pipeline.Reporter(said.append, on_phase),
            )
    except DeployFailed as exc:
        result = exc
    finally:
        history.close()
    return result, said, deploy_id


def history_message(cluster, deploy_id: int) -> str:
    history = History(cluster.state_dir)
    try:
        return history.get(deploy_id).message or ""
    finally:
        history.close()


def test_reloads_by_signal_during_drain_and_restart_never_put_a_node_in_rotation_before_its_gate(cluster, wars):
    # Given two nodes on v1, and the server states HAProxy would load from an out-of-date file
    cluster.given_release(wars["v1"])
    stale = haproxy_admin.command(str(cluster.box.socket), "show servers state")
    reloads = []

    def on_phase(node, phase):
        if (node.name, phase) == ("node1", "drain"):
            # the moment the drain takes hold (DRAIN, or MAINT when nothing was in flight)
            seen = wait_until(
                lambda: (s := cluster.haproxy_row("node1")["status"]).startswith(("DRAIN", "MAINT")) and s,
                timeout=10,
                interval=0.002,
                what="node1 draining",
            )
            cluster.reload_haproxy()
            reloads.append(f"node1 {seen}")
        elif (node.name, phase) == ("node1", "start"):
            cluster.reload_haproxy()  # while its Tomcat starts on the new release
            reloads.append("node1 restarting")
        elif (node.name, phase) == ("node2", "start"):
            # a reload that loads states from before the deploy: node2 goes back in rotation
            (cluster.box.haproxy_dir / "server-state").write_text(stale)
            cluster.reload_haproxy()
            reloads.append("node2 restarting, stale states")

    # When v2 is deployed under load and HAProxy is reloaded by signal three times on the way
    with Sampler(cluster, "node1") as node1, cluster.load() as load:
        result, said, deploy_id = deploy(cluster, wars["v2"], on_phase)
    report = load.report
    print(f"\nreloads: {reloads}; load: {report.line()}")

    # Then the deploy went through and not one request failed
    assert not isinstance(result, Exception), f"{result}\n" + "\n".join(said)
    assert len(reloads) == 3, reloads
    assert report.failed == 0, report.line()
    for name in cluster.nodes:
        assert cluster.node_health(name)["version"] == "2"
    cluster.assert_all_in_rotation()
    # node1 stayed in maint from its drain to its health gate, through both reloads
    held = node1.between(result.nodes["node1"].spans["drain"][1], result.nodes["node1"].spans["enable"][0])
    assert held and all(s.startswith("MAINT") for s in held), sorted(set(held))
    # node2, put back by the stale states, was taken out again and that was said, in the output
    # and in the history; nothing was said about node1
    assert [i.split(":")[0] for i in result.incidents] == ["node2"], result.incidents
    assert "node2 was back in rotation behind the deploy's back" in result.incidents[0]
    assert any("warning: node2: node2 was back in rotation" in line for line in said), said
    assert "node2 was back in rotation" in history_message(cluster, deploy_id)


def test_another_nodes_jvm_killed_mid_deploy_is_named(cluster, wars):
    # Given two nodes on v2 (as the test before leaves them)
    cluster.given_release(wars["v2"])
    killed = {}

    def on_phase(node, phase):
        if (node.name, phase) == ("node1", "enable"):
            killed["pid"] = cluster.tomcat_pid("node2")
            os.kill(killed["pid"], signal.SIGKILL)  # node2 crashes before its turn

    # When v1 is deployed under load
    with cluster.load() as load:
        result, said, deploy_id = deploy(cluster, wars["v1"], on_phase)
    report = load.report
    print(f"\nload: {report.line()}; said: {[s for s in said if 'node2' in s]}")

    # Then the deploy restarts node2 in its turn and goes through, and says node2 had died
    assert not isinstance(result, Exception), f"{result}\n" + "\n".join(said)
    assert [i.split(":")[0].split(" ")[0] for i in result.incidents] == ["node2"], result.incidents
    assert "crashed" in result.incidents[0]
    assert "node2" in history_message(cluster, deploy_id)
    for name in cluster.nodes:
        assert cluster.node_health(name)["version"] == "1"
    cluster.assert_all_in_rotation()
    # only requests in flight on the killed JVM may have failed
    assert report.failed <= LOAD_CONNECTIONS, report.line()


def test_a_jvm_that_dies_in_its_health_gate_fails_it_at_once_and_a_reload_during_the_rescue_changes_nothing(
    cluster, wars
):
    # Given two nodes on v1
    cluster.given_release(wars["v1"])
    events = {}

    def on_phase(node, phase):
        if node.name != "node1":
            return
        if phase == "verify":
            # the new release's JVM (one that never turns healthy) dies during its health gate
            pid = wait_until(lambda: cluster.tomcat_pid("node1"), timeout=10, what="node1's new JVM")
            os.kill(pid, signal.SIGKILL)
            events["killed"] = pid
        elif phase == "rescue/start":
            cluster.reload_haproxy()  # while the rescue starts the old release again
            events["reloaded"] = True

    # When it is deployed under load
    with Sampler(cluster, "node1") as node1, cluster.load() as load:
        result, said, _ = deploy(cluster, wars["broken"], on_phase)
    report = load.report
    print(f"\n{events}; load: {report.line()}")

    # Then the health gate failed on the JVM's death, not on its timeout, naming it
    assert isinstance(result, DeployFailed), result
    assert f"the server process (pid {events['killed']}) exited" in str(result), str(result)
    assert "logs/catalina.out" in str(result)
    # and the rescue put v1 back, in maint from its start until its own health gate, reload or not
    assert events.get("reloaded")
    progress = result.result.nodes["node1"]
    held = node1.between(progress.rescue_spans["start"][0], progress.rescue_spans["enable"][0])
    assert held and all(s.startswith("MAINT") for s in held), sorted(set(held))
    assert not result.result.incidents, result.result.incidents
    assert cluster.node_health("node1")["version"] == "1"
    cluster.assert_all_in_rotation()
    assert report.failed == 0, report.line()


@pytest.fixture(autouse=True)
def fleet_back_in_rotation(cluster):
    """Whatever a test did, the next one starts with every node serving (bounded wait)."""
    yield
    if all(cluster.tomcat_pid(n) for n in cluster.nodes):
        return
    from orchestrator.sandbox import cluster as sandbox

    sandbox.up(cluster.box)  # starts the Tomcat a failed test left dead
    wait_until(
        lambda: all(cluster.haproxy_row(n)["status"].startswith("UP") for n in cluster.nodes),
        timeout=60,
        what="every node UP",
    )
