"""Blue/green on real HAProxy and Tomcat: the new release starts in each node's idle slot beside
the live one, HAProxy switches, and going back inside the window is a switch, not a restart."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from ansible_collections.orchestrator.fleet.plugins.module_utils import haproxy_admin
from ansible_collections.orchestrator.fleet.plugins.module_utils.processes import terminate
from orchestrator.fleet.runner import orphaned_runs
from orchestrator.sandbox import cluster as sandbox
from tests.conftest import run_cli
from tests.integration.conftest import FAILING_HEALTH_TIMEOUT, Cluster, with_host
from tests.integration.test_push_to_live import DEPLOY_TIMEOUT, WatcherProcess, commit_and_push, rows, settle_initial
from tests.support.cli import ansible_playbook, orchestrator_command
from tests.support.load import UpCount, wait_until

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

        i = int(name.removeprefix("node"))  # also a node joined beyond the sandbox's own (node3)
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
        from orchestrator.rollout import roll as rollout

        release = rollout.prepare(war, inventory=self.inventory).war
        if any(self.current_release(n) != release.release_id for n in self.nodes):
            done = run_cli("deploy", "--war", war, "-i", self.inventory, "--state-dir", self.state_dir)
            assert done.returncode == 0, done.stdout + done.stderr
        self.assert_serving(release.version)
        return release.version


@pytest.fixture(scope="module")
def bluegreen(tmp_path_factory) -> SlotCluster:
    root = tmp_path_factory.mktemp("bluegreen")
    box = sandbox.Sandbox(
        directory=root / "sandbox", inventory=root / "inventory", nodes=2, net=BLUEGREEN_NET, strategy="bluegreen"
    )
    (box.inventory / "host_vars").mkdir(parents=True)
    (box.inventory / "host_vars" / "node1.yml").write_text(f"webapp_health_timeout: {FAILING_HEALTH_TIMEOUT}\n")
    try:
        sandbox.up(box)
        yield SlotCluster(box, box.directory / "state")
    finally:
        sandbox.down(box)


def deploy(cluster: Cluster, war, inventory=None, *extra: str):
    return run_cli(
        "deploy", "--war", war, "-i", inventory or cluster.inventory, "--state-dir", cluster.state_dir, *extra
    )


def with_settings(cluster: Cluster, tmp_path: Path, settings: str) -> Path:
    """A copy of the cluster's inventory with ``settings`` added for every app server (host_vars)."""
    inv = tmp_path / "inventory"
    shutil.copytree(cluster.inventory, inv)
    for name in cluster.nodes:
        with open(inv / "host_vars" / f"{name}.yml", "a") as extra:
            extra.write(settings)
    return inv


def test_the_plan_shows_each_node_starting_beside_its_live_slot(bluegreen, wars):
    # Given two nodes serving v1
    bluegreen.given_release(wars["v1"])
    pids = {(n, s): bluegreen.slot_pid(n, s) for n in bluegreen.nodes for s in bluegreen.box.slots}

    # When a blue/green deploy of v2 is planned, the whole fleet in one batch
    result = run_cli(
        "plan", "--war", wars["v2"], "-i", bluegreen.inventory, "--state-dir", bluegreen.state_dir, "--serial", "100%"
    )

    # Then it says where the release starts and that every node serves throughout; nothing changed
    assert result.returncode == 0, result.stdout + result.stderr
    starts = ", ".join(f"{n} ({bluegreen.idle_slot(n)}, beside {bluegreen.live_slot(n)})" for n in bluegreen.nodes)
    assert (
        f"step 1: starts in the idle slot, then switches: {starts}; serving throughout: node1, node2 (2 of 2)"
        in result.stdout
    ), result.stdout
    assert {(n, s): bluegreen.slot_pid(n, s) for n in bluegreen.nodes for s in bluegreen.box.slots} == pids


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


def cut_short(bluegreen) -> None:
    """The state a switch cut short can leave: node1 with both slots in rotation, node2 with none."""
    sock = str(bluegreen.box.socket)
    node1_idle = f"node1-{bluegreen.idle_slot('node1')}"
    haproxy_admin.set_state(sock, "app", node1_idle, "ready")
    haproxy_admin.set_state(sock, "app", f"node2-{bluegreen.live_slot('node2')}", "maint")
    wait_until(
        lambda: bluegreen.haproxy_row(node1_idle)["status"].startswith("UP"),
        timeout=10,
        what=f"{node1_idle} in rotation",
    )


def test_recover_and_the_reconcile_playbook_bring_each_node_back_to_exactly_one_live_slot(bluegreen, wars):
    # Given both slots of node1 running (v1 live), and a switch cut short
    bluegreen.given_release(wars["v1"])
    if bluegreen.slot_pid("node1", bluegreen.idle_slot("node1")) is None:
        bluegreen.given_release(wars["v2"])  # the window is over: a deploy leaves the old slot running again
        assert run_cli("rollback", "-i", bluegreen.inventory, "--state-dir", bluegreen.state_dir).returncode == 0
    cut_short(bluegreen)

    # When an operator runs `orchestrator recover` (what a restarted watcher does after a crash)
    done = run_cli("recover", "-i", bluegreen.inventory, "--state-dir", bluegreen.state_dir)

    # Then every node serves from its live slot alone, on v1
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    assert "reconciled" in done.stdout
    bluegreen.assert_serving("1")

    # And the same playbook by hand does the same
    cut_short(bluegreen)
    done = ansible_playbook("-i", bluegreen.inventory, "orchestrator.fleet.reconcile", timeout=300)
    assert done.returncode == 0, done.stdout[-3000:]
    bluegreen.assert_serving("1")


def test_a_watcher_killed_mid_switch_comes_back_with_one_live_slot_per_node(bluegreen, wars, tmp_path):
    # Given the watcher on the blue/green sandbox (the sandbox's first push already live, as v1
    # is), and node1's deploys held in their bake (a pass comes no sooner than webapp_bake_seconds) so that
    # the switch can be caught half done
    bluegreen.given_release(wars["v1"])
    for pending in (bluegreen.box.spool / "incoming").glob("*.json"):
        pending.unlink()
    host_vars = bluegreen.inventory / "host_vars" / "node1.yml"
    settings = host_vars.read_text()
    started: list[WatcherProcess] = []

    def watcher() -> WatcherProcess:
        started.append(WatcherProcess(bluegreen.box.config, tmp_path / f"watch-{len(started)}.log").start())
        return started[-1]

    try:
        w = settle_initial(bluegreen, watcher)
        host_vars.write_text(settings + "webapp_bake_seconds: 60\n")
        old_slot, new_slot = bluegreen.live_slot("node1"), bluegreen.idle_slot("node1")
        revision = commit_and_push(bluegreen, "41")
        wait_until(
            lambda: bluegreen.slot_status("node1", new_slot) != "MAINT",
            timeout=DEPLOY_TIMEOUT,
            interval=0.02,
            what=f"node1-{new_slot} put in rotation beside node1-{old_slot}",
        )

        # When the watcher and its ansible-playbook are killed -9 (a power cut, as far as they know)
        w.stop(signal.SIGKILL)
        for pid in orphaned_runs(bluegreen.state_dir):
            os.killpg(pid, signal.SIGKILL)
        interrupted = rows(bluegreen)[0]
        assert interrupted.outcome == "running"
        assert bluegreen.slot_status("node1", old_slot).startswith("UP")  # both slots in rotation
        assert bluegreen.slot_status("node1", new_slot) != "MAINT"
        # and started again (without the held bake)
        host_vars.write_text(settings)
        restarted = watcher()

        # Then it reconciles, deploys the revision again, and each node serves from one slot
        def recovered():
            new = [r for r in rows(bluegreen) if r.id > interrupted.id]
            return new if new and new[0].outcome != "running" else None

        [redo] = wait_until(recovered, timeout=DEPLOY_TIMEOUT, interval=0.5, what="the recovery deploy")
        assert "reconciled" in restarted.output()
        assert redo.trigger == "recovery" and redo.revision == revision and redo.outcome == "deployed", redo
        assert [r.outcome for r in rows(bluegreen) if r.id == interrupted.id] == ["interrupted"]
        bluegreen.assert_serving("41")
    finally:
        host_vars.write_text(settings)
        for w in started:
            if w.proc.poll() is None:
                w.stop()
            print(f"\n--- watcher log ---\n{w.output()[-3000:]}")


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
    assert "node1: release 3-" in result.stderr and f"failed in the {idle} slot" in result.stderr, result.stderr
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


def test_apply_joins_a_node_into_its_blue_slot_and_retires_both_its_slots_under_load(bluegreen, wars):
    # Given two nodes on v1, and a third added to the inventory (on its own address)
    bluegreen.given_release(wars["v1"])
    hosts = bluegreen.inventory / "hosts.yml"
    original = hosts.read_text()
    node3 = f"127.0.{BLUEGREEN_NET}.3"
    try:
        hosts.write_text(with_host(original, "node3", node3))

        # When the fleet is applied, under load
        with bluegreen.load() as load:
            joined = run_cli("apply", "-i", bluegreen.inventory, "--state-dir", bluegreen.state_dir)

        # Then node3 serves v1 from its blue slot; its green slot is stopped and in maint; nothing failed
        assert joined.returncode == 0, joined.stdout + joined.stderr
        assert load.report.failed == 0, load.report.line()
        assert bluegreen.haproxy_row("node3-blue")["status"].startswith("UP")
        assert bluegreen.haproxy_row("node3-green")["status"] == "MAINT"
        assert bluegreen.slot_pid("node3", "green") is None
        assert (bluegreen.box.node_dir("node3") / "live-slot").readlink().name == "blue"

        # When it is removed again, under load
        hosts.write_text(original)
        with bluegreen.load() as load:
            retired = run_cli("apply", "-i", bluegreen.inventory, "--state-dir", bluegreen.state_dir)

        # Then both its slots are gone from HAProxy and stopped, and nothing failed
        assert retired.returncode == 0, retired.stdout + retired.stderr
        assert load.report.failed == 0, load.report.line()
        assert not {"node3-blue", "node3-green"} & set(bluegreen.backend())
        assert bluegreen.slot_pid("node3", "blue") is None and bluegreen.slot_pid("node3", "green") is None
        bluegreen.assert_serving("1")
    finally:
        if hosts.read_text() != original:
            hosts.write_text(original)
        if {"node3-blue", "node3-green"} & set(bluegreen.backend()):
            run_cli("apply", "-i", bluegreen.inventory, "--state-dir", bluegreen.state_dir)
        for slot in bluegreen.box.slots:
            pid = bluegreen.slot_pid("node3", slot)
            if pid is not None:
                terminate(pid)


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
    wait_until(
        lambda: all(bluegreen.slot_pid(n, s) is None for n, s in old.items()),
        timeout=60,
        what="the old slots to stop after their window",
    )
    bluegreen.assert_serving("2")


def test_a_deploy_killed_mid_switch_is_settled_by_recover_on_one_release_with_one_live_slot(bluegreen, wars):
    # Given v1 live, node1's bake held so the switch can be caught half done, and a deploy of v2
    # killed (SIGKILL, its whole process group) once node1 serves v2 from its other slot
    bluegreen.given_release(wars["v1"])
    host_vars = bluegreen.inventory / "host_vars" / "node1.yml"
    settings = host_vars.read_text()
    where = ("-i", bluegreen.inventory, "--state-dir", bluegreen.state_dir)
    try:
        host_vars.write_text(settings + "webapp_bake_seconds: 60\n")
        old_slot, new_slot = bluegreen.live_slot("node1"), bluegreen.idle_slot("node1")
        with bluegreen.light_load() as load:
            deploy = subprocess.Popen(
                orchestrator_command("deploy", "--war", wars["v2"], *where),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            try:
                wait_until(
                    lambda: bluegreen.slot_status("node1", new_slot).startswith("UP"),
                    timeout=DEPLOY_TIMEOUT,
                    interval=0.02,
                    what=f"node1-{new_slot} in rotation on v2",
                )
            finally:
                os.killpg(deploy.pid, signal.SIGKILL)
                deploy.wait(timeout=30)
            host_vars.write_text(settings)
            interrupted = rows(bluegreen)[0]
            assert interrupted.outcome == "running"
            # When recover runs
            recovered = run_cli("recover", *where)
        # Then the deploy is interrupted, every node serves v1 from exactly one live slot, nothing lost
        assert recovered.returncode == 0, recovered.stdout + recovered.stderr
        assert f"deploy #{interrupted.id} of {interrupted.release_id}: cut short at deploy" in recovered.stdout
        assert [r.outcome for r in rows(bluegreen) if r.id == interrupted.id] == ["interrupted"]
        bluegreen.assert_serving("1")
        assert bluegreen.live_slot("node1") == old_slot
        assert load.report.failed == 0, load.report.line()
    finally:
        host_vars.write_text(settings)
