"""``orchestrator watch``: react to flag files at once and deploy the newest revision; apply
the inventory when it changes.

The spool's layout and how a flag is read safely: spool.py.

watchdog's facts shape this: an exception in a handler kills the observer thread silently; a
rename into the directory arrives as ``on_moved``; a deleted and recreated directory is no
longer watched; a queue overflow goes unnoticed. So the handler only sets an event, one worker
does the work, the observer is checked (and restarted when it died or its directories were
replaced) on every round, and the spool is scanned at start-up and every ``rescan_seconds``
whatever inotify says.

The whole spool is watched, not only incoming/: claiming renames a flag out of incoming/, and a
rename whose other end is not watched reaches watchdog as a lone IN_MOVED_FROM, which it holds
for 0.5 s waiting for a partner, in a FIFO queue, delaying every event behind it. With both
ends watched, every rename the watcher makes is a paired move and nothing waits.

The inventory directory is watched too. An edit is applied (orchestrator apply: new hosts join,
removed ones retire) once the files have been quiet for INVENTORY_SETTLE seconds, so an editor
saving several files, or one file twice, makes one apply; and only when the inventory's
fingerprint differs from the one last applied, so touching a file or reading it does nothing.
The fingerprint is compared on every round as well, which catches what inotify missed and an
edit made while the watcher was not running.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver

from orchestrator import flags as flag_lib
from orchestrator import pipeline
from orchestrator.config import Config
from orchestrator.errors import OrchestratorError
from orchestrator.fleet import roster
from orchestrator.fleet.inventory import fingerprint
from orchestrator.push.spool import Spool
from orchestrator.records.history import History
from orchestrator.rollout import apply as apply_lib

# Seconds the inventory's files must be left alone before an edit is applied.
INVENTORY_SETTLE = 1.0


class _Wake(FileSystemEventHandler):
    """Only signals the worker: nothing here can raise, so the observer thread cannot die of it."""

    def __init__(self, wake: threading.Event, incoming: Path):
        self.wake = wake
        self.incoming = str(incoming)

    def _arrived(self, path) -> None:
        if os.path.dirname(os.fsdecode(path)) == self.incoming:
            self.wake.set()

    def on_created(self, event: FileSystemEvent) -> None:
        self._arrived(event.src_path)

    def on_moved(self, event: FileSystemEvent) -> None:
        self._arrived(event.dest_path)


class _InventoryEdited(FileSystemEventHandler):
    """Notes when the inventory was last touched and wakes the worker; cannot raise either."""

    def __init__(self, wake: threading.Event):
        self.wake = wake
        self.at = 0.0

    def on_any_event(self, event: FileSystemEvent) -> None:
        if event.event_type in ("opened", "closed_no_write"):
            return  # reading is not editing
        self.at = time.monotonic()
        self.wake.set()


@dataclass(frozen=True)
class Batch:
    flags: tuple[Path, ...]  # paths in claimed/
    valid: tuple[flag_lib.Flag, ...]  # those for the configured branch
    claimed: float  # when the watcher took them

    @property
    def pushed(self) -> float | None:
        return min((f.pushed_at for f in self.valid), default=None)

    @property
    def last_pushed(self) -> float | None:
        return max((f.pushed_at for f in self.valid), default=None)


def ensure_spool(spool: Path) -> None:
    Spool(spool).repair()


class Watcher:
    def __init__(
        self,
        config: Config,
        *,
        history: History,
        say: Callable[[str], None],
        on_phase=None,
        strategy: str | None = None,
    ):
        self.config, self.history, self.say, self.on_phase = config, history, say, on_phase
        # rolling or bluegreen for every deploy; None: the inventory's deploy_strategy
        self.strategy = strategy
        self.spool = Spool(config.spool, say=say)
        self.observed: tuple | None = None  # the spool's identity when the observer was started
        self.wake = threading.Event()
        self.stopping = threading.Event()
        self.observer: BaseObserver | None = None
        self.inventory_edited = _InventoryEdited(self.wake)
        # the inventory as last applied; an edit made while no watcher ran differs from it at start
        self.inventory_seen = roster.applied_fingerprint(config.state_dir) or fingerprint(config.inventory)
        # webhooks are sent in the background for as long as the watcher runs
        self.notifier = pipeline.notifier_for(config, config.state_dir)

    # --- lifecycle ---

    def stop(self) -> None:
        """Ask the watcher to stop after the deploy in progress, if any (never inside one)."""
        self.stopping.set()
        self.wake.set()

    def run(self) -> None:
        self.spool.repair()
        self.say(
            f"watching {self.spool.incoming} for pushes to {self.config.branch!r} of {self.config.repository}, "
            f"and {self.config.inventory} for new and removed hosts"
        )
        try:
            self._recover()
            while not self.stopping.is_set():
                self._supervise()
                # a new host joins before a deploy that would find it missing from the load balancers
                self.apply_inventory_if_changed()
                self.handle_pending()
                self.wake.wait(timeout=self._next_wait())
                self.wake.clear()
        finally:
            self._stop_observer()
            if self.notifier is not None:
                self.notifier.close()

    def _supervise(self) -> None:
        """Repair the spool, and (re)start the observer when it died or its directories were replaced."""
        self.spool.repair()
        if self.observer is not None and self.observer.is_alive() and self.observed == self.spool.identity():
            return
        if self.observer is not None and self.observed != self.spool.identity():
            self.say(f"the spool {self.spool.root} was made again: watching the new one")
        self._stop_observer()
        self.observed = self.spool.identity()
        self.observer = Observer()
        self.observer.schedule(_Wake(self.wake, self.spool.incoming), str(self.spool.root), recursive=True)
        inventory = self.config.inventory if self.config.inventory.is_dir() else self.config.inventory.parent
        if inventory.is_dir():  # else the fingerprint, read every round, notices when it appears
            self.observer.schedule(self.inventory_edited, str(inventory), recursive=True)
        self.observer.daemon = True
        self.observer.start()

    def _stop_observer(self) -> None:
        if self.observer is not None:
            self.observer.stop()
            if self.observer.is_alive():
                self.observer.join(timeout=10)
            self.observer = None

    def _next_wait(self) -> float:
        """Until the next rescan, or until a fresh inventory edit has settled."""
        settling = INVENTORY_SETTLE - (time.monotonic() - self.inventory_edited.at)
        return min(self.config.rescan_seconds, settling) if settling > 0 else self.config.rescan_seconds

    # --- the work ---

    def apply_inventory_if_changed(self) -> bool:
        """Apply the inventory when it differs from the one last applied and has settled; True if it ran."""
        if time.monotonic() - self.inventory_edited.at < INVENTORY_SETTLE:
            return False
        current = fingerprint(self.config.inventory)
        if current == self.inventory_seen:
            return False
        # tried once per version of the inventory: a failure waits for the next edit, not a loop
        self.inventory_seen = current
        self.say(f"the inventory {self.config.inventory} changed: applying it")
        try:
            result = apply_lib.apply(
                self.config.inventory,
                state_dir=self.config.state_dir,
                history=self.history,
                say=self.say,
                on_phase=self.on_phase,
                should_stop=self.stopping.is_set,
                strategy=self.strategy,
            )
        except OrchestratorError as exc:
            self.say(f"apply failed: {exc}; fix it and save the inventory again, or run 'orchestrator apply'")
            return True
        for node, why in sorted(result.warnings.items()):
            self.say(f"warning: {node} is out of the load balancers, but its Tomcat was not stopped: {why}")
        if not result.changes.empty:
            self.say(f"the fleet matches the inventory: {', '.join(result.changes.fleet.appservers)}")
        return True

    def handle_pending(self) -> int | None:
        """Claim every waiting flag and run at most one pipeline for the lot."""
        batch = self.claim()
        if batch is None:
            return None
        return self._process(batch, source=None)

    def claim(self) -> Batch | None:
        claimed_at = time.time()
        return self._validate(self.spool.claim(), claimed_at)

    def _validate(self, paths: list[Path], claimed: float) -> Batch | None:
        valid, kept = [], []
        for path in paths:
            try:
                flag = flag_lib.parse(self.spool.read(path))
            except flag_lib.FlagError as exc:
                self.spool.reject(path, str(exc))
                continue
            kept.append(path)
            if flag.branch == self.config.branch:
                valid.append(flag)
            else:
                self.say(f"{path.name}: push to branch {flag.branch!r}, not {self.config.branch!r}; nothing to deploy")
        if not kept:
            return None
        if not valid:
            self.spool.finish(kept)
            return None
        return Batch(tuple(kept), tuple(valid), claimed)

    def _process(self, batch: Batch, *, source: str | None) -> int | None:
        sources = sorted({f.source for f in batch.valid})
        trigger = pipeline.Trigger(
            source=source or "+".join(sources),
            pushed=batch.pushed,
            claimed=batch.claimed,
            flags=len(batch.flags),
            last_pushed=batch.last_pushed,
        )
        self.say(f"{len(batch.flags)} flag(s) claimed; deploying the newest revision of {self.config.branch!r}")
        deploy_id = None
        try:
            deploy_id = pipeline.run(
                self.config,
                trigger,
                history=self.history,
                report=pipeline.Reporter(self.say, self.on_phase, self.notifier),
                should_stop=self.stopping.is_set,
                strategy=self.strategy,
            )
            record = self.history.get(deploy_id)
            if record is not None and record.outcome == "deployed":
                self.say(f"deploy #{deploy_id} is live")
        except OrchestratorError as exc:
            self.say(f"deploy failed: {exc}")
        finally:
            # The batch is handled either way; a failed build waits for the next push.
            self.spool.finish(batch.flags)
        return deploy_id

    def _recover(self) -> None:
        """After a crash: the claimed batch was interrupted. Record it, make every node serve, redo it."""
        leftovers = sorted(self.spool.claimed.glob(f"*{flag_lib.FLAG_SUFFIX}"))
        cut = self.history.cut_short()
        if not leftovers and not cut:
            return
        self.say(f"recovering: {len(cut)} interrupted deploy(s), {len(leftovers)} claimed flag(s)")
        from orchestrator.rollout import recovery  # only needed after a crash

        recovery.reconcile(
            self.config.inventory,
            self.config.state_dir,
            self.history,
            why="the watcher stopped during this deploy",
            say=self.say,
            strategy=self.strategy,
        )
        batch = self._validate(leftovers, time.time())
        if batch is not None:
            self._process(batch, source="recovery")
