"""Requests through HAProxy, each answer kept: when it was sent, its status, its Retry-After.

wrk counts; some tests must say which answer came when (every request sent after a command
returned got a 503 with Retry-After): this keeps one record per request, from a few threads with
keep-alive connections, bounded in time.
"""

from __future__ import annotations

import http.client
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Answer:
    sent: float  # time.monotonic()
    done: float
    status: int | None  # None: no HTTP answer (the error says what happened)
    retry_after: str | None
    body: str
    error: str | None = None


class Prober:
    def __init__(self, url: str, *, threads: int = 2, pause_s: float = 0.005, max_seconds: float = 300):
        parts = urlsplit(url)
        self.host, self.port, self.path = parts.hostname, parts.port or 80, parts.path or "/"
        self.threads, self.pause_s, self.max_seconds = threads, pause_s, max_seconds
        self.answers: list[Answer] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._workers: list[threading.Thread] = []

    def __enter__(self) -> Prober:
        self._workers = [threading.Thread(target=self._run, daemon=True) for _ in range(self.threads)]
        for worker in self._workers:
            worker.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join(timeout=10)

    def _run(self) -> None:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=5)
        ends = time.monotonic() + self.max_seconds
        while not self._stop.is_set() and time.monotonic() < ends:
            sent = time.monotonic()
            try:
                conn.request("GET", self.path)
                resp = conn.getresponse()
                body = resp.read().decode(errors="replace")
                answer = Answer(sent, time.monotonic(), resp.status, resp.getheader("Retry-After"), body[:300])
                if resp.getheader("Connection", "").lower() == "close":
                    conn.close()
            except (OSError, http.client.HTTPException) as exc:
                answer = Answer(sent, time.monotonic(), None, None, "", f"{type(exc).__name__}: {exc}")
                conn.close()
            with self._lock:
                self.answers.append(answer)
            time.sleep(self.pause_s)
        conn.close()

    def sent_between(self, start: float, end: float = float("inf")) -> list[Answer]:
        with self._lock:
            return [a for a in self.answers if start <= a.sent < end]

    def count(self) -> int:
        with self._lock:
            return len(self.answers)
