"""Pause, resume, promote and abort a real three-node deploy under load, from another process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from orchestrator.control import gatekeeper as control
from orchestrator.rollout import roll as rollout
from tests.conftest import ROOT, run_cli
from tests.support.cli import orchestrator_command
from tests.support.load import wait_until
from tests.support.receiver import Receiver, notify_config

DEPLOY_TIMEOUT = 240


@contextmanager
def deploying(cluster, war, config=None) -> Iterator[subprocess.Popen]:
    """`orchestrator deploy --war` in the background, as the operator's first shell; stopped if the test fails."""
    proc = subprocess.Popen(
        orchestrator_command("deploy", "--war", war, "--config", config or cluster.box.config),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=60)


def waits_for(cluster, what: str) -> dict:
    return wait_until(
        lambda: (lambda g: g if g and g.get("waiting") == what else None)(control.current(cluster.state_dir)),
        timeout=DEPLOY_TIMEOUT,
        interval=0.2,
        what=f"the roll {what}",
    )


@contextmanager
def with_settings(cluster, extra: str) -> Iterator[None]:
    """``extra`` in the inventory's app server settings while inside (taken out again after, also on failure)."""
    settings = cluster.inventory / "group_vars" / "appservers.yml"
    before = settings.read_text()
    settings.write_text(before + extra)
    try:
        yield
    finally:
        settings.write_text(before)


def canary_gate(cluster):
    """deploy_pause_after: canary in the inventory while inside."""
    return with_settings(cluster, "deploy_pause_after: canary\ndeploy_pause_timeout: 600\n")


def test_promote_goes_past_the_canary_and_a_pause_holds_the_next_node_until_resumed(three_nodes, wars):
    cluster = three_nodes
    cluster.given_release(wars["v1"])
    nobody = run_cli("promote", "--config", cluster.box.config)
    assert nobody.returncode == 2 and "nothing is waiting for promotion" in nobody.stderr, nobody.stderr
    pids = {n: cluster.tomcat_pid(n) for n in cluster.nodes}

    with canary_gate(cluster), cluster.load() as load, deploying(cluster, wars["v2"]) as deploy:
        # When the canary has rolled and baked, then the roll waits for a promotion, the others untouched
        waits_for(cluster, "promotion")
        assert cluster.node_health("node1")["version"] == "2"
        assert [cluster.tomcat_pid(n) for n in ("node2", "node3")] == [pids["node2"], pids["node3"]]
        assert "WAITING FOR PROMOTION" in run_cli("status", "--config", cluster.box.config).stdout
        # When promoted (from another process), and paused while node2 rolls
        promoted = run_cli("promote", "--config", cluster.box.config)
        assert promoted.returncode == 0 and "the roll goes on with node2" in promoted.stdout, promoted.stderr
        wait_until(
            lambda: not cluster.haproxy_row("node2")["status"].startswith("UP"),
            timeout=60,
            interval=0.05,
            what="node2 taken out of rotation",
        )
        paused = run_cli("pause", "--config", cluster.box.config)
        assert paused.returncode == 0, paused.stderr
        # Then node2 finishes, and node3 waits: its Tomcat is the one it had
        state = waits_for(cluster, "paused")
        assert state["next"] == ["node3"] and state["by"]
        assert cluster.node_health("node2")["version"] == "2" and cluster.tomcat_pid("node3") == pids["node3"]
        cluster.assert_all_in_rotation()
        status = run_cli("status", "--config", cluster.box.config).stdout
        assert f"PAUSED by {state['by']}" in status and "before node3" in status
        # When resumed, then the roll finishes
        assert run_cli("resume", "--config", cluster.box.config).returncode == 0
        out, _ = deploy.communicate(timeout=DEPLOY_TIMEOUT)

    assert deploy.returncode == 0, out[-3000:]
    assert "WAITING FOR PROMOTION" in out and "PAUSED by" in out
    assert all(cluster.node_health(n)["version"] == "2" for n in cluster.nodes)
    assert load.report.failed == 0, load.report.line()
    again = run_cli("resume", "--config", cluster.box.config)
    assert again.returncode == 2 and "no deploy is running" in again.stderr


def test_abort_at_the_canary_gate_rolls_the_canary_back_and_a_receiver_hears_every_step(three_nodes, wars, tmp_path):
    cluster = three_nodes
    cluster.given_release(wars["v2"])
    address = cluster.box.lb_address.rsplit(".", 1)[0] + ".201"
    with (
        Receiver(address) as hook,
        canary_gate(cluster),
        cluster.load() as load,
        deploying(cluster, wars["v1"], notify_config(cluster, tmp_path, [hook.url])) as deploy,
    ):
        waits_for(cluster, "promotion")
        assert cluster.node_health("node1")["version"] == "1"
        aborted = run_cli("abort", "--config", cluster.box.config)
        assert aborted.returncode == 0, aborted.stderr
        out, _ = deploy.communicate(timeout=DEPLOY_TIMEOUT)
        told = hook.events()

    assert deploy.returncode == 1, out[-3000:]
    assert "aborted by" in out and "node1 rolled back to 2-" in out
    assert all(cluster.node_health(n)["version"] == "2" for n in cluster.nodes)
    cluster.assert_all_in_rotation()
    assert load.report.failed == 0, load.report.line()
    # every step, in order (the CLI waits for its deliveries before it exits)
    assert [e["event"] for e in told] == [
        "deploy_started",
        "node_switched",
        "paused",
        "release_rejected",
        "rolled_back",
        "deploy_finished",
    ], told
    paused, rejected, rolled_back = told[2], told[3], told[4]
    assert paused["waiting"] == "promotion" and paused["before"] == ["node2"]
    assert "aborted by" in rejected["reason"]
    assert rolled_back["nodes"] == ["node1"] and rolled_back["to"]["node1"].startswith("2-")
    assert told[-1]["outcome"] == "failed"


def gate_module(tmp_path, control: dict, **args) -> tuple[int, dict]:
    """The deploy_gate module run by real Ansible on localhost, as deploy.yml runs it; (rc, its result)."""
    (tmp_path / "control.json").write_text(json.dumps({"deploy": "d1", **control}))
    module_args = {
        "control": str(tmp_path / "control.json"),
        "gate": str(tmp_path / "gate.json"),
        "deploy": "d1",
        "batch": ["node2"],
        "canary_done": True,
        "pause_after": "canary",
        "poll": 0.05,
        **args,
    }
    env = dict(
        os.environ,
        ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
        ANSIBLE_CALLBACK_RESULT_FORMAT="json",
        ANSIBLE_LOCALHOST_WARNING="false",
    )
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "ansible"),
            "localhost",
            "-c",
            "local",
            "-m",
            "orchestrator.fleet.deploy_gate",
            "-a",
            json.dumps(module_args),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    # "localhost | FAILED! => {...}" or "localhost | SUCCESS => {...}"
    return done.returncode, json.loads(done.stdout.split("=> ", 1)[1])


def test_the_promotion_wait_ends_as_deploy_pause_timeout_action_says(tmp_path):
    # When nobody promotes within the timeout: abort (the default) fails the gate, naming the setting
    rc, result = gate_module(tmp_path, {}, timeout=1)
    assert rc != 0 and result["aborted"] and "not promoted within deploy_pause_timeout (1s)" in result["msg"], result
    # ...or promote lets the roll go on
    rc, result = gate_module(tmp_path, {}, timeout=1, on_timeout="promote")
    assert rc == 0 and result["released_by"] == "timeout" and result["held_for"] == ["promotion"], result
    # An abort asked for before the gate stops it at once, naming who asked; a control file of
    # another deploy is not this one's
    rc, result = gate_module(tmp_path, {"aborted": {"by": "lead@ctl", "at": 0}}, timeout=1)
    assert rc != 0 and "aborted by lead@ctl" in result["msg"] and "before node2" in result["msg"], result
    (tmp_path / "control.json").write_text(json.dumps({"deploy": "other", "promoted": {"by": "x"}}))
    rc, result = gate_module(tmp_path, {"promoted": {"by": "ops@ctl", "at": 0}}, timeout=1)
    assert rc == 0 and result["held_for"] == [], result
    assert json.loads((tmp_path / "gate.json").read_text())["waiting"] is None


def test_an_open_verdict_with_pause_waits_for_a_promotion_and_promote_lets_it_through(cluster, wars):
    # Given an idle fleet on v1, a bake with no probe, and webapp_bake_inconclusive: pause
    cluster.given_release(wars["v1"])
    node2 = cluster.tomcat_pid("node2")
    quiet = (
        "webapp_bake_seconds: 3\nwebapp_bake_max_seconds: 6\nwebapp_bake_probe: {}\nwebapp_bake_inconclusive: pause\n"
    )
    with with_settings(cluster, quiet), deploying(cluster, wars["v2"], cluster.box.config) as deploy:
        # When v2's canary gets no verdict (no request reaches it), then the roll waits, saying why
        state = waits_for(cluster, "promotion")
        assert "requests seen" in state["reason"], state
        assert cluster.node_health("node1")["version"] == "2" and cluster.tomcat_pid("node2") == node2
        status = run_cli("status", "--config", cluster.box.config).stdout
        assert "WAITING FOR PROMOTION" in status and "the judge gave no verdict" in status, status
        # When promoted, then the roll goes on to node2
        assert run_cli("promote", "--config", cluster.box.config).returncode == 0
        out, _ = deploy.communicate(timeout=DEPLOY_TIMEOUT)

    assert deploy.returncode == 0, out[-3000:]
    assert all(cluster.node_health(n)["version"] == "2" for n in cluster.nodes)
    # the release went live without a verdict: deployed, not verified
    release = rollout.prepare(wars["v2"], inventory=cluster.inventory).war.release_id
    shown = run_cli("releases", "show", release, "--json", "--config", cluster.box.config)
    assert json.loads(shown.stdout)["release"]["status"] == "deployed", shown.stdout
