"""Blue/green on real HAProxy and Tomcat: the new release starts in each node's idle slot beside
the live one, HAProxy switches, and going back inside the window is a switch, not a restart."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bench.load import UpCount, wait_until
from orchestrator import sandbox
from tests.conftest import run_cli
from tests.integration.conftest import FAILING_HEALTH_TIMEOUT, Cluster

# Away from the rolling cluster (127.0.2.x) and the benchmarks (127.0.5.x).
BLUEGREEN_NET = 9


class SlotCluster(Cluster):
    """A sandbox whose nodes have two Tomcat slots each."""

    def live_slot(self, name: str) -> str:
        return (self.box.node_dir(name) / "live-slot").readlink().name

    def idle_slot(self, name: str) -> str:
        return next(s for s in self.box.slots if s != self.live_slot(name))

    def slot_pid(self, name: str, slot: str) -> int | None:
        return self.box.tomcat_pid(name, slot)

    def slot_release(self, name: str, slot: str) -> str:
        return (self.box.node_dir(name) / "slots" / slot).readlink().name

    def slot_status(self, name: str, slot: str) -> str:
        return self.haproxy_row(f"{name}-{slot}")["status"]

    def slot_version(self, name: str, slot: str) -> str:
        import json
        import urllib.request

        i = self.nodes.index(name) + 1
        url = f"http://{self.box.node_address(i)}:{self.box.slot_port(slot)}/health"
        with urllib.request.urlopen(url, timeout=5) as resp:
            return json.loads(resp.read())["version"]

    def assert_serving(self, version: str) -> None:
        """Every node's live slot answers ``version`` and is UP; every idle slot is in maint."""
        for name in self.nodes:
            live, idle = self.live_slot(name), self.idle_slot(name)
            assert self.slot_version(name, live) == version, f"{name}-{live}"
            assert self.slot_status(name, live).startswith("UP"), f"{name}-{live} is {self.slot_status(name, live)}"
            assert self.slot_status(name, idle) == "MAINT", f"{name}-{idle} is {self.slot_status(name, idle)}"

    def given_release(self, war: Path) -> str:
        from orchestrator import deploy as deploy_lib

        version = deploy_lib.plan(war, inventory=self.inventory).war.version
        if any(self.current_release(n) != deploy_lib.plan(war, inventory=self.inventory).war.release_id
               for n in self.nodes):
            done = run_cli("deploy", "--war", war, "-i", self.inventory, "--state-dir", self.state_dir)
            assert done.returncode == 0, done.stdout + done.stderr
        self.assert_serving(version)
        return version


@pytest.fixture(scope="module")
def bluegreen(tmp_path_factory) -> SlotCluster:
    root = tmp_path_factory.mktemp("bluegreen")
    box = sandbox.Sandbox(directory=root / "sandbox", inventory=root / "inventory", nodes=2, net=BLUEGREEN_NET,
                          strategy="bluegreen")
    (box.inventory / "host_vars").mkdir(parents=True)
    (box.inventory / "host_vars" / "node1.yml").write_text(f"webapp_health_timeout: {FAILING_HEALTH_TIMEOUT}\n")
    try:
        sandbox.up(box)
        yield SlotCluster(box, box.directory / "state")
    finally:
        sandbox.down(box)


def deploy(cluster: Cluster, war, inventory=None, *extra: str):
    return run_cli("deploy", "--war", war, "-i", inventory or cluster.inventory, "--state-dir", cluster.state_dir, *extra)


def with_settings(cluster: Cluster, tmp_path: Path, settings: str) -> Path:
    """A copy of the cluster's inventory with ``settings`` added for every app server (host_vars)."""
    inv = tmp_path / "inventory"
    shutil.copytree(cluster.inventory, inv)
    for name in cluster.nodes:
        with open(inv / "host_vars" / f"{name}.yml", "a") as extra:
            extra.write(settings)
    return inv


def test_a_bluegreen_deploy_under_load_loses_nothing_and_keeps_every_node_serving(bluegreen, wars):
    # Given two nodes serving v1 from one slot each
    bluegreen.given_release(wars["v1"])
    old = {n: (bluegreen.live_slot(n), bluegreen.slot_pid(n, bluegreen.live_slot(n))) for n in bluegreen.nodes}

    # When v2 is deployed blue/green under load, HAProxy's UP servers sampled every 100 ms
    with bluegreen.load() as load, UpCount(str(bluegreen.box.socket)) as up:
        result = deploy(bluegreen, wars["v2"])
    print(f"\n{load.report.line()}; UP servers: lowest {up.lowest} of {len(up.samples)} samples")

    # Then nothing failed, and at every sample at least one slot per node was UP
    assert result.returncode == 0, result.stdout + result.stderr
    assert load.report.failed == 0, load.report.line()
    assert up.samples and up.lowest >= len(bluegreen.nodes), up.samples
    # the other slot of each node serves v2; the old one is out of rotation but still runs v1
    bluegreen.assert_serving("2")
    for name, (slot, pid) in old.items():
        assert bluegreen.live_slot(name) != slot
        assert bluegreen.slot_pid(name, slot) == pid
        assert bluegreen.slot_version(name, slot) == "1"
    assert "keep running until" in result.stdout


def test_a_rollback_inside_the_window_is_a_switch_that_starts_no_jvm(bluegreen, wars):
    # Given v2 live and the v1 slots still running from the deploy before
    bluegreen.given_release(wars["v2"])
    pids = {(n, s): bluegreen.slot_pid(n, s) for n in bluegreen.nodes for s in bluegreen.box.slots}
    assert all(pids.values()), pids

    # When the fleet is rolled back under load
    with bluegreen.load() as load:
        result = run_cli("rollback", "-i", bluegreen.inventory, "--state-dir", bluegreen.state_dir)

    # Then HAProxy switched back to the old slots: nothing failed, and no JVM was started or stopped
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no JVM started" in result.stdout
    assert load.report.failed == 0, load.report.line()
    bluegreen.assert_serving("1")
    assert {(n, s): bluegreen.slot_pid(n, s) for n in bluegreen.nodes for s in bluegreen.box.slots} == pids


def test_a_release_that_fails_its_health_check_never_takes_traffic(bluegreen, wars):
    # Given v1 live
    bluegreen.given_release(wars["v1"])
    live = {n: bluegreen.live_slot(n) for n in bluegreen.nodes}

    # When a build that never answers healthy is deployed under load
    with bluegreen.load() as load, UpCount(str(bluegreen.box.socket)) as up:
        result = deploy(bluegreen, wars["broken"])

    # Then the deploy fails naming the node, the slot and the cause; the live slots never left
    assert result.returncode == 1, result.stdout + result.stderr
    idle = bluegreen.idle_slot("node1")
    assert f"node1: release 3-" in result.stderr and f"failed in the {idle} slot" in result.stderr, result.stderr
    assert "verify" in result.stderr
    assert load.report.failed == 0, load.report.line()
    assert up.samples and up.lowest >= len(bluegreen.nodes), up.samples
    assert {n: bluegreen.live_slot(n) for n in bluegreen.nodes} == live
    bluegreen.assert_serving("1")
    # the broken slot is stopped and in maint; node2 was never started on it
    assert bluegreen.slot_pid("node1", idle) is None
    assert bluegreen.slot_release("node2", bluegreen.idle_slot("node2")) != bluegreen.current_release("node1")


def test_a_release_rejected_in_its_bake_leaves_the_fleet_on_the_old_slots(bluegreen, wars, tmp_path):
    # Given v1 live, and a build that answers 500 to every fifth request
    bluegreen.given_release(wars["v1"])
    live = {n: bluegreen.live_slot(n) for n in bluegreen.nodes}
    inventory = with_settings(bluegreen, tmp_path, "webapp_bake_seconds: 5\n")

    # When it is deployed with a bake, under load
    with bluegreen.load() as load, UpCount(str(bluegreen.box.socket)) as up:
        result = deploy(bluegreen, wars["errors"], inventory)
    blast = load.report.statuses.get("500", 0)

    # Then the canary slot is rejected, taken out and stopped; the old slots never left rotation
    assert result.returncode == 1, result.stdout + result.stderr
    idle = bluegreen.idle_slot("node1")
    assert f"node1-{idle} rejected" in result.stderr and "5xx share" in result.stderr, result.stderr
    assert up.samples and up.lowest >= len(bluegreen.nodes), up.samples
    assert {n: bluegreen.live_slot(n) for n in bluegreen.nodes} == live
    bluegreen.assert_serving("1")
    assert bluegreen.slot_pid("node1", bluegreen.idle_slot("node1")) is None
    # the only failures the load saw were the bad build's own 500s during its bake
    assert load.report.socket_errors == 0 and load.report.non2xx == blast


def test_after_the_window_the_old_slots_are_stopped(bluegreen, wars, tmp_path):
    # Given v1 live, and a keep window of one second
    bluegreen.given_release(wars["v1"])
    inventory = with_settings(bluegreen, tmp_path, "bluegreen_keep_seconds: 1\n")

    # When v2 is deployed
    result = deploy(bluegreen, wars["v2"], inventory)
    assert result.returncode == 0, result.stdout + result.stderr
    old = {n: bluegreen.idle_slot(n) for n in bluegreen.nodes}

    # Then the old slots stop once the window is over (the process the deploy left does it),
    # and the new ones go on serving
    wait_until(lambda: all(bluegreen.slot_pid(n, s) is None for n, s in old.items()), timeout=60,
               what="the old slots to stop after their window")
    bluegreen.assert_serving("2")
