#!/usr/bin/env python3
"""The immune system against request rate: detection time, blast radius, false fails.

    .venv/bin/python bench/immune_system.py [--rates 10 100 1000] [--identical 10] [--identical-rate 200]

On a sandbox of its own (127.0.7.x, two nodes, the sandbox's bake settings: 5 s, looks every
second, an open verdict up to 120 s), with a load of about R requests/s through HAProxy (wrk,
a pause after each answer), for each rate R:

* a build whose pages answer 500 one time in five (its /health is fine), and
* a build whose pages are 300 ms slower,

are deployed over release 1. Per run: the outcome (rejected, or *passed*: the bad build went
live), the time to the verdict (from the canary's bake start to its end, from the playbook's
own events), and the blast radius (the bad build's answers the load saw: its 500s, or its slow
answers). Then ``--identical`` deploys in a row of a build with random 1% errors over a fleet
with the same random 1% errors, at ``--identical-rate``: how many of these good builds were
rejected (the false-fail rate), and how long each deploy took.

It only uses what every version of the orchestrator has (the sandbox, ``deploy_war``, the
events' phases), so the same script measures an older checkout for a before/after:
``git worktree add /tmp/before <commit> && .venv/bin/python bench/immune_system.py --root /tmp/before``.
"""

from __future__ import annotations

import argparse
import inspect
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def build(out: Path, version: str, *flags: str) -> Path:
    """The sample app, built with this checkout's build.sh (it has every fault knob)."""
    subprocess.run(
        [str(ROOT / "examples/webapp/build.sh"), "--version", version, "--out", str(out), *flags],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return out


def load_for(rate: float) -> tuple[int, float]:
    """(connections, pause in ms after each answer) for about ``rate`` requests/s of ~1 ms answers."""
    connections = 1 if rate <= 20 else 2 if rate <= 200 else 4
    return connections, max(0.0, connections * 1000 / rate - 1)


def load_at(url: str, rate: float):
    """wrk at about ``rate`` requests/s through ``url``, after 3 s of it (traffic before the deploy,
    as a live service has); stop it with ``.stop()``."""
    from tests.support.load import Load

    connections, pause = load_for(rate)
    load = Load(url, connections=connections, threads=1, delay_ms=pause, max_seconds=900).start()
    time.sleep(3)
    return load


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--rates",
        type=float,
        nargs="*",
        default=[10, 100, 1000],
        help="request rates for the bad builds (none: only the identical builds)",
    )
    parser.add_argument("--identical", type=int, default=10, help="deploys in a row of a build as good as the fleet")
    parser.add_argument("--identical-rate", type=float, default=200)
    parser.add_argument(
        "--worse",
        type=int,
        default=0,
        help="deploys of a build with 3%% random 5xx over the 1%% fleet, at --identical-rate",
    )
    parser.add_argument("--root", type=Path, default=ROOT, help="checkout to measure (default: this one)")
    args = parser.parse_args()
    sys.path.insert(0, str(args.root))
    sys.path.insert(1, str(ROOT))
    from orchestrator import pipeline
    from orchestrator.errors import OrchestratorError
    from orchestrator.records.history import History
    from orchestrator.sandbox import cluster as sandbox

    work = Path(tempfile.mkdtemp(prefix="orchestrator-bench-"))
    box = sandbox.Sandbox(directory=work / "sandbox", inventory=work / "inventory", nodes=2, net=7, bake_seconds=5)
    state = box.directory / "state"
    wars = {
        "v1": build(work / "v1.war", "1"),
        "5xx": build(work / "errors.war", "3", "--error-every", "5"),
        "+300 ms": build(work / "slow.war", "4", "--delay-ms", "300"),
        "noisy-a": build(work / "noisy-a.war", "5", "--error-rate", "0.01"),
        "noisy-b": build(work / "noisy-b.war", "6", "--error-rate", "0.01"),
        "worse": build(work / "worse.war", "7", "--error-rate", "0.03"),
    }
    bad_version = {"5xx": "3", "+300 ms": "4"}
    rows, identical, worse = [], [], []
    try:
        sandbox.up(box)
        history = History(state)

        def deploy(war: Path, rate: float) -> tuple[bool, float | None, object, float]:
            """Deploy under ~rate requests/s: (went live, canary bake seconds, load report, wall seconds)."""
            load = load_at(box.url, rate)
            began = time.monotonic()
            try:
                result = pipeline.deploy_war(
                    war, inventory=box.inventory, state_dir=state, history=history, deploy_id=history.start("manual")
                )
                live = True
            except OrchestratorError as exc:
                result, live = getattr(exc, "result", None), False
            finally:
                wall = time.monotonic() - began
                report = load.stop()
            canary = result.nodes.get("node1") if result is not None else None
            return live, canary.seconds("bake") if canary else None, report, wall

        def given(war: Path) -> None:
            """The fleet on ``war``, not judged (it is the starting point; it has nothing to prove)."""
            trusted = (
                {"known_good": "the benchmark's starting point"}
                if "known_good" in inspect.signature(pipeline.deploy_war).parameters
                else {}
            )  # older checkouts never fail an unjudged bake
            pipeline.deploy_war(
                war,
                inventory=box.inventory,
                state_dir=state,
                history=history,
                deploy_id=history.start("manual"),
                **trusted,
            )

        for rate in args.rates:
            for label in ("5xx", "+300 ms"):
                given(wars["v1"])
                live, seconds, report, _ = deploy(wars[label], rate)
                served = report.versions.get(bad_version[label], 0)
                blast = report.statuses.get("500", 0) if label == "5xx" else served
                rows.append((rate, label, report.requests / report.duration_s, live, seconds, blast, served))
                print(rows[-1], flush=True)

        given(wars["noisy-a"])
        for i in range(args.identical):
            war = wars["noisy-b" if i % 2 == 0 else "noisy-a"]
            live, seconds, report, wall = deploy(war, args.identical_rate)
            if not live:  # put the fleet back on one noisy release for the next run
                given(wars["noisy-a"])
            identical.append((live, wall, report.requests / report.duration_s))
            print(identical[-1], flush=True)
        for _ in range(args.worse):
            given(wars["noisy-a"])
            live, seconds, report, wall = deploy(wars["worse"], args.identical_rate)
            worse.append((live, seconds, report.statuses.get("500", 0), report.requests / report.duration_s))
            print(worse[-1], flush=True)
        history.close()
    finally:
        sandbox.down(box)
        shutil.rmtree(work, ignore_errors=True)

    print(f"\n{args.root}: bad builds over release 1 (2 nodes, sandbox bake settings)\n")
    print("| rate (req/s) | regression | outcome | time to verdict | blast radius | bad build's answers |")
    print("|---|---|---|---|---|---|")
    for _rate, label, measured, live, seconds, blast, served in rows:
        outcome = "**passed** (went live)" if live else "rejected"
        when = f"{seconds:.1f} s" if seconds is not None else "-"
        what = "500s" if label == "5xx" else "slow answers"
        print(f"| {measured:.0f} | {label} | {outcome} | {when} | {blast} {what} | {served} |")
    rejected = sum(1 for live, _, _ in identical if not live)
    walls = [wall for _, wall, _ in identical]
    if identical:
        rate = statistics.median(r for _, _, r in identical)
        print(
            f"\nidentical builds (random 1% errors on both sides) at {rate:.0f} req/s: {rejected} of "
            f"{len(identical)} rejected; deploy wall time median {statistics.median(walls):.0f} s "
            f"(min {min(walls):.0f}, max {max(walls):.0f})"
        )
    if worse:
        rate = statistics.median(r for *_, r in worse)
        caught = sum(1 for live, *_ in worse if not live)
        print(
            f"\n3% 5xx over a 1% fleet at {rate:.0f} req/s: {caught} of {len(worse)} rejected on the canary; time to "
            f"verdict median {statistics.median(s for _, s, _, _ in worse if s is not None):.1f} s; 500s the load saw "
            f"(both releases' together) median {statistics.median(b for _, _, b, _ in worse):.0f}"
        )


if __name__ == "__main__":
    main()
