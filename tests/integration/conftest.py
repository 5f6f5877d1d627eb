"""One real sandbox (HAProxy + two Tomcat nodes on 127.0.2.x) for the integration tests."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from ansible_collections.orchestrator.fleet.plugins.module_utils import haproxy_admin
from ansible_collections.orchestrator.fleet.plugins.module_utils.processes import owned_pid
from orchestrator import pipeline
from orchestrator.records.history import History
from orchestrator.rollout import roll as rollout
from orchestrator.sandbox import cluster as sandbox
from tests.support.load import Load, wait_until

# Away from the default sandbox (127.0.1.x) so a developer's sandbox can keep running.
TEST_NET = 2
LOAD_CONNECTIONS = 16
# A short pause per request caps the rate, so the load does not starve the deploy of CPU on a
# two-core machine; the 16 connections stay open the whole time.
LOAD_DELAY_MS = 5
# Seconds the health gate waits on a node where tests make it fail (the sandbox's 20 s is for
# people; the sample app is healthy in about 1.5 s, slower only on a busy machine).
FAILING_HEALTH_TIMEOUT = 10


@dataclass
class Cluster:
    box: sandbox.Sandbox
    state_dir: Path

    @property
    def inventory(self) -> Path:
        return self.box.inventory

    @property
    def url(self) -> str:
        return self.box.url

    @property
    def nodes(self) -> list[str]:
        return self.box.node_names

    def node_health(self, name: str) -> dict:
        i = self.nodes.index(name) + 1
        with urllib.request.urlopen(f"http://{self.box.node_address(i)}:{sandbox.PORT}/health", timeout=5) as resp:
            return json.loads(resp.read())

    def served_through_haproxy(self) -> str:
        with urllib.request.urlopen(self.url, timeout=5) as resp:
            return resp.read().decode().strip()

    def haproxy_row(self, name: str) -> dict:
        return haproxy_admin.server_stat(str(self.box.socket), "app", name)

    def backend(self) -> dict[str, dict]:
        """Every server HAProxy's backend has now, by name."""
        return haproxy_admin.backend_servers(str(self.box.socket), "app")

    def tomcat_pid(self, name: str) -> int | None:
        base = self.box.tomcat_base(name)
        return owned_pid(base / "temp" / "catalina.pid", f"-Dcatalina.base={base}")

    def start_tomcat(self, name: str) -> int:
        """Start a node's Tomcat again (stopped by a test) as its role does, with catalina.sh; its PID."""
        from ansible_collections.orchestrator.fleet.plugins.module_utils import catalina

        base = self.box.tomcat_base(name)
        started = catalina.start(str(base), str(sandbox.TOMCAT_HOME), str(base / "temp" / "catalina.pid"), timeout=60)
        return started["pid"]

    def current_release(self, name: str) -> str:
        return (self.box.node_dir(name) / "current").resolve().name

    def frontend_sessions(self) -> int:
        rows = haproxy_admin.show_stat(str(self.box.socket))
        return next(int(r["scur"]) for r in rows if r["pxname"] == "web" and r["svname"] == "FRONTEND")

    def assert_all_in_rotation(self) -> None:
        for name in self.nodes:
            row = self.haproxy_row(name)
            assert row["status"].startswith("UP"), f"{name} is {row['status']} in HAProxy"

    def load(self) -> Load:
        """wrk through HAProxy with 16 connections, open before this returns; use as a context
        manager: on leaving it, wrk stops and ``.report`` says what it saw."""
        return self._connected(Load(self.url, connections=LOAD_CONNECTIONS, delay_ms=LOAD_DELAY_MS, max_seconds=240))

    def paced_load(self, *, connections: int, delay_ms: float) -> Load:
        """wrk through HAProxy at a paced rate: each connection pauses ``delay_ms`` after each
        answer (1 connection, 100 ms: about 10 requests/s; 2 and 9 ms: about 200)."""
        return self._connected(Load(self.url, connections=connections, threads=1, delay_ms=delay_ms, max_seconds=600))

    def _connected(self, load: Load) -> Load:
        """``load`` started, once HAProxy sees all its connections open (stopped again if they never are)."""
        load.start()
        try:
            wait_until(
                lambda: self.frontend_sessions() >= load.connections,
                timeout=10,
                what=f"{load.connections} connections open",
            )
        except BaseException:
            load.__exit__(*sys.exc_info())
            raise
        return load

    def reload_haproxy(self) -> None:
        """Reload the sandbox's HAProxy the way an operator might: SIGUSR2 to its master, nothing else."""
        master = owned_pid(self.box.haproxy_dir / "haproxy.pid", str(self.box.haproxy_dir / "haproxy.cfg"))
        assert master is not None, "the sandbox's HAProxy master is not running"
        reload_by_signal(str(self.box.socket), master)

    def light_load(self) -> Load:
        """About 10 requests/s: an ordinary business application's traffic, not a stress test."""
        return self.paced_load(connections=1, delay_ms=100)

    def given_release(self, war: Path) -> str:
        """Given every node on ``war``'s release, deployed the way `orchestrator deploy` does (WAR
        store, release ledger, lock) when it is not there yet."""
        plan = rollout.prepare(war, inventory=self.inventory)
        if any(self.current_release(n) != plan.war.release_id for n in self.nodes):
            history = History(self.state_dir)
            try:
                pipeline.deploy_war(
                    war,
                    inventory=self.inventory,
                    state_dir=self.state_dir,
                    history=history,
                    deploy_id=history.start("manual"),
                )
            finally:
                history.close()
        for name in self.nodes:
            assert self.node_health(name)["version"] == plan.war.version
        self.assert_all_in_rotation()
        return plan.war.version


BAKE = "webapp_bake_seconds: 5\n"


def baking_inventory(cluster, tmp_path, extra: str = "") -> str:
    """The cluster's inventory with a 5 s bake on every node (host_vars beat its group_vars;
    a node's own host_vars are kept), and ``extra`` settings; the sandbox's own settings look
    every second and give an open verdict up to 120 s."""
    inv = tmp_path / "inventory"
    shutil.copytree(cluster.inventory, inv)
    (inv / "host_vars").mkdir(exist_ok=True)
    for name in cluster.nodes:
        host_vars = inv / "host_vars" / f"{name}.yml"
        host_vars.write_text((host_vars.read_text() if host_vars.exists() else "") + BAKE + extra)
    return str(inv)


def reload_by_signal(sock: str, master: int) -> None:
    """SIGUSR2 to HAProxy's master until a new worker answers its admin socket (bounded). A
    master only a moment old ignores the signal until it is ready, so one that goes unanswered
    for a second is sent again."""
    old_worker = haproxy_admin.worker_pid(sock)

    def worker() -> int | None:
        try:
            return haproxy_admin.worker_pid(sock)
        except haproxy_admin.HAProxyAdminError:
            return None

    def reloaded() -> bool:
        os.kill(master, signal.SIGUSR2)
        try:
            wait_until(lambda: worker() not in (None, old_worker), timeout=1, what="a new worker")
        except TimeoutError:
            return False
        return True

    wait_until(reloaded, timeout=10, interval=0, what="HAProxy reloaded by SIGUSR2")


def without_host(hosts_yml: str, name: str) -> str:
    """A sandbox's hosts.yml with one app server's lines (its name and address) deleted."""
    lines = hosts_yml.splitlines(keepends=True)
    i = lines.index(f"        {name}:\n")
    return "".join(lines[:i] + lines[i + 2 :])


def with_host(hosts_yml: str, name: str, address: str) -> str:
    """A sandbox's hosts.yml with one more app server, listed first."""
    group = "    appservers:\n      hosts:\n"
    assert group in hosts_yml
    return hosts_yml.replace(group, f"{group}        {name}:\n          ansible_host: {address}\n")


def _our_wrks() -> set[int]:
    """wrk processes driven by this checkout's load script."""
    from ansible_collections.orchestrator.fleet.plugins.module_utils.processes import alive, cmdline
    from tests.support.load import LUA

    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and str(LUA) in cmdline(int(entry.name)) and alive(int(entry.name)):
            found.add(int(entry.name))
    return found


@pytest.fixture(autouse=True)
def no_load_left_running():
    """Every wrk a test starts is stopped by the end of the test (bounded wait, never a sleep)."""
    before = _our_wrks()
    yield
    wait_until(lambda: _our_wrks() <= before, timeout=10, what="the test's wrk to stop")


@pytest.fixture(scope="session")
def cluster(tmp_path_factory) -> Cluster:
    root = tmp_path_factory.mktemp("cluster")
    box = sandbox.Sandbox(directory=root / "sandbox", inventory=root / "inventory", nodes=2, net=TEST_NET)
    # node1 is where the broken release fails its health gate
    (box.inventory / "host_vars").mkdir(parents=True)
    (box.inventory / "host_vars" / "node1.yml").write_text(f"webapp_health_timeout: {FAILING_HEALTH_TIMEOUT}\n")
    try:
        sandbox.up(box)
        # the same state directory as the sandbox's orchestrator.toml: one lock, one history
        yield Cluster(box, box.directory / "state")
    finally:
        sandbox.down(box)


@pytest.fixture(scope="session")
def three_nodes(tmp_path_factory):
    """Three nodes on 127.0.4.x; node2's JVM fails the health check of any release versioned 7."""
    root = tmp_path_factory.mktemp("three")
    box = sandbox.Sandbox(directory=root / "sandbox", inventory=root / "inventory", nodes=3, net=4)
    fast = sandbox.render_inventory(box)["group_vars/appservers.yml"].split("tomcat_java_opts: ")[1].splitlines()[0]
    (box.inventory / "host_vars").mkdir(parents=True)
    (box.inventory / "host_vars" / "node2.yml").write_text(
        f'tomcat_java_opts: {fast[:-1]} -Dsample.health.fail.version=7"\n'
        # the sample app is healthy in ~1.5 s: a shorter wait for the failure the tests ask for
        f"webapp_health_timeout: {FAILING_HEALTH_TIMEOUT}\n"
    )
    try:
        sandbox.up(box)
        yield Cluster(box, box.directory / "state")
    finally:
        sandbox.down(box)
