"""A real HTTP server that receives webhooks: it keeps each request, and can answer 500 or never answer."""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

SECRET = b"s3cret-for-the-tests"
TIMEOUT = 2


@dataclass(frozen=True)
class Received:
    at: float
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict:
        return json.loads(self.body)


class Receiver:
    """On ``address``, port 0 (the kernel picks one). ``mode``: ok (204), error (500), hang (read, never answer)."""

    def __init__(self, address: str, mode: str = "ok"):
        self.mode, self.received = mode, []
        self._lock = threading.Lock()
        self._released = threading.Event()  # lets hanging handlers end when the test is over
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver._lock:
                    receiver.received.append(Received(time.time(), dict(self.headers), body))
                if receiver.mode == "hang":
                    receiver._released.wait(120)
                    return
                self.send_response(500 if receiver.mode == "error" else 204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer((address, 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://{address}:{self.server.server_address[1]}/hooks/T0KEN-secret"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._released.set()
        self.server.shutdown()
        self.server.server_close()

    def events(self) -> list[dict]:
        with self._lock:
            return [r.json for r in self.received]


def notify_config(
    cluster, tmp_path: Path, urls: list[str], events: list[str] | None = None, inventory: str | None = None
) -> str:
    """The sandbox's orchestrator.toml with [notify] added, and another inventory if given (a copy:
    other tests keep theirs); the secret file is SECRET, mode 600."""
    secret = tmp_path / "webhook.secret"
    secret.write_bytes(SECRET + b"\n")
    os.chmod(secret, 0o600)
    config = tmp_path / "orchestrator.toml"
    text = cluster.box.config.read_text()
    if inventory is not None:
        text = text.replace(f'inventory = "{cluster.box.inventory}"', f'inventory = "{inventory}"')
    config.write_text(
        text
        + "\n[notify]\n"
        + f"urls = {urls!r}\n".replace("'", '"')
        + (f"events = {events!r}\n".replace("'", '"') if events else "")
        + f'secret_file = "{secret}"\ntimeout = {TIMEOUT}\nretries = 2\n'
    )
    return str(config)
