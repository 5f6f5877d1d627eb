"""Drive wrk against the sandbox for as long as a deploy runs, and read what it saw.

Used by the integration tests and the benchmarks alike:

    with Load(url, connections=16) as load:
        ...deploy...
    report = load.report   # requests, failures, latency, longest stall, versions served
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

LUA = Path(__file__).with_name("load.lua")


@dataclass(frozen=True)
class LoadReport:
    requests: int
    duration_s: float
    non2xx: int
    socket_errors: int
    latency_p50_ms: float
    latency_p99_ms: float
    latency_max_ms: float
    max_stall_s: float
    statuses: dict[str, int] = field(default_factory=dict)
    versions: dict[str, int] = field(default_factory=dict)

    @property
    def failed(self) -> int:
        return self.non2xx + self.socket_errors

    def line(self) -> str:
        return (
            f"{self.requests} requests in {self.duration_s:.1f}s, {self.failed} failed "
            f"({self.non2xx} non-2xx, {self.socket_errors} socket errors), p99 {self.latency_p99_ms:.1f} ms, "
            f"max {self.latency_max_ms:.1f} ms, longest stall {self.max_stall_s:.2f}s, versions {self.versions}"
        )

    @classmethod
    def parse(cls, stdout: str) -> LoadReport:
        for line in stdout.splitlines():
            if line.startswith("WRK_REPORT "):
                d = json.loads(line[len("WRK_REPORT ") :])
                return cls(
                    requests=int(d["requests"]),
                    duration_s=d["duration_s"],
                    non2xx=int(d["non2xx"]),
                    socket_errors=int(d["errors_connect"] + d["errors_read"] + d["errors_write"] + d["errors_timeout"]),
                    latency_p50_ms=d["latency_p50_ms"],
                    latency_p99_ms=d["latency_p99_ms"],
                    latency_max_ms=d["latency_max_ms"],
                    max_stall_s=d["max_stall_s"],
                    statuses={k: int(v) for k, v in d["statuses"].items()},
                    versions={k: int(v) for k, v in d["versions"].items()},
                )
        raise RuntimeError(f"wrk printed no report:\n{stdout[-2000:]}")


class Load:
    """wrk in the background, bounded by ``max_seconds``; stopped with SIGINT, which makes it report."""

    def __init__(
        self,
        url: str,
        *,
        connections: int = 16,
        threads: int = 2,
        delay_ms: float = 0,
        max_seconds: int = 300,
        timeout_s: int = 5,
    ):
        if shutil.which("wrk") is None:
            raise RuntimeError("wrk is not installed: apt-get install wrk")
        self.connections = connections
        self.argv = [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{max_seconds}s",
            f"--timeout={timeout_s}s",
            "-s",
            str(LUA),
            url,
            "--",
            str(delay_ms),
        ]
        self.proc: subprocess.Popen | None = None
        self.report: LoadReport | None = None

    def start(self) -> Load:
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        return self

    def stop(self) -> LoadReport:
        assert self.proc is not None
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGINT)
        out, _ = self.proc.communicate(timeout=30)
        self.report = LoadReport.parse(out)
        return self.report

    def __enter__(self) -> Load:
        # already started (e.g. by a helper that waited for its connections): never a second wrk
        return self if self.proc is not None else self.start()

    def __exit__(self, exc_type, exc, tb) -> None:
        if self.proc is None:
            return
        if exc_type is None:
            self.stop()
        elif self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


def wait_until(predicate, *, timeout: float, interval: float = 0.05, what: str = "condition"):
    """Poll ``predicate`` until it returns a truthy value; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what} not reached within {timeout}s")
        time.sleep(interval)


def healthy(url: str) -> bool:
    """``url`` answers 200 within a second."""
    try:
        with urllib.request.urlopen(url, timeout=1) as resp:
            return resp.status == 200
    except OSError:
        return False


def under_load(url: str, action, *, connections: int = 16, delay_ms: float = 0, max_seconds: int = 600):
    """Run ``action`` while wrk keeps ``connections`` busy through ``url``; returns (its result, the LoadReport).

    A second of steady load comes before it (a baseline for the stall measure) and one after
    it (a failure right at the end must be counted).
    """
    load = Load(url, connections=connections, delay_ms=delay_ms, max_seconds=max_seconds).start()
    try:
        wait_until(lambda: load.proc.poll() is None and healthy(url), timeout=10, what="load running")
        time.sleep(1.0)
        outcome = action()
        time.sleep(1.0)
    finally:
        report = load.stop()
    return outcome, report


class UpCount:
    """How many servers of an HAProxy backend read UP, sampled every 100 ms while in use;
    ``.lowest`` once left (None if no sample was taken)."""

    def __init__(self, socket: str, backend: str = "app", interval: float = 0.1):
        import threading

        self.socket, self.backend, self.interval, self.samples = socket, backend, interval, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        from ansible_collections.orchestrator.fleet.plugins.module_utils import haproxy_admin

        while not self._stop.wait(self.interval):
            rows = haproxy_admin.backend_servers(self.socket, self.backend)
            self.samples.append(sum(1 for r in rows.values() if r.get("status", "").startswith("UP")))

    def __enter__(self) -> UpCount:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    @property
    def lowest(self) -> int | None:
        return min(self.samples) if self.samples else None
