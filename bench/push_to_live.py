#!/usr/bin/env python3
"""Push to live: trigger latency, time spent in the push hook, push → live with stages.

    .venv/bin/python bench/push_to_live.py [--flags 100] [--pushes 20] [--deploys 3]

1. Trigger latency: a flag is written (temp file + rename, as the hooks do) and the real
   watcher (watchdog, claim by rename, validation) reacts; the time from the write to the start
   of the pipeline is taken, one flag at a time. The pipeline itself is replaced by a timestamp
   here so that --flags runs take seconds, not a deploy each. Compared with the original setup's
   cron poll, uniform over 0-60 s (mean 30 s).
2. Hook time: `hg push` of one changeset to a repository with the hook and to one without,
   --pushes times each; the difference is what the hook adds to a push.
3. Push → live: the sandbox (127.0.6.x) with `orchestrator watch` running; a commit is pushed and
   HAProxy is polled until the new version answers. The history gives the stage breakdown.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from orchestrator import config as config_lib
from orchestrator import flags as flag_lib
from orchestrator import pipeline
from orchestrator.push import hooks
from orchestrator.push.watcher import Watcher, ensure_spool
from orchestrator.records.deploys import STAGES
from orchestrator.records.history import History
from orchestrator.sandbox import cluster as sandbox
from tests.support.cli import orchestrator_command
from tests.support.load import wait_until


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def dist(values: list[float], unit: str = "ms", scale: float = 1000) -> str:
    return (
        f"p50 {pct(values, 50) * scale:.1f} {unit}, p99 {pct(values, 99) * scale:.1f} {unit}, "
        f"max {max(values) * scale:.1f} {unit} (n={len(values)})"
    )


def trigger_latency(work: Path, count: int) -> list[float]:
    repo = work / "latency-repo"
    subprocess.run(["hg", "init", str(repo)], check=True)
    spool = work / "latency-spool"
    ensure_spool(spool)
    (work / "latency.toml").write_text(f"""
[source]
repository = "{repo}"
branch = "default"
[spool]
directory = "{spool}"
[build]
command = "true"
artifact = "*.war"
[test]
command = "true"
[deploy]
inventory = "{work}"
state_directory = "{work / "latency-state"}"
rescan_seconds = 5
""")
    config = config_lib.load(work / "latency.toml")
    started: list[float] = []
    got = threading.Event()

    def fake_run(config, trigger, **kwargs):  # the pipeline's start is what is measured
        started.append(time.time())
        got.set()
        return 0

    real_run, pipeline.run = pipeline.run, fake_run
    history = History(config.state_dir)
    watcher = Watcher(config, history=history, say=lambda m: None)
    thread = threading.Thread(target=watcher.run)
    thread.start()
    latencies = []
    try:
        time.sleep(0.5)  # let the observer start before the first flag
        for i in range(count):
            got.clear()
            flag = flag_lib.make("manual", str(repo), "default", f"{i:012x}")
            flag_lib.write(str(spool), flag)
            if not got.wait(timeout=30):
                raise RuntimeError(f"flag {i} was not picked up in 30 s")
            latencies.append(started[-1] - flag.pushed_at)
    finally:
        watcher.stop()
        thread.join(timeout=30)
        pipeline.run = real_run
        history.close()
    return latencies


def hg(cwd: Path, *args: str) -> None:
    subprocess.run(["hg", *args], cwd=cwd, check=True, capture_output=True)


def push_times(work: Path, pushes: int, with_hook: bool) -> list[float]:
    central, clone = work / f"central-{with_hook}", work / f"clone-{with_hook}"
    hg(work, "init", str(central))
    if with_hook:
        ensure_spool(work / "hook-spool")
        hooks.install_hg(central, work / "hook-spool")
    hg(work, "clone", "-q", str(central), str(clone))
    (clone / ".hg" / "hgrc").write_text(f"[paths]\ndefault = {central}\n[ui]\nusername = bench <b@localhost>\n")
    times = []
    for i in range(pushes):
        (clone / "f").write_text(str(i))
        if i == 0:
            hg(clone, "add", "f")
        hg(clone, "commit", "-q", "-m", str(i))
        began = time.perf_counter()
        hg(clone, "push", "-q")
        times.append(time.perf_counter() - began)
    return times


def served(url: str) -> str:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.read().decode().strip()
    except OSError:
        return ""


def finished_row(box: sandbox.Sandbox):
    history = History(box.directory / "state")
    try:
        row = history.list(1)[0]
    finally:
        history.close()
    return row if row.outcome != "running" else None


def push_to_live(work: Path, deploys: int) -> list[tuple[float, dict]]:
    box = sandbox.Sandbox(directory=work / "sandbox", inventory=work / "inventory", nodes=2, net=6)
    results = []
    watch = None
    try:
        sandbox.up(box)
        log = open(work / "watch.log", "wb")
        watch = subprocess.Popen(
            orchestrator_command("watch", "--config", box.config),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        wait_until(lambda: served(box.url) == "Hello from version 1", timeout=180, interval=0.2, what="version 1 live")
        for i in range(deploys):
            version = str(100 + i)
            (box.clone / "VERSION").write_text(version + "\n")
            hg(box.clone, "commit", "-q", "-m", version)
            began = time.time()
            hg(box.clone, "push", "-q")
            wait_until(
                lambda want=f"Hello from version {version}": served(box.url) == want,
                timeout=300,
                interval=0.05,
                what=f"version {version} live",
            )
            live = time.time() - began
            row = wait_until(lambda: finished_row(box), timeout=120, interval=0.2, what="deploy recorded")
            results.append((live, row.times))
    finally:
        if watch is not None:
            watch.terminate()
            watch.wait(timeout=120)
        sandbox.down(box)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--flags", type=int, default=100)
    parser.add_argument("--pushes", type=int, default=20)
    parser.add_argument("--deploys", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="orchestrator-bench-"))
    try:
        latencies = trigger_latency(work, args.flags)
        print(f"flag written -> pipeline start: {dist(latencies)}")
        print("original cron poll (uniform 0-60 s): p50 30000 ms, p99 59400 ms, max 60000 ms, mean 30 s")
        with_hook, without = push_times(work, args.pushes, True), push_times(work, args.pushes, False)
        print(f"hg push with the hook:    {dist(with_hook)}")
        print(f"hg push without the hook: {dist(without)}")
        print(f"added by the hook (p50 difference): {(pct(with_hook, 50) - pct(without, 50)) * 1000:.1f} ms")
        print("\npush -> live, sample app, 2 nodes, build and tests included:")
        print("| push | live after | " + " | ".join(f"{s} (s after push)" for s in STAGES[1:]) + " |")
        print("|---|---|" + "---|" * (len(STAGES) - 1))
        for i, (live, times) in enumerate(push_to_live(work, args.deploys), start=1):
            base = times["pushed"]
            cells = " | ".join(f"{times[s] - base:.2f}" if times[s] else "-" for s in STAGES[1:])
            print(f"| {i} | {live:.1f} s | {cells} |")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
