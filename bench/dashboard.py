"""What the dashboard costs on the server: a history of 10,000 deploys (each with two nodes'
phases and a judged verdict with its full report), a 16-node deploy in it, and the pages and
the scrape timed through real HTTP on loopback (uvicorn, as `orchestrator dashboard` serves).

    .venv/bin/python bench/dashboard.py                 # 10,000 deploys, 50 requests per page
    .venv/bin/python bench/dashboard.py --deploys 50000 --requests 100

Per page: the median, 90th percentile and worst of the response times (the whole request: the
server's work and the loopback round trip, so an upper bound of the server's). /metrics is
reported cold (the first scrape after the history changed: every aggregate recounted) and warm.
The fleet (HAProxy, the nodes) is not read: its reading runs in the background, never in a request.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from orchestrator.dashboard.app import Site
from orchestrator.records.history import History
from tests.support.dashboard import NoFleet, call, serving
from tests.unit.test_dashboard import judged_report


def make_history(state_dir: Path, deploys: int) -> int:
    """``deploys`` deploys, written in one transaction; returns the id of the 16-node one."""
    history = History(state_dir)
    report = json.dumps(judged_report(looks=120), sort_keys=True)
    now = time.time() - deploys * 60
    history.db.execute("BEGIN")
    for i in range(deploys):
        t = now + i * 60
        outcome = ("deployed", "deployed", "deployed", "rejected", "failed")[i % 5]
        cur = history.db.execute(
            "INSERT INTO deploys (trigger, revision, release_id, pushed, claimed, built, tested, deploy_started,"
            " rolled, finished, outcome, stage, strategy) VALUES ('hg', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'done', 'rolling')",
            (f"{i:040x}", f"{i}-abc", t, t + 1, t + 10, t + 20, t + 21, t + 50, t + 51, outcome),
        )
        deploy_id = cur.lastrowid
        nodes = 16 if i == deploys // 2 else 2
        for n in range(nodes):
            start = t + 21 + 2 * n
            spans = {"drain": [start, start + 0.5], "install": [start + 0.5, start + 1], "bake": [start + 1, start + 6]}
            history.db.execute(
                "INSERT INTO node_results (deploy_id, node, old_release, new_release, outcome, phases, spans)"
                " VALUES (?, ?, ?, ?, 'done', ?, ?)",
                (deploy_id, f"node{n + 1}", f"{i - 1}-abc", f"{i}-abc", json.dumps({"bake": 5.0}), json.dumps(spans)),
            )
            if n == 0 or nodes == 16:
                history.db.execute(
                    "INSERT INTO verdicts VALUES (?, ?, ?, 'pass', 5.0, 'pass', ?, ?)",
                    (deploy_id, f"node{n + 1}", f"{i}-abc", report, "errors=pass latency=pass tail=pass"),
                )
        if nodes == 16:
            big = deploy_id
        history.db.execute(
            "INSERT INTO releases (release_id, version, status, changed, deployed, deploy_id) VALUES (?, ?, ?, ?, ?, ?)",
            (f"{i}-abc", str(i), "verified" if outcome == "deployed" else "rejected", t + 51, t + 51, deploy_id),
        )
    history.db.execute("COMMIT")
    history.close()
    return big


def timed(url: str, requests: int) -> list[float]:
    times = []
    for _ in range(requests):
        began = time.perf_counter()
        answer = call(url)
        times.append((time.perf_counter() - began) * 1000)
        assert answer.status == 200, (url, answer.status, answer.body[:300])
    return times


def line(name: str, times: list[float]) -> str:
    times = sorted(times)
    p90 = times[min(len(times) - 1, int(0.9 * len(times)))]
    return f"{name:<34} {statistics.median(times):>8.1f} {p90:>8.1f} {times[-1]:>8.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deploys", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=50, help="requests per page")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp)
        began = time.perf_counter()
        big = make_history(state, args.deploys)
        size = (state / "history.sqlite").stat().st_size / 1e6
        print(f"history: {args.deploys} deploys, {size:.0f} MB, written in {time.perf_counter() - began:.1f}s")
        site = Site(state / "no-inventory", state, None, None)
        with serving(site, feed=NoFleet()) as url:
            print(f"{'page':<34} {'median':>8} {'p90':>8} {'worst':>8}   (ms, {args.requests} requests each)")
            print(line("/deploys (newest 50)", timed(f"{url}/deploys", args.requests)))
            print(line("/deploys?outcome=rejected", timed(f"{url}/deploys?outcome=rejected", args.requests)))
            print(line(f"/deploys?before={big} (a middle page)", timed(f"{url}/deploys?before={big}", args.requests)))
            print(line(f"/deploys/{big} (16 nodes, 16 verdicts)", timed(f"{url}/deploys/{big}", args.requests)))
            print(line("/releases", timed(f"{url}/releases", max(5, args.requests // 10))))
            cold = []
            for _ in range(max(5, args.requests // 10)):
                history = History(state)  # another connection writes: the next scrape recounts
                history.record_action("pause", "bench", "refused", None)
                history.close()
                cold += timed(f"{url}/metrics", 1)
            print(line("/metrics (cold: history changed)", cold))
            print(line("/metrics (warm)", timed(f"{url}/metrics", args.requests)))


if __name__ == "__main__":
    main()
