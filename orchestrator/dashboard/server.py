"""The dashboard's listener: bound here first, so that an address in use is one clear error
(exit 2) before anything starts, then served by uvicorn - in the foreground (`orchestrator
dashboard`) or in a thread beside the watcher (`orchestrator watch --dashboard`)."""

from __future__ import annotations

import errno
import socket
import threading
import time

import uvicorn

from orchestrator.dashboard.app import Site, create_app
from orchestrator.dashboard.fleet_feed import FleetFeed
from orchestrator.dashboard.settings import Listen
from orchestrator.errors import InputError, OrchestratorError


def bind(listen: Listen) -> socket.socket:
    family = socket.AF_INET6 if ":" in listen.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((listen.host, listen.port))
    except OSError as exc:
        sock.close()
        why = "is in use" if exc.errno == errno.EADDRINUSE else f"cannot be listened on ({exc.strerror})"
        raise InputError(
            f"{listen} {why}: stop what listens there, or choose another address with --listen "
            "(or [dashboard] listen in orchestrator.toml)"
        ) from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def _server(site: Site, feed: FleetFeed | None = None) -> uvicorn.Server:
    config = uvicorn.Config(create_app(site, feed=feed), log_level="warning", access_log=False, lifespan="on")
    return uvicorn.Server(config)


def serve(site: Site, sock: socket.socket) -> None:
    """Serve on ``sock`` (see ``bind``) until SIGINT or SIGTERM."""
    _server(site).run(sockets=[sock])


class Background:
    """The dashboard in a thread of another process (the watcher): stop() ends it."""

    def __init__(self, site: Site, listen: Listen, *, feed: FleetFeed | None = None):
        self.sock = bind(listen)
        self.server = _server(site, feed)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, name="dashboard", daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self.sock.getsockname()[:2]
        return f"http://{f'[{host}]' if ':' in host else host}:{port}"

    def start(self) -> Background:
        """Serve; returns once the server answers (bounded)."""
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise OrchestratorError(f"the dashboard on {self.url} did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=15)
