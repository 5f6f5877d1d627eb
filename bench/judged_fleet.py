#!/usr/bin/env python3
"""A judged deploy across a larger fleet: the release judged once on the canary, every later
node only watched.

    .venv/bin/python bench/judged_fleet.py [--nodes 8] [--rate 200] [--deploys 3]

On a sandbox of its own (127.0.11.x, the sandbox's bake settings: 5 s, a look a second), with
about ``--rate`` requests/s through HAProxy, good builds (as clean as the fleet) are deployed in
turn, ``--deploys`` times; then once more with the judge off (a release the ledger trusts), for
the roll's floor. Per deploy: the wall time, the canary's bake (its verdict), each node's roll
(drain to enabled) and each later node's watch; then the bound the release-once judge is held
to: the canary's verdict + nodes x (the node's roll floor + 5 s), the floor being the unjudged
deploy's wall time over the nodes (everything a node costs without a bake: Ansible's tasks,
the drain, the restart, the health gate).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.immune_system import build, load_at
from orchestrator import pipeline
from orchestrator.records.history import History
from orchestrator.sandbox import cluster as sandbox

ROLL = ("drain", "stop", "install", "start", "verify", "enable")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=8)
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--deploys", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="orchestrator-bench-"))
    box = sandbox.Sandbox(
        directory=work / "sandbox", inventory=work / "inventory", nodes=args.nodes, net=11, bake_seconds=5
    )
    state = box.directory / "state"
    wars = [build(work / "a.war", "11"), build(work / "b.war", "12")]
    rows = []
    try:
        sandbox.up(box)
        history = History(state)
        pipeline.deploy_war(
            wars[0],
            inventory=box.inventory,
            state_dir=state,
            history=history,
            deploy_id=history.start("manual"),
            known_good="the benchmark's starting point",
        )
        for i in range(args.deploys):
            war = wars[(i + 1) % 2]
            load = load_at(box.url, args.rate)
            began = time.monotonic()
            try:
                result = pipeline.deploy_war(
                    war, inventory=box.inventory, state_dir=state, history=history, deploy_id=history.start("manual")
                )
            finally:
                wall = time.monotonic() - began
                report = load.stop()
            nodes = [result.nodes[n] for n in box.node_names]
            canary = nodes[0].seconds("bake") or 0.0
            rolls = [sum(n.seconds(p) or 0.0 for p in ROLL) for n in nodes]
            watches = [n.seconds("bake") or 0.0 for n in nodes[1:]]
            modes = sorted({v.get("mode", "?") for v in result.verdicts.values()})
            rows.append((report.requests / report.duration_s, wall, canary, statistics.median(rolls), watches))
            print(
                f"deploy {i + 1}: {rows[-1][0]:.0f} req/s, wall {wall:.1f} s, canary's verdict {canary:.1f} s, "
                f"node roll {rows[-1][3]:.1f} s, watch {statistics.median(watches):.1f} s, modes {modes}, "
                f"failed {report.failed}",
                flush=True,
            )
        began = time.monotonic()
        pipeline.deploy_war(
            wars[(args.deploys + 1) % 2],  # the other build: every node switches
            inventory=box.inventory,
            state_dir=state,
            history=history,
            deploy_id=history.start("manual"),
            known_good="the floor: no judge",
        )
        floor = (time.monotonic() - began) / args.nodes
        print(f"unjudged deploy: {floor * args.nodes:.1f} s, the roll floor {floor:.1f} s a node", flush=True)
        history.close()
    finally:
        sandbox.down(box)
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"\n{args.nodes} nodes, serial 1, good builds at ~{args.rate:.0f} requests/s; roll floor {floor:.1f} s a node "
        f"(an unjudged deploy: {floor * args.nodes:.1f} s)\n"
    )
    print("| req/s | wall | canary's verdict | drain to enabled (median) | watch (median) | bound |")
    print("|---|---|---|---|---|---|")
    for rate, wall, canary, roll, watches in rows:
        bound = canary + args.nodes * (floor + 5)
        print(
            f"| {rate:.0f} | {wall:.1f} s | {canary:.1f} s | {roll:.1f} s | {statistics.median(watches):.1f} s "
            f"| {bound:.1f} s ({'met' if wall <= bound else 'missed'}) |"
        )


if __name__ == "__main__":
    main()
