#!/usr/bin/env python3
"""Push -> live with schema migrations, under load on pages that write the database.

    .venv/bin/python bench/migrations.py [--delay-ms 10] [--connections 8]

A sandbox with its own PostgreSQL (127.0.13.x, database on 127.0.13.200), `orchestrator watch`
running, wrk through HAProxy the whole time (each page inserts a visit and reads one). Pushes:

    1 -> 2   002 adds a column (expand); release 2 writes it
    2 -> 3   003 drops the old column (contract): after every node's bake
    3 -> 4   004 adds the old column back (expand); release 4 writes both again
    4 -> 5   negative control, the wrong order: 005 drops it again, marked *expand*, so it
             runs before the roll while release 4 still serves and writes it

For each push: the stages' times from the history (build, test, expand, roll, contract, push to
finished) and the requests that failed while it went live. Only the benchmark marks a drop as
expand; the orchestrator has no such mode.
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

from orchestrator.records.history import History
from orchestrator.sandbox import cluster as sandbox
from tests.support.cli import orchestrator_command
from tests.support.load import Load, wait_until

NET = 13
PUSHES = [
    (
        "2",
        {"002-add-version.expand.sql": "ALTER TABLE visits ADD COLUMN version text;"},
        "node,version",
        "expand adds a column",
    ),
    (
        "3",
        {"003-drop-node.contract.sql": "ALTER TABLE visits DROP COLUMN node;"},
        "version",
        "contract drops the old column",
    ),
    (
        "4",
        {"004-add-node-back.expand.sql": "ALTER TABLE visits ADD COLUMN node text;"},
        "node,version",
        "expand adds it back",
    ),
    (
        "5",
        {"005-drop-node-too-early.expand.sql": "ALTER TABLE visits DROP COLUMN node;"},
        "version",
        "negative control: the drop as expand",
    ),
]


def hg(clone: Path, *args: str) -> None:
    subprocess.run(["hg", *args], cwd=clone, check=True, capture_output=True)


def newest(box: sandbox.Sandbox):
    history = History(box.directory / "state")
    try:
        rows = history.list(1)
        return rows[0] if rows else None
    finally:
        history.close()


def span(times: dict, start: str, end: str) -> str:
    return f"{times[end] - times[start]:.2f}" if times.get(start) and times.get(end) else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--delay-ms", type=float, default=10, help="wrk's pause per request on each connection")
    parser.add_argument("--connections", type=int, default=8)
    args = parser.parse_args()
    # PostgreSQL runs as the postgres user when this runs as root: the directory must be searchable
    work = Path(tempfile.mkdtemp(prefix="orchestrator-bench-migrations-"))
    work.chmod(0o711)
    box = sandbox.Sandbox(
        directory=work / "sandbox", inventory=work / "inventory", nodes=2, net=NET, bake_seconds=2, database=True
    )
    watch = None
    rows = []
    try:
        sandbox.up(box)
        log = open(work / "watch.log", "wb")
        watch = subprocess.Popen(
            orchestrator_command("watch", "--config", box.config),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        wait_until(
            lambda: (r := newest(box)) is not None and r.outcome == "deployed",
            timeout=300,
            interval=0.5,
            what="release 1 live",
        )
        for version, migrations, columns, what in PUSHES:
            for name, sql in migrations.items():
                (box.clone / "db" / "migrations" / name).write_text(sql + "\n")
            (box.clone / "db" / "columns").write_text(columns + "\n")
            (box.clone / "VERSION").write_text(version + "\n")
            hg(box.clone, "add", "-q")
            hg(box.clone, "commit", "-q", "-m", f"release {version}: {what}")
            before = newest(box).id
            load = Load(
                box.url, connections=args.connections, threads=1, delay_ms=args.delay_ms, max_seconds=600
            ).start()
            time.sleep(1.0)
            hg(box.clone, "push", "-q")
            record = wait_until(
                lambda: (r := newest(box)) is not None and r.id > before and r.outcome != "running" and r,
                timeout=600,
                interval=0.5,
                what=f"release {version}'s deploy",
            )
            time.sleep(1.0)
            report = load.stop()
            rows.append((version, what, record, report))
            print(f"release {version} ({what}): {record.outcome}; {report.line()}", flush=True)
    finally:
        if watch is not None:
            watch.terminate()
            watch.wait(timeout=300)
        sandbox.down(box)
        shutil.rmtree(work, ignore_errors=True)
    print(
        "\n| release | change | outcome | build | test | expand | roll | contract | push -> finished | "
        "requests | failed |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for version, what, r, report in rows:
        t = r.times
        print(
            f"| {version} | {what} | {r.outcome} | {span(t, 'claimed', 'built')} s | {span(t, 'built', 'tested')} s | "
            f"{span(t, 'expand_started', 'expanded')} s | {span(t, 'deploy_started', 'rolled')} s | "
            f"{span(t, 'contract_started', 'contracted')} s | {span(t, 'pushed', 'finished')} s | "
            f"{report.requests} | {report.failed} ({100 * report.failed / max(report.requests, 1):.1f}%) |"
        )


if __name__ == "__main__":
    main()
