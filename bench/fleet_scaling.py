#!/usr/bin/env python3
"""Deploy wall time as the fleet grows: 2, 4 and 8 nodes, serial 1, 25 % and 50 %, local and SSH.

    .venv/bin/python bench/fleet_scaling.py [--nodes 2 4 8] [--serial 1 25% 50%] [--modes local ssh] [--repeat 2]

For each fleet size and connection it sets up a sandbox on 127.0.10.x (stopped again at the
end), deploys release 1 once to warm up, then for each batch size runs `orchestrator deploy`
(the real command line, in a child process, no bake) --repeat times, switching every node
between releases 2 and 1. For every run it reads, from the run's own artifacts, what Tomcat
itself took on each node (stop, start, start-to-healthy, as the modules time them), and samples
the orchestrator process's peak resident memory (VmHWM) and that of its whole process tree
(ansible-playbook and its forks included).

  floor/node   one node's stop + start-to-healthy (median over the run's nodes)
  ideal        sum over the batches of the slowest node's floor in that batch: a roll that
               costs nothing but Tomcat; about (N / batch size) x floor/node
  overhead/node  (wall - ideal) / N: what the orchestrator and Ansible add per node; the
               target is that it stays flat as N grows
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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from orchestrator import sandbox  # noqa: E402
from orchestrator.plan import serial_batches  # noqa: E402

NET = 10
FLOOR_TASKS = {"stop | Stop Tomcat (catalina)", "start | Start Tomcat (catalina)",
               "verify | Wait until the node itself answers healthy with the expected release"}


@dataclass(frozen=True)
class Run:
    nodes: int
    mode: str
    serial: str
    wall: float
    floors: dict[str, float]      # node -> stop + start + healthy
    rss_orchestrator_kib: int
    rss_tree_kib: int

    @property
    def ideal(self) -> float:
        names = sorted(self.floors, key=lambda n: int(n.removeprefix("node")))
        return sum(max(self.floors[n] for n in batch) for batch in serial_batches(names, _serial_value(self.serial)))

    @property
    def overhead_per_node(self) -> float:
        return (self.wall - self.ideal) / self.nodes


def _serial_value(serial: str):
    return serial if serial.endswith("%") else int(serial)


def build(out: Path, version: str) -> Path:
    subprocess.run([str(ROOT / "examples/webapp/build.sh"), "--version", version, "--out", str(out)],
                   check=True, stdout=subprocess.DEVNULL)
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
    proc = subprocess.Popen([sys.executable, "-m", "orchestrator", "deploy", "--war", str(war), "-i", str(box.inventory),
                             "--state-dir", str(state), "--serial", serial],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
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


def floors(artifacts: Path) -> dict[str, float]:
    """Per node: stop + start + start-to-healthy, as the modules timed them in this run."""
    per_node: dict[str, float] = {}
    for path in (artifacts / "job_events").glob("*.json"):
        event = json.loads(path.read_text())
        data = event.get("event_data") or {}
        if event.get("event") == "runner_on_ok" and data.get("task") in FLOOR_TASKS:
            seconds = (data.get("res") or {}).get("seconds")
            if seconds is not None:
                per_node[data["host"]] = per_node.get(data["host"], 0.0) + float(seconds)
    return per_node


def measure(nodes: int, mode: str, serials: list[str], repeat: int, wars: dict[str, Path], work: Path) -> list[Run]:
    box = sandbox.Sandbox(directory=work / f"{mode}-{nodes}" / "sandbox", inventory=work / f"{mode}-{nodes}" / "inventory",
                          nodes=nodes, net=NET, bake_seconds=0, ssh=mode == "ssh")
    state = box.directory / "state"
    runs = []
    try:
        sandbox.up(box)
        deploy(box, wars["1"], state, "100%")  # warm-up: every node on release 1
        current = "1"
        for serial in serials:
            for _ in range(repeat):
                current = "2" if current == "1" else "1"
                wall, artifacts, own, tree = deploy(box, wars[current], state, serial)
                run = Run(nodes, mode, serial, wall, floors(artifacts), own, tree)
                runs.append(run)
                print(f"  {mode:<5} {nodes} nodes serial {serial:>4}: wall {wall:5.1f}s ideal {run.ideal:5.1f}s "
                      f"overhead/node {run.overhead_per_node:4.2f}s rss {own // 1024} MiB (tree {tree // 1024} MiB)",
                      flush=True)
    finally:
        sandbox.down(box)
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, nargs="+", default=[2, 4, 8])
    parser.add_argument("--serial", nargs="+", default=["1", "25%", "50%"])
    parser.add_argument("--modes", nargs="+", choices=["local", "ssh"], default=["local", "ssh"])
    parser.add_argument("--repeat", type=int, default=2, help="deploys per cell")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="orchestrator-scaling-"))
    runs: list[Run] = []
    try:
        wars = {v: build(work / f"app-{v}.war", v) for v in ("1", "2")}
        for mode in args.modes:
            for nodes in args.nodes:
                runs += measure(nodes, mode, args.serial, args.repeat, wars, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print("\n| nodes | connection | serial | batches | wall s (median) | floor/node s | ideal s | wall / ideal "
          "| overhead/node s | orchestrator peak RSS MiB | tree peak RSS MiB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    cells: dict[tuple, list[Run]] = {}
    for run in runs:
        cells.setdefault((run.mode, run.nodes, run.serial), []).append(run)
    for (mode, nodes, serial), group in cells.items():
        med = lambda values: statistics.median(values)  # noqa: E731
        batches = len(serial_batches([f"node{i}" for i in range(nodes)], _serial_value(serial)))
        wall = med([r.wall for r in group])
        ideal = med([r.ideal for r in group])
        floor = med([f for r in group for f in r.floors.values()])
        print(f"| {nodes} | {mode} | {serial} | {batches} | {wall:.1f} | {floor:.2f} | {ideal:.1f} | {wall / ideal:.2f} "
              f"| {med([r.overhead_per_node for r in group]):.2f} | {max(r.rss_orchestrator_kib for r in group) / 1024:.0f} "
              f"| {max(r.rss_tree_kib for r in group) / 1024:.0f} |")


if __name__ == "__main__":
    main()
