"""HAProxy and the nodes, read in the background while someone looks.

Reading them runs playbooks/status.yml (Ansible reaches every load balancer and node), which
takes seconds: a page can not wait for it. A thread reads the fleet every ``refresh`` seconds,
but only while a page or a scrape asked in the last ``idle_after`` seconds, and the pages show
the newest reading with its age. The deploy in progress, its nodes' phases and the gate are
read per request from the state directory instead (cheap, and the freshest).
"""

from __future__ import annotations

import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from orchestrator import status as fleet_status
from orchestrator.errors import OrchestratorError


@dataclass(frozen=True)
class Reading:
    status: fleet_status.FleetStatus | None
    at: float | None  # when it was read (None: not yet)
    error: str | None  # why the last reading failed


class FleetFeed:
    def __init__(self, inventory: Path, state_dir: Path, *, refresh: float = 5.0, idle_after: float = 60.0):
        self.inventory, self.state_dir = inventory, state_dir
        self.refresh, self.idle_after = refresh, idle_after
        self._reading = Reading(None, None, None)
        self._asked = 0.0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fleet-feed", daemon=True)

    def start(self) -> FleetFeed:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=60)

    def latest(self) -> Reading:
        """The newest reading; asking keeps the feed reading."""
        self._asked = time.monotonic()
        self._wake.set()
        return self._reading

    def _run(self) -> None:
        while not self._stop.is_set():
            if time.monotonic() - self._asked > self.idle_after:
                self._wake.wait()  # nobody looks: no Ansible run until someone does
                self._wake.clear()
                continue
            began = time.monotonic()
            # one directory for the feed's runs, emptied before each: a reading every few seconds
            # must not leave a directory of artifacts behind each time
            run_dir = self.state_dir / "dashboard" / "fleet-read"
            shutil.rmtree(run_dir, ignore_errors=True)
            try:
                status = fleet_status.read(self.inventory, self.state_dir, run_dir=run_dir)
                self._reading = Reading(status, time.time(), None)
            except OrchestratorError as exc:
                self._reading = Reading(self._reading.status, self._reading.at, str(exc))
            except Exception as exc:  # the feed must outlive one bad reading
                self._reading = Reading(self._reading.status, self._reading.at, f"{type(exc).__name__}: {exc}")
            self._stop.wait(max(0.0, self.refresh - (time.monotonic() - began)))
