"""/metrics: the history and the fleet in Prometheus' text format, counted at each scrape.

The history's numbers are SQL aggregates over one connection that only reads, recounted only when
another connection wrote to it since the last scrape (SQLite's data_version), so a scrape costs
the same with 10 deploys or 10,000. The fleet's come from the feed's newest reading.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    InfoMetricFamily,
)

from orchestrator.control import gatekeeper as control
from orchestrator.control import maintenance
from orchestrator.dashboard.fleet_feed import FleetFeed
from orchestrator.records.lock import DeployLock

# seconds from the push (or the claim) to the end
DURATION_BUCKETS = (10, 20, 30, 45, 60, 90, 120, 180, 300, 600, 1200, 1800, 3600)
FINISHED = "outcome != 'running'"
STARTED = "COALESCE(pushed, claimed, expand_started, deploy_started)"


class HistoryCounts:
    """The aggregates of the history, cached until it changes."""

    def __init__(self, state_dir: Path):
        self.path = Path(state_dir) / "history.sqlite"
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._cached: tuple[int, dict] | None = None

    def read(self) -> dict:
        with self._lock:
            if self._db is None:
                if not self.path.exists():
                    return {"deploys": [], "durations": {}, "verdicts": [], "last_success": None}
                # (not mode=ro: a read-only connection can not open a WAL database whose -shm is gone)
                self._db = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
            version = self._db.execute("PRAGMA data_version").fetchone()[0]
            if self._cached is None or self._cached[0] != version:
                self._cached = (version, self._count())
            return self._cached[1]

    def _count(self) -> dict:
        db = self._db
        assert db is not None
        deploys = db.execute(
            f"""SELECT outcome, COALESCE(strategy, CASE WHEN EXISTS (SELECT 1 FROM node_results n
                       WHERE n.deploy_id = d.id AND n.slot IS NOT NULL) THEN 'bluegreen' ELSE 'rolling' END), count(*)
                FROM deploys d WHERE {FINISHED} GROUP BY 1, 2"""
        ).fetchall()
        buckets = ", ".join(f"SUM(finished - {STARTED} <= {b})" for b in DURATION_BUCKETS)
        durations = {
            row[0]: row[1:]
            for row in db.execute(
                f"""SELECT outcome, {buckets}, count(*), SUM(finished - {STARTED}) FROM deploys
                    WHERE {FINISHED} AND finished IS NOT NULL AND {STARTED} IS NOT NULL GROUP BY outcome"""
            )
        }
        # each verdict's metrics were summed up as it was recorded (history: verdicts.results): a
        # scrape groups those short strings, it never parses a report
        counted: dict[tuple[str, str], int] = {}
        for results, verdict, n in db.execute("SELECT results, verdict, count(*) FROM verdicts GROUP BY 1, 2"):
            counted[("release", verdict)] = counted.get(("release", verdict), 0) + n
            for pair in (results or "").split():
                metric, _, result = pair.partition("=")
                counted[(metric, result)] = counted.get((metric, result), 0) + n
        verdicts = [(metric, result, n) for (metric, result), n in sorted(counted.items())]
        last = db.execute("SELECT max(finished) FROM deploys WHERE outcome = 'deployed'").fetchone()[0]
        return {"deploys": deploys, "durations": durations, "verdicts": verdicts, "last_success": last}


class Collector:
    """prometheus_client's custom collector: every metric computed at scrape time."""

    def __init__(self, state_dir: Path, feed: FleetFeed | None):
        self.state_dir, self.feed = Path(state_dir), feed
        self.counts = HistoryCounts(state_dir)

    def collect(self):
        counts = self.counts.read()
        deploys = CounterMetricFamily(
            "orchestrator_deploys",
            "Deploys (and rollbacks) that ended, by outcome and strategy",
            labels=["outcome", "strategy"],
        )
        for outcome, strategy, n in counts["deploys"]:
            deploys.add_metric([outcome, strategy], n)
        yield deploys

        duration = HistogramMetricFamily(
            "orchestrator_deploy_duration_seconds",
            "Seconds from the push (or the claim) to the end of each deploy, by outcome",
            labels=["outcome"],
        )
        for outcome, row in counts["durations"].items():
            *cumulative, total, seconds = row
            buckets = [(str(float(b)), int(n or 0)) for b, n in zip(DURATION_BUCKETS, cumulative, strict=True)]
            duration.add_metric([outcome], [*buckets, ("+Inf", int(total))], float(seconds or 0.0))
        yield duration

        verdicts = CounterMetricFamily(
            "orchestrator_verdicts",
            "The judge's verdicts: per metric (errors, latency, tail) and for the release as a whole",
            labels=["metric", "result"],
        )
        for metric, result, n in counts["verdicts"]:
            verdicts.add_metric([str(metric), str(result)], n)
        yield verdicts

        last = GaugeMetricFamily(
            "orchestrator_last_successful_deploy_timestamp_seconds", "When the last deploy that went live ended"
        )
        if counts["last_success"] is not None:
            last.add_metric([], counts["last_success"])
        yield last

        yield GaugeMetricFamily(
            "orchestrator_deploy_in_progress",
            "1 while a deploy (or rollback, recover, apply) holds the deploy lock",
            value=1 if DeployLock(self.state_dir).held_by() else 0,
        )
        gate = control.current(self.state_dir) or {}
        paused = GaugeMetricFamily(
            "orchestrator_deploy_paused",
            "1 while the roll in progress waits: paused, or for promotion",
            labels=["waiting"],
        )
        for waiting in ("paused", "promotion"):
            paused.add_metric([waiting], 1 if gate.get("waiting") == waiting else 0)
        yield paused
        yield GaugeMetricFamily(
            "orchestrator_maintenance",
            "1 while maintenance mode is on (as the orchestrator last set it)",
            value=1 if maintenance.recorded(self.state_dir) else 0,
        )
        yield from self._fleet()

    def _fleet(self):
        if self.feed is None:
            return
        reading = self.feed.latest()
        info = InfoMetricFamily("orchestrator_node_release", "The release each node (or slot) serves", labels=["node"])
        up = GaugeMetricFamily(
            "orchestrator_node_up", "1 when the server is UP in the load balancer", labels=["node", "loadbalancer"]
        )
        if reading.status is not None:
            for node in reading.status.nodes:
                info.add_metric([node.name], {"release": node.release or "", "slot": node.slot})
                for lb, state in node.haproxy.items():
                    up.add_metric([node.name, lb], 1 if str(state).startswith("UP") else 0)
        yield info
        yield up
        read = GaugeMetricFamily(
            "orchestrator_fleet_read_timestamp_seconds",
            "When HAProxy and the nodes were last read (the node metrics' age)",
        )
        if reading.at is not None:
            read.add_metric([], reading.at)
        yield read


def registry(state_dir: Path, feed: FleetFeed | None) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(Collector(state_dir, feed))
    return registry


def scrape(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)
