#!/usr/bin/env python3
"""Reloads, joins and retirements under load: what a change of the fleet costs the clients.

    .venv/bin/python bench/join_and_retire.py [--reloads 10] [--connections 16]

Sets up its own two-node sandbox on 127.0.11.x (stopped again at the end), deploys release 1,
then, each under the same wrk load through HAProxy:

  A. --reloads seamless reloads of HAProxy (server states saved, USR2 to the master) with
     `option idle-close-on-response` off (haproxy_idle_close_on_response: false);
  B. the same with it on (the haproxy role's default);
  C. `orchestrator apply` after node3 is added to the inventory (provision, release, health
     check, reload);
  D. `orchestrator apply` after node3 is deleted from it again (drain, stop, reload).

For each: requests, failures (non-2xx and socket errors), p99 and max latency, the longest
time in which no request completed, and the wall time of the action.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ansible_collections.orchestrator.fleet.plugins.module_utils import haproxy_admin
from orchestrator import pipeline
from orchestrator.records.history import History
from orchestrator.sandbox import cluster as sandbox
from tests.support.cli import orchestrator_command
from tests.support.load import Load, wait_until

NET = 11


def reload_haproxy(box: sandbox.Sandbox) -> None:
    """What the haproxy role's reload does: save the states, USR2 the master, wait for the new worker."""
    sock = str(box.socket)
    old = haproxy_admin.worker_pid(sock)
    state = haproxy_admin.command(sock, "show servers state")
    (box.haproxy_dir / "server-state").write_text(state)
    os.kill(int((box.haproxy_dir / "haproxy.pid").read_text()), signal.SIGUSR2)

    def new_worker() -> bool:
        try:
            return haproxy_admin.worker_pid(sock) != old
        except haproxy_admin.HAProxyAdminError:
            return False

    wait_until(new_worker, timeout=30, interval=0.02, what="the new HAProxy worker")


def apply(box: sandbox.Sandbox) -> None:
    done = subprocess.run(
        orchestrator_command("apply", "-i", box.inventory, "--state-dir", box.directory / "state"),
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    if done.returncode != 0:
        raise SystemExit(f"apply failed:\n{done.stdout}\n{done.stderr}")


def measured(box: sandbox.Sandbox, connections: int, action) -> tuple[float, object]:
    load = Load(box.url, connections=connections, max_seconds=600).start()
    try:
        time.sleep(1.0)  # a second of steady load first: a stall right at the start must show
        began = time.monotonic()
        action()
        seconds = time.monotonic() - began
        time.sleep(1.0)  # and one after: a failure right at the end must be counted
    finally:
        report = load.stop()
    return seconds, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reloads", type=int, default=10)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="orchestrator-join-"))
    box = sandbox.Sandbox(directory=work / "sandbox", inventory=work / "inventory", nodes=2, net=NET, bake_seconds=0)
    lb_vars = box.inventory / "host_vars" / "lb1.yml"
    hosts = box.inventory / "hosts.yml"
    results = {}
    try:
        sandbox.up(box)
        war = work / "app-1.war"
        subprocess.run(
            [str(ROOT / "examples/webapp/build.sh"), "--version", "1", "--out", str(war)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        history = History(box.directory / "state")
        pipeline.deploy_war(
            war,
            inventory=box.inventory,
            state_dir=box.directory / "state",
            history=history,
            deploy_id=history.start("manual"),
        )
        history.close()

        def reloads() -> None:
            for _ in range(args.reloads):
                reload_haproxy(box)
                time.sleep(0.5)  # let connections move to the new worker before the next reload

        for label, on in (
            ("A. reloads, idle-close-on-response off", False),
            ("B. reloads, idle-close-on-response on", True),
        ):
            lb_vars.parent.mkdir(exist_ok=True)
            lb_vars.write_text(f"haproxy_idle_close_on_response: {str(on).lower()}\n")
            sandbox.up(box)  # renders haproxy.cfg with the setting and reloads
            results[label] = measured(box, args.connections, reloads)
        lb_vars.unlink()
        sandbox.up(box)

        original = hosts.read_text()
        hosts.write_text(
            original.replace(
                "      hosts:\n        node1:",
                f"      hosts:\n        node3:\n          ansible_host: {box.node_address(3)}\n        node1:",
            )
        )
        results["C. apply: node3 joins"] = measured(box, args.connections, lambda: apply(box))
        hosts.write_text(original)
        results["D. apply: node3 retires"] = measured(box, args.connections, lambda: apply(box))
    finally:
        sandbox.down(box)
        shutil.rmtree(work, ignore_errors=True)

    print(f"\n{args.connections} connections through HAProxy at full speed, 2 nodes (3 during C)\n")
    print("| | requests | failed (non-2xx + socket errors) | p99 latency | max latency | longest stall | action took |")
    print("|---|---|---|---|---|---|---|")
    for label, (seconds, r) in results.items():
        print(
            f"| {label} | {r.requests} | {r.failed} ({r.non2xx} + {r.socket_errors}) | {r.latency_p99_ms:.1f} ms "
            f"| {r.latency_max_ms:.0f} ms | {r.max_stall_s:.2f} s | {seconds:.1f} s |"
        )


if __name__ == "__main__":
    main()
