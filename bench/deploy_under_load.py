#!/usr/bin/env python3
"""Rolling deploy under load vs. the naive stop/copy/start loop, on one sandbox, in one run.

    .venv/bin/python bench/deploy_under_load.py [--nodes 2] [--connections 16] [--delay-ms 0]
    .venv/bin/python bench/deploy_under_load.py --strategy bluegreen [--nodes 2] [--serial 100%]

Sets up its own sandbox on 127.0.5.x (stopped again at the end), deploys release 1, then:

  A. `orchestrator deploy` of release 2 while wrk keeps --connections busy through HAProxy;
  B. the original cron script's way for release 3: per node, stop Tomcat, copy the WAR, start,
     wait until the node answers (no drain: HAProxy finds out from failed checks), same load;
  C. the same naive loop for release 1 again, behind the original setup's HAProxy backend:
     no `option redispatch` and HAProxy's default retry policy (conn-failure, same server).

For each it prints requests, failures (non-2xx and socket errors), p50/p99/max latency, the
longest time in which no request completed, the deploy's wall time, and each node's phase
times. The floor is the sum over nodes of Tomcat's own stop + start-to-healthy time, as the
modules measured them in the same run (stop, start, verify); the ratios are wall time / floor.

With --strategy bluegreen it compares the two strategies instead, in one run and under the same
load: a rolling sandbox (127.0.<net>.x) and a blue/green one (127.0.<net+1>.x) each deploy
release 2 over release 1 (bake off), then roll back to release 1; and the naive stop/copy/start
loop runs on the rolling one. It prints each one's wall time, failures and lowest count of
servers UP, the rollbacks' wall time and, for blue/green, the HAProxy switch itself.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ansible_collections.orchestrator.fleet.plugins.module_utils.processes import owned_pid, terminate
from orchestrator.fleet.runner import Event
from orchestrator.rollout import roll as rollout
from orchestrator.sandbox import cluster as sandbox
from tests.support import load as load_lib
from tests.support.load import UpCount, healthy, wait_until

FLOOR_TASKS = {"verify | Wait until the node itself answers healthy with the expected release": "verify"}
# the restart in one call (webapp_install) returns its stop's and start's own results
RESTART_TASK = "stop | Stop Tomcat, install the release, start Tomcat (catalina, one call)"


def build(out: Path, version: str) -> Path:
    subprocess.run(
        [str(ROOT / "examples/webapp/build.sh"), "--version", version, "--out", str(out)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return out


def orchestrated(box: sandbox.Sandbox, war: Path, state: Path) -> tuple[float, dict, dict]:
    """Deploy through the orchestrator; returns wall time, floor parts per node, phase times per node."""
    floor: dict[str, dict[str, float]] = {}

    class FloorTimes(rollout.RollListener):
        def event(self, event: Event) -> None:
            if event.kind != "runner_on_ok":
                return
            part = FLOOR_TASKS.get(event.task)
            if part and "seconds" in event.result:
                floor.setdefault(event.host, {})[part] = float(event.result["seconds"])
            elif event.task == RESTART_TASK:
                for part in ("stop", "start"):
                    floor.setdefault(event.host, {})[part] = float(event.result[part]["seconds"])

    began = time.monotonic()
    result = rollout.roll_out(rollout.prepare(war, inventory=box.inventory), state_dir=state, listener=FloorTimes())
    wall = time.monotonic() - began
    phases = {
        n: {p: result.nodes[n].seconds(p) for p in ("ship", "drain", "stop", "install", "start", "verify", "enable")}
        for n in box.node_names
    }
    # the rolling part alone, without Ansible's start-up, the preflight and the parallel ship
    roll = (
        max(result.nodes[n].spans["enable"][1] for n in box.node_names)
        - min(result.nodes[n].spans["drain"][0] for n in box.node_names)
    ).total_seconds()
    return wall, floor, phases, roll


def naive(box: sandbox.Sandbox, war: Path) -> tuple[float, dict]:
    """The original cron script: per node stop, copy, start, wait until it answers. No drain."""
    per_node = {}
    began = time.monotonic()
    for i, name in enumerate(box.node_names, start=1):
        base = box.tomcat_base(name)
        t0 = time.monotonic()
        pid = owned_pid(base / "temp" / "catalina.pid", f"-Dcatalina.base={base}")
        if pid:
            terminate(pid, timeout=30)
        # catalina.sh refuses to start while the PID file names a process, even a zombie
        (base / "temp" / "catalina.pid").unlink(missing_ok=True)
        t1 = time.monotonic()
        shutil.copyfile(war, base / "webapps" / "ROOT.war")
        shutil.rmtree(base / "webapps" / "ROOT", ignore_errors=True)
        shutil.rmtree(base / "work" / "Catalina" / "localhost" / "ROOT", ignore_errors=True)
        env = dict(
            os.environ,
            CATALINA_BASE=str(base),
            CATALINA_HOME="/usr/share/tomcat10",
            CATALINA_PID=str(base / "temp" / "catalina.pid"),
        )
        subprocess.run(
            ["/usr/share/tomcat10/bin/catalina.sh", "start"],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        health_url = f"http://{box.node_address(i)}:{sandbox.PORT}/health"
        wait_until(lambda url=health_url: healthy(url), timeout=60, what=f"{name} healthy")
        t2 = time.monotonic()
        per_node[name] = {"stop": t1 - t0, "start": t2 - t1}
    return time.monotonic() - began, per_node


def original_haproxy(box: sandbox.Sandbox) -> None:
    """Re-render the load balancer as the original setup had it, and reload it."""
    host_vars = box.inventory / "host_vars"
    host_vars.mkdir(exist_ok=True)
    (host_vars / "lb1.yml").write_text("haproxy_redispatch: false\nhaproxy_retry_on: conn-failure\n")
    sandbox.up(box)


def under_load(box: sandbox.Sandbox, args, action):
    return load_lib.under_load(box.url, action, connections=args.connections, delay_ms=args.delay_ms)


def strategies(args) -> None:
    """Rolling vs blue/green vs the naive loop, deploy and rollback, under the same load."""
    from orchestrator.fleet.inventory import load_fleet
    from orchestrator.rollout import bluegreen

    work = Path(tempfile.mkdtemp(prefix="orchestrator-bench-"))
    boxes = {
        s: sandbox.Sandbox(
            directory=work / s / "sandbox",
            inventory=work / s / "inventory",
            nodes=args.nodes,
            net=args.net + i,
            strategy=s,
        )
        for i, s in enumerate(("rolling", "bluegreen"))
    }
    results: dict[str, dict] = {}
    try:
        print(
            f"{args.nodes} nodes per sandbox; load: wrk, {args.connections} connections, delay {args.delay_ms} ms; "
            f"blue/green batch size {args.serial}",
            flush=True,
        )
        for box in boxes.values():
            sandbox.up(box)
        wars = {v: build(work / f"app-{v}.war", v) for v in ("1", "2", "3")}
        for strategy, box in boxes.items():
            state = work / strategy / "state"
            serial = args.serial if strategy == "bluegreen" else None
            rollout.roll_out(rollout.prepare(wars["1"], inventory=box.inventory, serial=serial), state_dir=state)

            def timed(action):
                began = time.monotonic()
                with UpCount(str(box.socket)) as up:
                    outcome = action()
                return time.monotonic() - began, up.lowest, outcome

            (wall, lowest, _), load = under_load(
                box,
                args,
                lambda: timed(
                    lambda: rollout.roll_out(
                        rollout.prepare(wars["2"], inventory=box.inventory, serial=serial), state_dir=state
                    )
                ),
            )
            results[strategy] = {"deploy": (wall, lowest, load)}
            if strategy == "bluegreen":
                switch = {}

                def heard(event: Event) -> None:
                    if event.kind == "runner_on_ok" and event.task.startswith("enable | Switch"):
                        switch[event.host] = max(
                            float(r.get("up_seconds", 0)) + float(r.get("drain_seconds", 0))
                            for r in event.result.get("results", [event.result])
                        )

                release = rollout.prepare(wars["1"], inventory=box.inventory).war.release_id
                (wall, lowest, _), load = under_load(
                    box,
                    args,
                    lambda: timed(
                        lambda: bluegreen.switch_back(
                            load_fleet(box.inventory), release, "1", state_dir=state, on_event=heard
                        )
                    ),
                )
                results[strategy]["rollback"] = (wall, lowest, load, max(switch.values()))
                bluegreen.cancel_promote(state)
            else:
                (wall, lowest, _), load = under_load(
                    box,
                    args,
                    lambda: timed(
                        lambda: rollout.roll_out(
                            rollout.prepare(wars["1"], inventory=box.inventory), state_dir=state, known_good="benchmark"
                        )
                    ),
                )
                results[strategy]["rollback"] = (wall, lowest, load, None)
                (wall, _), load = under_load(box, args, lambda: naive(box, wars["3"]))
                results["naive"] = {"deploy": (wall, None, load)}
    finally:
        for box in boxes.values():
            sandbox.down(box)
        shutil.rmtree(work, ignore_errors=True)

    print("\n| | rolling | blue/green | naive stop/copy/start |")
    print("|---|---|---|---|")
    deploys = [results[s]["deploy"] for s in ("rolling", "bluegreen", "naive")]
    print(row("deploy wall time", *(f"{d[0]:.1f} s" for d in deploys)))
    print(row("deploy: failed of requests", *(f"{d[2].failed} of {d[2].requests}" for d in deploys)))
    print(row(f"deploy: lowest servers UP (of {args.nodes} nodes)", *("-" if d[1] is None else d[1] for d in deploys)))
    print(row("blue/green wall / rolling wall", "", f"{deploys[1][0] / deploys[0][0]:.2f}", ""))
    backs = [results[s]["rollback"] for s in ("rolling", "bluegreen")]
    print(row("rollback wall time", *(f"{b[0]:.1f} s" for b in backs), "-"))
    print(row("rollback: HAProxy switch", "-", f"{backs[1][3]:.3f} s", "-"))
    print(row("rollback: failed of requests", *(f"{b[2].failed} of {b[2].requests}" for b in backs), "-"))
    print(row("rollback: lowest servers UP", *(b[1] for b in backs), "-"))


def row(name: str, *cells) -> str:
    return f"| {name} | " + " | ".join(str(c) for c in cells) + " |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--delay-ms", type=float, default=0, help="pause per request per connection (0: full speed)")
    parser.add_argument("--net", type=int, default=5)
    parser.add_argument(
        "--strategy",
        choices=["rolling", "bluegreen"],
        default="rolling",
        help="bluegreen: compare the two strategies (and the naive loop) instead",
    )
    parser.add_argument("--serial", default="100%", help="blue/green batch size (deploy_serial) [default: 100%%]")
    args = parser.parse_args()
    if args.strategy == "bluegreen":
        strategies(args)
        return

    work = Path(tempfile.mkdtemp(prefix="orchestrator-bench-"))
    box = sandbox.Sandbox(directory=work / "sandbox", inventory=work / "inventory", nodes=args.nodes, net=args.net)
    try:
        print(
            f"sandbox: {args.nodes} nodes on 127.0.{args.net}.x; load: wrk, {args.connections} connections, "
            f"delay {args.delay_ms} ms per request",
            flush=True,
        )
        sandbox.up(box)
        wars = {v: build(work / f"app-{v}.war", v) for v in ("1", "2", "3")}
        rollout.roll_out(rollout.prepare(wars["1"], inventory=box.inventory), state_dir=work / "state")

        (wall_a, floor, phases, roll_a), load_a = under_load(
            box, args, lambda: orchestrated(box, wars["2"], work / "state")
        )
        (wall_b, naive_nodes), load_b = under_load(box, args, lambda: naive(box, wars["3"]))
        original_haproxy(box)
        (wall_c, _), load_c = under_load(box, args, lambda: naive(box, wars["1"]))
    finally:
        sandbox.down(box)
        shutil.rmtree(work, ignore_errors=True)

    floor_total = sum(sum(parts.values()) for parts in floor.values())
    roll_floor = {n: sum(p.values()) for n, p in floor.items()}
    print("\n| | orchestrator (drain first) | naive stop/copy/start | naive, original HAProxy backend |")
    print("|---|---|---|---|")
    for name, get in [
        ("requests", lambda r: r.requests),
        ("failed (non-2xx + socket errors)", lambda r: f"{r.failed} ({r.non2xx} + {r.socket_errors})"),
        ("p50 latency", lambda r: f"{r.latency_p50_ms:.1f} ms"),
        ("p99 latency", lambda r: f"{r.latency_p99_ms:.1f} ms"),
        ("max latency", lambda r: f"{r.latency_max_ms:.0f} ms"),
        ("longest stall (no request completed)", lambda r: f"{r.max_stall_s:.2f} s"),
        ("statuses", lambda r: r.statuses),
    ]:
        print(row(name, get(load_a), get(load_b), get(load_c)))
    print(row("deploy wall time", f"{wall_a:.1f} s", f"{wall_b:.1f} s", f"{wall_c:.1f} s"))
    print(row("floor: Tomcat stop + start-to-healthy, all nodes", f"{floor_total:.1f} s", "-", "-"))
    print(
        row("wall / floor", f"{wall_a / floor_total:.2f}", f"{wall_b / floor_total:.2f}", f"{wall_c / floor_total:.2f}")
    )
    print(
        row(
            "roll only (first drain to last UP) / floor",
            f"{roll_a:.1f} s / {floor_total:.1f} s = {roll_a / floor_total:.2f}",
            "-",
            "-",
        )
    )

    print(
        "\nper node, orchestrator (seconds per phase, as the deploy reports them; floor from the modules' own timings):"
    )
    print("| node | ship | drain | stop | install | start | verify | enable | floor (stop+start+healthy) |")
    print("|---|---|---|---|---|---|---|---|---|")
    for n, p in phases.items():
        cells = " | ".join(
            "-" if p[k] is None else f"{p[k]:.2f}"
            for k in ("ship", "drain", "stop", "install", "start", "verify", "enable")
        )
        print(f"| {n} | {cells} | {roll_floor.get(n, 0):.2f} |")
    print(
        "\nper node, naive: "
        + ", ".join(f"{n} stop {t['stop']:.2f}s start-to-healthy {t['start']:.2f}s" for n, t in naive_nodes.items())
    )


if __name__ == "__main__":
    main()
