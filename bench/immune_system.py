#!/usr/bin/env python3
"""The immune system: blast radius of a bad build with and without a canary weight, time to the
verdict, and rollback wall time against deploy wall time.

    .venv/bin/python bench/immune_system.py [--bake-seconds 10] [--error-every 5] [--delay-ms 5]

On a sandbox of its own (127.0.7.x, two nodes) under wrk load (16 connections): release 1 is
deployed; then a build that answers 500 to every Nth page request is deployed twice, once with
the first batch at the canary weight (webapp_canary_weight, 10 against 100) and once at full
weight. Blast radius = the bad build's 500s / all responses while it was deployed and judged;
time to verdict = from the node entering rotation to the bake's rejection (the module's clock).
Then release 2 is deployed and rolled back (`orchestrator rollback`) and both are timed.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.load import Load  # noqa: E402
from orchestrator import deploy as deploy_lib  # noqa: E402
from orchestrator import pipeline, sandbox  # noqa: E402
from orchestrator.errors import DeployFailed  # noqa: E402
from orchestrator.history import History  # noqa: E402
from orchestrator.runner import Event  # noqa: E402


def build(out: Path, version: str, *flags: str) -> Path:
    subprocess.run([str(ROOT / "examples/webapp/build.sh"), "--version", version, "--out", str(out), *flags],
                   check=True, stdout=subprocess.DEVNULL)
    return out


def bad_deploy(box, war: Path, inventory: Path, state: Path, args) -> tuple[dict, float | None]:
    verdict = {}

    def on_event(event: Event) -> None:
        if event.phase == "bake" and event.kind == "runner_on_failed":
            verdict["seconds"] = event.result.get("seconds")

    load = Load(box.url, connections=16, delay_ms=args.delay_ms, max_seconds=600).start()
    try:
        time.sleep(1.0)  # steady load first: the radius is measured over the whole deploy
        try:
            deploy_lib.deploy(deploy_lib.plan(war, inventory=inventory), state_dir=state, on_event=on_event)
            raise SystemExit("the bad build was not rejected")
        except DeployFailed:
            pass
    finally:
        report = load.stop()
    return report, verdict.get("seconds")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bake-seconds", type=float, default=10)
    parser.add_argument("--error-every", type=int, default=5)
    parser.add_argument("--delay-ms", type=float, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="orchestrator-bench-"))
    box = sandbox.Sandbox(directory=work / "sandbox", inventory=work / "inventory", nodes=2, net=7,
                          bake_seconds=args.bake_seconds)
    state = box.directory / "state"
    try:
        sandbox.up(box)
        v1, v2 = build(work / "v1.war", "1"), build(work / "v2.war", "2")
        bad = build(work / "bad.war", "3", "--error-every", str(args.error_every))
        history = History(state)
        # through the pipeline's path, so that the release ledger knows release 1
        pipeline.deploy_war(v1, inventory=box.inventory, state_dir=state, history=history,
                            deploy_id=history.start("manual"))

        no_canary = work / "no-canary"
        shutil.copytree(box.inventory, no_canary)
        (no_canary / "group_vars" / "appservers.yml").write_text(
            (box.inventory / "group_vars" / "appservers.yml").read_text() + 'webapp_canary_weight: ""\n')
        rows = []
        for label, inventory in (("canary weight 10 of 100", box.inventory), ("full weight", no_canary)):
            report, verdict = bad_deploy(box, bad, inventory, state, args)
            bad_500s = report.statuses.get("500", 0)
            rows.append((label, report, bad_500s, verdict))

        began = time.monotonic()
        pipeline.deploy_war(v2, inventory=box.inventory, state_dir=state, history=history,
                            deploy_id=history.start("manual"))
        deploy_wall = time.monotonic() - began
        began = time.monotonic()
        pipeline.rollback(inventory=box.inventory, state_dir=state, history=history)
        rollback_wall = time.monotonic() - began
        history.close()
    finally:
        sandbox.down(box)
        shutil.rmtree(work, ignore_errors=True)

    print(f"\nbad build: every {args.error_every}th page request answers 500; bake {args.bake_seconds:g} s; "
          f"wrk 16 connections, {args.delay_ms:g} ms pause per request\n")
    print("| first batch | responses | bad build's 500s | blast radius | time to verdict | other failures |")
    print("|---|---|---|---|---|---|")
    for label, report, bad_500s, verdict in rows:
        print(f"| {label} | {report.requests} | {bad_500s} | {bad_500s / report.requests:.3%} | "
              f"{verdict if verdict is not None else '-'} s | {report.failed - bad_500s} |")
    print(f"\ndeploy of release 2 (with bakes): {deploy_wall:.1f} s; rollback to release 1 (with bakes): "
          f"{rollback_wall:.1f} s; rollback / deploy = {rollback_wall / deploy_wall:.2f}")


if __name__ == "__main__":
    main()
