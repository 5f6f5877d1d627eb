"""The admin-socket client against a real HAProxy, including a socket without admin rights."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from ansible_collections.orchestrator.fleet.plugins.module_utils import haproxy_admin
from ansible_collections.orchestrator.fleet.plugins.module_utils.processes import owned_pid, terminate
from tests.conftest import COLLECTION
from tests.integration.conftest import reload_by_signal
from tests.support.load import wait_until

CONFIG = """
global
    stats socket {dir}/admin.sock mode 600 level admin
    stats socket {dir}/user.sock mode 600 level user
defaults
    mode http
    timeout connect 1s
    timeout client 5s
    timeout server 5s
backend app
    server s1 127.0.3.1:8080
    server s2 127.0.3.2:8080
"""


@contextmanager
def started(directory, config: str) -> Iterator[int]:
    """HAProxy (master-worker) on ``config`` with its files in ``directory``; yields the master's
    PID once the admin socket is there, and stops it again, also when the test fails."""
    cfg, pid_file = directory / "haproxy.cfg", directory / "haproxy.pid"
    cfg.write_text(config.format(dir=directory))
    subprocess.run(["haproxy", "-W", "-D", "-p", str(pid_file), "-f", str(cfg)], check=True)
    try:
        # the daemon may bind its socket before it has written its PID file: wait for both
        wait_until(
            lambda: (directory / "admin.sock").exists() and owned_pid(pid_file, str(cfg)) is not None,
            timeout=10,
            what="admin socket and PID file",
        )
        yield owned_pid(pid_file, str(cfg))
    finally:
        pid = owned_pid(pid_file, str(cfg))
        if pid:
            terminate(pid)


@pytest.fixture
def haproxy(tmp_path):
    with started(tmp_path, CONFIG):
        yield tmp_path


def test_drain_and_maint_change_the_status(haproxy):
    sock = str(haproxy / "admin.sock")
    haproxy_admin.set_state(sock, "app", "s1", "drain")
    assert haproxy_admin.admin_state(haproxy_admin.server_stat(sock, "app", "s1")) == "drain"
    haproxy_admin.set_state(sock, "app", "s1", "maint")
    row = haproxy_admin.server_stat(sock, "app", "s1")
    assert row["status"].startswith("MAINT") and haproxy_admin.admin_state(row) == "maint"
    haproxy_admin.set_state(sock, "app", "s1", "ready")
    assert haproxy_admin.admin_state(haproxy_admin.server_stat(sock, "app", "s1")) == "ready"


def test_a_socket_without_admin_level_is_an_error_not_a_silent_no_op(haproxy):
    with pytest.raises(haproxy_admin.HAProxyAdminError, match="level admin"):
        haproxy_admin.set_state(str(haproxy / "user.sock"), "app", "s1", "drain")
    row = haproxy_admin.server_stat(str(haproxy / "admin.sock"), "app", "s1")
    assert haproxy_admin.admin_state(row) == "ready"


def test_unknown_server_names_the_ones_that_exist(haproxy):
    with pytest.raises(haproxy_admin.HAProxyAdminError, match="has no server 's9' .*s1, s2"):
        haproxy_admin.server_stat(str(haproxy / "admin.sock"), "app", "s9")


def test_missing_socket(tmp_path):
    with pytest.raises(haproxy_admin.HAProxyAdminError, match="does not exist"):
        haproxy_admin.show_stat(str(tmp_path / "none.sock"))


RELOADABLE = """
global
    stats socket {dir}/admin.sock mode 600 level admin expose-fd listeners
    server-state-file {dir}/server-state
defaults
    mode http
    load-server-state-from-file global
    timeout connect 1s
    timeout client 5s
    timeout server 5s
backend app
    server s1 127.0.3.1:8080
    server s2 127.0.3.2:8080 weight 100
"""


@pytest.mark.parametrize("saver", ["save_server_states", "unit's ExecReload script"])
def test_states_saved_survive_a_bare_reload_signal(tmp_path, saver):
    # Given HAProxy with a server-state-file, s1 in maint and s2 at a canary's weight
    sock, state = str(tmp_path / "admin.sock"), str(tmp_path / "server-state")
    with started(tmp_path, RELOADABLE) as master:
        haproxy_admin.set_state(sock, "app", "s1", "maint")
        haproxy_admin.silent_command(sock, "set server app/s2 weight 10")
        # When the states are saved (as the deploy does at each change, or the unit before a
        # reload) and the master is sent SIGUSR2 by someone who knows nothing of the deploy
        if saver == "save_server_states":
            assert haproxy_admin.save_server_states(sock, state) == 2
        else:
            subprocess.run([str(COLLECTION / "roles/haproxy/files/haproxy-save-server-state"), sock, state], check=True)
        reload_by_signal(sock, master)
        # Then the new worker has them
        assert haproxy_admin.server_stat(sock, "app", "s1")["status"].startswith("MAINT")
        assert haproxy_admin.server_stat(sock, "app", "s2")["weight"] == "10"
