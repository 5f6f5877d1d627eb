"""Webhook notifications: each deploy event POSTed as JSON to the URLs of [notify], signed.

Delivery never blocks or fails a deploy. Each URL has a bounded queue and a thread of its own
(a receiver that hangs delays only its own deliveries); each try has a timeout, a failed one
is retried with a doubling pause; every delivery's outcome goes into the history
(`deliveries`), with the URL's path left out (webhook URLs often carry a token). When the
orchestrator exits (a CLI deploy ends) it waits at most one try's timeout for what is still
queued, and records the rest as dropped.

The body (schema 1, documented in docs/notifications.md):

    {"schema": 1, "event": "deploy_finished", "id": "<uuid>", "at": 1795850000.5,
     "deploy": {"id": 12, "trigger": "hg", "revision": "3f2a…", "release": "7-4bae3fd96280"},
     "text": "deploy #12 of 7-4bae3fd96280: deployed", ...fields of the event...}

`text` is what Slack and Mattermost incoming webhooks show as is. With a secret file, the
header ``X-Orchestrator-Signature-256: sha256=<hex HMAC-SHA256 of the body>`` signs it, as
GitHub signs its webhooks.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import queue
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

SCHEMA = 1
EVENTS = ("deploy_started", "node_switched", "release_rejected", "deploy_finished", "rolled_back", "paused")
SIGNATURE_HEADER = "X-Orchestrator-Signature-256"
QUEUE_SIZE = 100
FIRST_BACKOFF = 0.5


@dataclass(frozen=True)
class Settings:
    """[notify] in orchestrator.toml, checked (orchestrator/config.py)."""

    urls: tuple[str, ...]
    events: tuple[str, ...] = EVENTS
    secret_file: Path | None = None
    timeout: float = 5.0
    retries: int = 3


@dataclass(frozen=True)
class Delivery:
    deploy_id: int | None
    event: str
    url: str  # without its path and query: they may hold a token
    outcome: str  # delivered, failed, dropped
    attempts: int
    status: int | None
    error: str | None
    queued: float
    finished: float


def shown_url(url: str) -> str:
    parts = urlsplit(url)
    return (
        f"{parts.scheme}://{parts.netloc}/…"
        if parts.path.strip("/") or parts.query
        else f"{parts.scheme}://{parts.netloc}/"
    )


class Notifier:
    """Send events in the background; ``record(delivery)`` is called (from the sender threads) for each."""

    def __init__(self, settings: Settings | None, *, record: Callable[[Delivery], None] | None = None):
        self.settings = settings
        self.record = record or (lambda delivery: None)
        self.secret = settings.secret_file.read_bytes().strip() if settings and settings.secret_file else None
        self._queues: dict[str, queue.Queue] = {}
        self._threads: list[threading.Thread] = []
        self._inflight: dict[str, tuple] = {}  # url -> the item its thread is sending
        self._stop = threading.Event()
        for url in settings.urls if settings else ():
            q: queue.Queue = queue.Queue(maxsize=QUEUE_SIZE)
            self._queues[url] = q
            thread = threading.Thread(
                target=self._send_all, args=(url, q), name=f"notify {shown_url(url)}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def send(self, event: str, deploy: dict, text: str, **fields) -> None:
        """Queue ``event`` for every URL that wants it; never blocks."""
        if self.settings is None or event not in self.settings.events:
            return
        body = json.dumps(
            {
                "schema": SCHEMA,
                "event": event,
                "id": str(uuid.uuid4()),
                "at": time.time(),
                "deploy": deploy,
                "text": text,
                **fields,
            },
            sort_keys=True,
            default=str,
        ).encode()
        for url, q in self._queues.items():
            item = (event, deploy.get("id"), body, time.time())
            try:
                q.put_nowait(item)
            except queue.Full:
                self._dropped(url, item, f"the queue of {QUEUE_SIZE} undelivered events was full")

    def close(self, wait: float | None = None) -> None:
        """Let the queues drain for at most ``wait`` seconds (default: one try's timeout), then drop the rest."""
        if self.settings is None:
            return
        deadline = time.monotonic() + (self.settings.timeout if wait is None else wait)
        for q in self._queues.values():
            while q.unfinished_tasks and time.monotonic() < deadline:
                time.sleep(0.05)
        self._stop.set()
        for url, q in self._queues.items():
            while True:
                try:
                    item = q.get_nowait()
                except queue.Empty:
                    break
                self._dropped(url, item, "the orchestrator exited before it could be sent")
                q.task_done()
        for thread in self._threads:
            thread.join(timeout=0.5)
        for url, item in list(self._inflight.items()):
            self._dropped(url, item, "still being sent when the orchestrator exited")

    def _dropped(self, url: str, item: tuple, why: str) -> None:
        """Record a queued ``item`` (event, deploy id, body, when queued) as never sent, and why."""
        event, deploy_id, _, queued = item
        self.record(Delivery(deploy_id, event, shown_url(url), "dropped", 0, None, why, queued, time.time()))

    def _send_all(self, url: str, q: queue.Queue) -> None:
        while not self._stop.is_set():
            try:
                event, deploy_id, body, queued = q.get(timeout=0.2)
            except queue.Empty:
                continue
            self._inflight[url] = (event, deploy_id, body, queued)
            try:
                delivery = self._deliver(url, event, deploy_id, body, queued)
                self._inflight.pop(url, None)
                self.record(delivery)
            except Exception:  # a delivery must never take the sender down; the history is best effort here
                pass
            finally:
                self._inflight.pop(url, None)
                q.task_done()

    def _deliver(self, url: str, event: str, deploy_id: int | None, body: bytes, queued: float) -> Delivery:
        assert self.settings is not None  # a URL to send to comes from them
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "orchestrator-webhook/1",
            "X-Orchestrator-Event": event,
        }
        if self.secret:
            headers[SIGNATURE_HEADER] = "sha256=" + hmac.new(self.secret, body, hashlib.sha256).hexdigest()
        pause, status, error = FIRST_BACKOFF, None, None
        attempts = 0
        for attempt in range(1 + self.settings.retries):
            if attempt and self._stop.wait(pause):
                break  # exiting: what is left is dropped, not retried
            pause *= 2
            attempts += 1
            try:
                request = urllib.request.Request(url, data=body, headers=headers, method="POST")
                with urllib.request.urlopen(request, timeout=self.settings.timeout) as response:
                    status, error = response.status, None
                    if 200 <= status < 300:
                        return Delivery(
                            deploy_id, event, shown_url(url), "delivered", attempts, status, None, queued, time.time()
                        )
            except urllib.error.HTTPError as exc:
                status, error = exc.code, f"HTTP {exc.code} {exc.reason}"
            except (OSError, ValueError) as exc:  # refused, timed out, reset, bad reply
                status, error = None, f"{type(exc).__name__}: {getattr(exc, 'reason', None) or exc}"
        return Delivery(deploy_id, event, shown_url(url), "failed", attempts, status, error, queued, time.time())


def verify(secret: bytes, body: bytes, header: str | None) -> bool:
    """What a receiver does: does ``header`` sign ``body`` with ``secret``?"""
    expected = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
    return header is not None and hmac.compare_digest(expected, header)
