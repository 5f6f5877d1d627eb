#!/usr/bin/env python3
"""Deploy wall time as the fleet grows: 2, 4 and 8 nodes, serial 1, 25 % and 50 %, local and SSH,
rolling and blue/green.

    .venv/bin/python bench/fleet_scaling.py [--nodes 2 4 8] [--serial 1 25% 50%] [--modes local ssh] [--repeat 2]
    .venv/bin/python bench/fleet_scaling.py --strategies rolling bluegreen --modes local --serial 1 50% 100%
    .venv/bin/python bench/fleet_scaling.py ... --delay-ms 5     # each deploy under wrk load (16 connections)

For each fleet size and connection it sets up a sandbox on 127.0.10.x (stopped again at the
end), deploys release 1 once to warm up, times Tomcat itself on node1 (SIGTERM to exit, then
catalina.sh start to the first healthy answer; three times, median), then for each batch size
runs `orchestrator deploy` (the real command line, in a child process, no bake) --repeat times,
switching every node between releases 2 and 1. Each run samples the orchestrator process's
peak resident memory (VmHWM) and that of its whole process tree (ansible-playbook and its
forks included), and reads from its own artifacts when the first node was drained and the
last one enabled.

  floor        one node's Tomcat stop + start-to-healthy, timed outside Ansible
  ideal        batches x floor: a roll that costs nothing but Tomcat
  overhead/node  (wall - ideal) / N: what the orchestrator and Ansible add, spread per node
               (it includes the fixed start-up, preflight, parallel ship and tidy-up)
  roll         first drain started -> last node enabled: the serial part alone
  roll overhead/node  (roll - ideal) / N: what each node's turn adds above Tomcat itself; the
               target is that it stays flat as N grows

With --delay-ms (or --connections) every deploy runs under the same wrk load through HAProxy
(the load starts a second before it and stops a second after); the requests that failed are
reported per cell. Without it the fleet is idle.

With blue/green (--strategies) the floor is the idle slot's start-to-healthy alone (it is
stopped while out of rotation, not on the way), and the roll runs from the first restart of an
idle slot to the last switch.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ansible_collections.orchestrator.fleet.plugins.module_utils import haproxy_admin
from ansible_collections.orchestrator.fleet.plugins.module_utils.processes import owned_pid, terminate
from orchestrator.rollout.plan import serial_batches
from orchestrator.sandbox import cluster as sandbox
from tests.support.cli import orchestrator_command
from tests.support.load import healthy, under_load, wait_until

NET = 10


@dataclass(frozen=True)
class Run:
    nodes: int
    mode: str
    strategy: str
    serial: str
    floor: float  # one node's Tomcat stop + start-to-healthy
    wall: float
    roll: float  # first drain started -> last enable done (the serial part alone)
    rss_orchestrator_kib: int
    rss_tree_kib: int
    failed: int | None = None  # requests the load saw fail during the deploy (None: no load)
    requests: int | None = None

    @property
    def batches(self) -> int:
        return len(serial_batches([f"node{i}" for i in range(self.nodes)], _serial_value(self.serial)))

    @property
    def ideal(self) -> float:
        return self.batches * self.floor

    @property
    def overhead_per_node(self) -> float:
        return (self.wall - self.ideal) / self.nodes

    @property
    def roll_overhead_per_node(self) -> float:
        return (self.roll - self.ideal) / self.nodes


def _serial_value(serial: str):
    return serial if serial.endswith("%") else int(serial)


def build(out: Path, version: str) -> Path:
    subprocess.run(
        [str(ROOT / "examples/webapp/build.sh"), "--version", version, "--out", str(out)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return out


def _status_kib(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def _tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def deploy(box: sandbox.Sandbox, war: Path, state: Path, serial: str) -> tuple[float, Path, int, int]:
    """`orchestrator deploy` in a child process: wall time, artifacts, peak RSS of it and of its tree."""
    began = time.monotonic()
    proc = subprocess.Popen(
        orchestrator_command("deploy", "--war", war, "-i", box.inventory, "--state-dir", state, "--serial", serial),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    own = tree = 0
    while proc.poll() is None:
        own = max(own, _status_kib(proc.pid, "VmHWM"))
        tree = max(tree, sum(_status_kib(pid, "VmRSS") for pid in _tree(proc.pid)))
        time.sleep(0.1)
    wall = time.monotonic() - began
    out, err = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"deploy failed ({proc.returncode}):\n{out}\n{err}")
    artifacts = Path(re.search(r"artifacts in (\S+)", out).group(1))
    return wall, artifacts, own, tree


def roll_span(artifacts: Path) -> float:
    """From the run's events: first drain (blue/green: first restart of an idle slot) started -> last enable done."""
    drains, enables = [], []
    for path in (artifacts / "job_events").glob("*.json"):
        event = json.loads(path.read_text())
        task = (event.get("event_data") or {}).get("task") or ""
        if event.get("event") == "runner_on_start" and task.startswith(("drain | ", "stop | ")):
            drains.append(datetime.fromisoformat(event["created"]))
        if event.get("event") == "runner_on_ok" and task.startswith("enable | "):
            enables.append(datetime.fromisoformat(event["created"]))
    return (max(enables) - min(drains)).total_seconds()


def tomcat_floor(box: sandbox.Sandbox, name: str = "node1", times: int = 3) -> float:
    """Tomcat alone: SIGTERM to exit, then catalina.sh start to the first healthy answer (median).

    With blue/green: the live slot, and only its start counts (a deploy stops an idle slot,
    out of rotation, before it starts the release there).
    """
    slot = (box.node_dir(name) / "live-slot").readlink().name if box.strategy == "bluegreen" else ""
    base = box.tomcat_base(name, slot) if slot else box.tomcat_base(name)
    port = box.slot_port(slot) if slot else sandbox.PORT
    server = f"{name}-{slot}" if slot else name
    url = f"http://{box.node_address(box.node_names.index(name) + 1)}:{port}/health"
    env = dict(
        os.environ,
        CATALINA_BASE=str(base),
        CATALINA_HOME=str(sandbox.TOMCAT_HOME),
        CATALINA_PID=str(base / "temp" / "catalina.pid"),
    )
    samples = []
    for _ in range(times):
        began = time.monotonic()
        pid = owned_pid(base / "temp" / "catalina.pid", f"-Dcatalina.base={base}")
        if pid:
            terminate(pid, timeout=30)
        if slot:
            began = time.monotonic()
        (base / "temp" / "catalina.pid").unlink(missing_ok=True)  # catalina.sh refuses a PID file it finds
        subprocess.run(
            [str(sandbox.TOMCAT_HOME / "bin" / "catalina.sh"), "start"],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        wait_until(lambda: healthy(url), timeout=60, interval=0.02, what=f"{name} healthy")
        samples.append(time.monotonic() - began)
    # back in rotation before the deploys: the capacity guard counts it
    wait_until(
        lambda: haproxy_admin.serving(haproxy_admin.server_stat(str(box.socket), "app", server)),
        timeout=60,
        what=f"{server} UP in HAProxy",
    )
    return statistics.median(samples)


def measure(
    nodes: int,
    mode: str,
    strategy: str,
    serials: list[str],
    repeat: int,
    wars: dict[str, Path],
    work: Path,
    load: dict | None = None,
) -> list[Run]:
    where = work / f"{mode}-{strategy}-{nodes}"
    box = sandbox.Sandbox(
        directory=where / "sandbox",
        inventory=where / "inventory",
        nodes=nodes,
        net=NET,
        bake_seconds=0,
        ssh=mode == "ssh",
        strategy=strategy,
    )
    state = box.directory / "state"
    runs = []
    try:
        sandbox.up(box)
        deploy(box, wars["1"], state, "100%")  # warm-up: every node on release 1
        floor = tomcat_floor(box)
        print(
            f"  {mode:<5} {strategy:<9} {nodes} nodes: Tomcat's own {'start' if strategy == 'bluegreen' else 'stop + start'}"
            f"-to-healthy {floor:.2f}s",
            flush=True,
        )
        current = "1"
        for serial in serials:
            for _ in range(repeat):
                current = "2" if current == "1" else "1"
                if load:
                    (wall, artifacts, own, tree), report = under_load(
                        box.url, lambda: deploy(box, wars[current], state, serial), **load
                    )
                    failed, requests = report.failed, report.requests
                else:
                    wall, artifacts, own, tree = deploy(box, wars[current], state, serial)
                    failed = requests = None
                run = Run(nodes, mode, strategy, serial, floor, wall, roll_span(artifacts), own, tree, failed, requests)
                runs.append(run)
                print(
                    f"  {mode:<5} {strategy:<9} {nodes} nodes serial {serial:>4}: wall {wall:5.1f}s ideal {run.ideal:5.1f}s "
                    f"overhead/node {run.overhead_per_node:4.2f}s; roll {run.roll:5.1f}s, "
                    f"overhead/node {run.roll_overhead_per_node:4.2f}s; rss {own // 1024} MiB (tree {tree // 1024} MiB)"
                    + ("" if failed is None else f"; load: {failed} failed of {requests}"),
                    flush=True,
                )
    finally:
        sandbox.down(box)
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, nargs="+", default=[2, 4, 8])
    parser.add_argument("--serial", nargs="+", default=["1", "25%", "50%"])
    parser.add_argument("--modes", nargs="+", choices=["local", "ssh"], default=["local", "ssh"])
    parser.add_argument("--strategies", nargs="+", choices=["rolling", "bluegreen"], default=["rolling"])
    parser.add_argument(
        "--delay-ms", type=float, default=None, help="run each deploy under wrk load, this pause per request"
    )
    parser.add_argument("--connections", type=int, default=None, help="wrk connections for the load [default: 16]")
    parser.add_argument("--repeat", type=int, default=2, help="deploys per cell")
    parser.add_argument("--keep", action="store_true", help="keep the sandboxes' files (and each run's artifacts)")
    args = parser.parse_args()

    load = None
    if args.delay_ms is not None or args.connections is not None:
        load = {"connections": args.connections or 16, "delay_ms": args.delay_ms or 0}
    work = Path(tempfile.mkdtemp(prefix="orchestrator-scaling-"))
    runs: list[Run] = []
    try:
        wars = {v: build(work / f"app-{v}.war", v) for v in ("1", "2")}
        for mode in args.modes:
            for nodes in args.nodes:
                for strategy in args.strategies:
                    runs += measure(nodes, mode, strategy, args.serial, args.repeat, wars, work, load)
    finally:
        if args.keep:
            print(f"files kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    print(
        "\n| nodes | connection | strategy | serial | batches | wall s (median) | floor s | ideal s | wall / ideal "
        "| overhead/node s | roll s | roll / ideal | roll overhead/node s | orchestrator peak RSS MiB | tree peak RSS MiB "
        "| failed under load |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    cells: dict[tuple, list[Run]] = {}
    for run in runs:
        cells.setdefault((run.mode, run.nodes, run.strategy, run.serial), []).append(run)
    med = statistics.median
    for (mode, nodes, strategy, serial), group in cells.items():
        first = group[0]
        wall, roll = med([r.wall for r in group]), med([r.roll for r in group])
        print(
            f"| {nodes} | {mode} | {strategy} | {serial} | {first.batches} | {wall:.1f} | {first.floor:.2f} | {first.ideal:.1f} "
            f"| {wall / first.ideal:.2f} | {med([r.overhead_per_node for r in group]):.2f} | {roll:.1f} "
            f"| {roll / first.ideal:.2f} | {med([r.roll_overhead_per_node for r in group]):.2f} "
            f"| {max(r.rss_orchestrator_kib for r in group) / 1024:.0f} | {max(r.rss_tree_kib for r in group) / 1024:.0f} "
            f"| {'-' if first.failed is None else f'{sum(r.failed for r in group)} of {sum(r.requests for r in group)}'} |"
        )


if __name__ == "__main__":
    main()
