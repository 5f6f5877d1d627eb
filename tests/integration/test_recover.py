"""`orchestrator deploy` killed (SIGKILL, with its process group) after its first node switched,
under light load: a second deploy refuses until the fleet is settled, and `orchestrator
recover` records the deploy interrupted at its stage and brings the fleet to one release - the
last known-good one, or with --finish the interrupted one - every node in rotation, no request
lost."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from pathlib import Path

from orchestrator.fleet.runner import RUN_MARKER
from orchestrator.records.history import History
from orchestrator.rollout import roll as rollout
from tests.conftest import run_cli
from tests.integration.conftest import baking_inventory
from tests.support.cli import orchestrator_command
from tests.support.load import wait_until

DEPLOY_TIMEOUT = 240


def killed_after_the_first_node(cluster, war, inventory: str) -> None:
    """`orchestrator deploy --war` in a session of its own, SIGKILLed with its whole group once
    node1 serves the new release in rotation (its bake has begun) and before node2 is touched."""
    release = rollout.prepare(war, inventory=cluster.inventory).war.release_id
    deploy = subprocess.Popen(
        orchestrator_command("deploy", "--war", war, "-i", inventory, "--state-dir", cluster.state_dir),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_until(
            lambda: (
                cluster.current_release("node1") == release and cluster.haproxy_row("node1")["status"].startswith("UP")
            ),
            timeout=DEPLOY_TIMEOUT,
            interval=0.05,
            what="node1 switched and back in rotation",
        )
    finally:
        os.killpg(deploy.pid, signal.SIGKILL)
        deploy.wait(timeout=30)
    assert cluster.current_release("node2") != release, "node2 was touched before the kill"


def status_run(state_dir: Path, *, leader: bool = False):
    """A status's ansible-playbook running under ``state_dir`` (found as the orphan sweep finds
    runs): True, or with ``leader`` its session leader's PID; None when there is none."""
    marker = f"{RUN_MARKER}={(state_dir / 'status').resolve()}{os.sep}".encode()
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit() and any(
                v.startswith(marker) for v in Path(f"/proc/{entry}/environ").read_bytes().split(b"\0")
            ):
                if not leader:
                    return True
                if os.getsid(int(entry)) == int(entry):
                    return int(entry)
        except OSError:
            continue
    return None


def records(cluster) -> list:
    history = History(cluster.state_dir, writable=False)
    try:
        return history.list(5)
    finally:
        history.close()


def test_a_killed_deploy_is_refused_again_until_recover_brings_the_fleet_back_to_the_known_good_release(
    cluster, wars, tmp_path
):
    # Given the fleet on v1, and a deploy of v2 killed after node1 switched
    cluster.given_release(wars["v1"])
    v1 = cluster.current_release("node1")
    inventory = baking_inventory(cluster, tmp_path)
    with cluster.light_load() as load:
        killed_after_the_first_node(cluster, wars["v2"], inventory)
        cut = records(cluster)[0]
        assert cut.outcome == "running"
        status = run_cli("status", "-i", cluster.inventory, "--state-dir", cluster.state_dir)
        assert f"#{cut.id}" in status.stdout and "CUT SHORT" in status.stdout, status.stdout

        # When another deploy is asked for, then it refuses, naming recover, touching nothing
        again = run_cli("deploy", "--war", wars["v2"], "-i", inventory, "--state-dir", cluster.state_dir)
        assert again.returncode == 2, again.stdout + again.stderr
        assert f"deploy #{cut.id} was cut short" in again.stderr and "orchestrator recover" in again.stderr

        # When recovered
        recovered = run_cli("recover", "-i", cluster.inventory, "--state-dir", cluster.state_dir)
    assert recovered.returncode == 0, recovered.stdout + recovered.stderr

    # Then the deploy is interrupted at its stage, the fleet on v1 again, every node UP, and it says so
    out = recovered.stdout
    assert f"deploy #{cut.id} of {cut.release_id}: cut short at deploy; recorded as interrupted" in out, out
    assert "node1: on " in out and f"every node on {v1}" in out, out
    assert [cluster.current_release(n) for n in cluster.nodes] == [v1, v1]
    cluster.assert_all_in_rotation()
    after = {r.id: r for r in records(cluster)}
    assert (after[cut.id].outcome, after[cut.id].stage) == ("interrupted", "deploy")
    assert "running" not in {r.outcome for r in after.values()}
    assert load.report.failed == 0, load.report.line()


def test_recover_finish_deploys_the_interrupted_release_on_every_node(cluster, wars, tmp_path):
    cluster.given_release(wars["v1"])
    v2 = rollout.prepare(wars["v2"], inventory=cluster.inventory).war.release_id
    inventory = baking_inventory(cluster, tmp_path)
    with cluster.light_load() as load:
        killed_after_the_first_node(cluster, wars["v2"], inventory)
        finished = run_cli("recover", "--finish", "-i", inventory, "--state-dir", cluster.state_dir)
    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert f"finishing: deploying {v2} again" in finished.stdout
    assert [cluster.current_release(n) for n in cluster.nodes] == [v2, v2]
    cluster.assert_all_in_rotation()
    assert [r.outcome for r in records(cluster)[:2]] == ["deployed", "interrupted"]
    assert load.report.failed == 0, load.report.line()


def test_a_rescue_whose_jvm_dies_reports_the_node_lost_never_restored(cluster, wars):
    # Given the fleet on v1, and a build that fails its health check on node1 (its rescue then
    # starts v1 again), under light load
    cluster.given_release(wars["v1"])
    first = cluster.tomcat_pid("node1")
    with cluster.light_load():
        deploy = subprocess.Popen(
            orchestrator_command(
                "deploy", "--war", wars["broken"], "-i", cluster.inventory, "--state-dir", cluster.state_dir
            ),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            # When the rescue's JVM (the third on node1: v1, the broken build, v1 again) is SIGKILLed
            broken = wait_until(
                lambda: (lambda pid: pid if pid not in (None, first) else None)(cluster.tomcat_pid("node1")),
                timeout=DEPLOY_TIMEOUT,
                interval=0.02,
                what="the broken build's JVM",
            )
            rescue = wait_until(
                lambda: (lambda pid: pid if pid not in (None, first, broken) else None)(cluster.tomcat_pid("node1")),
                timeout=DEPLOY_TIMEOUT,
                interval=0.01,
                what="the rescue's JVM",
            )
            os.kill(rescue, signal.SIGKILL)
            out, _ = deploy.communicate(timeout=DEPLOY_TIMEOUT)
        finally:
            if deploy.poll() is None:
                deploy.kill()
                deploy.wait(timeout=30)

    # Then the deploy exits 5 saying node1 is lost, never restored, and status says it is out
    assert deploy.returncode == 5, out[-3000:]
    assert "node1 IS LOST" in out and "THE FLEET IS SHORT: node1" in out, out[-3000:]
    assert "restored" not in out and "did not come back: out of rotation" in out
    last = records(cluster)[0]
    assert {n["node"]: n["outcome"] for n in last.nodes}["node1"] == "lost"
    status = run_cli("status", "-i", cluster.inventory, "--state-dir", cluster.state_dir)
    assert "OUT OF ROTATION: node1" in status.stdout, status.stdout
    # And recover brings it back once the cause is gone (nothing kills this JVM)
    recovered = run_cli("recover", "-i", cluster.inventory, "--state-dir", cluster.state_dir)
    assert recovered.returncode == 0, recovered.stdout + recovered.stderr
    cluster.assert_all_in_rotation()


def test_a_deploy_that_starts_while_status_reads_the_fleet_leaves_its_run_alone(cluster, wars):
    # Given the fleet on v1
    cluster.given_release(wars["v1"])
    where = ("-i", cluster.inventory, "--state-dir", cluster.state_dir)
    for _ in range(3):
        # When a deploy starts 0.3 s after a status (its sweep of runs left behind comes first)
        status = subprocess.Popen(
            orchestrator_command("status", *where), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        try:
            wait_until(lambda s=status: s.poll() is not None or status_run(cluster.state_dir), timeout=60)
            deploy = run_cli("deploy", "--war", wars["v1"], *where)
            out, err = status.communicate(timeout=120)
        finally:
            if status.poll() is None:
                status.kill()
                status.wait(timeout=30)
        # Then status answers in full, and the deploy stopped nothing of it
        assert deploy.returncode == 0, deploy.stdout + deploy.stderr
        assert "left behind" not in deploy.stdout, deploy.stdout
        assert status.returncode == 0, out + err
        rows = [line.split()[0] for line in out.splitlines() if re.match(r"node\d+ ", line)]
        assert rows == ["node1", "node2"], out


def test_a_status_whose_run_is_stopped_says_so_never_an_empty_table(cluster, wars):
    # Given a status reading the fleet
    cluster.given_release(wars["v1"])
    status = subprocess.Popen(
        orchestrator_command("status", "-i", cluster.inventory, "--state-dir", cluster.state_dir),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # When its ansible-playbook is stopped from outside before it answers
        leader = wait_until(lambda: status_run(cluster.state_dir, leader=True), timeout=60, interval=0.02)
        os.killpg(leader, signal.SIGKILL)
        out, err = status.communicate(timeout=120)
    finally:
        if status.poll() is None:
            status.kill()
            status.wait(timeout=30)
    # Then it fails saying why, with no node table
    assert status.returncode == 1, out + err
    assert "could not read the fleet" in err and "node1" not in out, out + err
