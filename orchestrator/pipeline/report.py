"""How a pipeline tells what it does: the lines it says, each node's phase, and the webhooks."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ansible_collections.orchestrator.fleet.plugins.module_utils import gate as gate_lib
from orchestrator import notify as notify_lib
from orchestrator.config import Config
from orchestrator.records.history import History


@dataclass
class Reporter:
    """Where a pipeline tells what it does."""

    say: Callable[[str], None] = lambda message: None
    on_phase: Callable | None = None
    notifier: notify_lib.Notifier | None = None
    _waiting: str | None = None  # what the gate waited for when it last changed

    def notify(self, event: str, history: History, deploy_id: int, text: str, **fields) -> None:
        """Queue a webhook event about ``deploy_id`` (never blocks, never fails the deploy: see
        orchestrator/notify.py). Called from the runner's events and the gate watch's thread alike."""
        if self.notifier is None:
            return
        try:
            record = history.get(deploy_id)
            about = {
                "id": deploy_id,
                "trigger": record.trigger if record else None,
                "revision": record.revision if record else None,
                "release": record.release_id if record else None,
            }
            self.notifier.send(event, about, text, **fields)
        except Exception as exc:  # a notification is never worth a deploy
            self.say(f"warning: the {event} notification was not sent: {type(exc).__name__}: {exc}")

    def tell_finished(self, history: History, deploy_id: int) -> None:
        """deploy_finished, once the deploy's outcome is recorded."""
        if self.notifier is None:
            return
        try:
            record = history.get(deploy_id)
        except Exception as exc:
            self.say(f"warning: the deploy_finished notification was not sent: {type(exc).__name__}: {exc}")
            return
        if record is None or record.outcome == "running":
            return
        where = f" at {record.stage}" if record.outcome not in ("deployed", "unchanged") else ""
        text = (
            f"deploy #{record.id} of {record.release_id or (record.revision or '')[:12] or '?'}: "
            f"{record.outcome}{where}" + (f": {record.message}" if record.message else "")
        )
        self.notify(
            "deploy_finished",
            history,
            record.id,
            text[:3000],
            outcome=record.outcome,
            stage=record.stage,
            message=record.message,
            nodes=record.nodes,
            times=record.times,
            verdicts=record.verdicts,
        )

    def verdict(self, node: str, report: dict) -> None:
        """One line per judged node, as its bake ends: the bake module's own summary."""
        self.say(report.get("message") or f"{node}: {report.get('summary', report.get('verdict'))}")

    def incident(self, message: str) -> None:
        """A fault the deploy did not cause, as it is seen."""
        self.say(f"warning: {message}")

    def gate(self, state: dict) -> None:
        """The roll stopped between batches (paused, or waiting for promotion), or went on again;
        or the release's watch after the roll began or ended."""
        if state.get("waiting"):
            self.say(gate_lib.describe(state))
        else:
            self.say("the watch after the roll is over" if self._waiting == "watch" else "the roll goes on")
        self._waiting = state.get("waiting")


def notifier_for(config: Config | None, state_dir: Path) -> notify_lib.Notifier | None:
    """The config's webhooks, their deliveries recorded in the history (a connection of their own)."""
    if config is None or config.notify is None:
        return None
    log = History(state_dir)
    lock = threading.Lock()  # one connection, several sender threads

    def record(delivery: notify_lib.Delivery) -> None:
        with lock:
            log.record_delivery(delivery)

    return notify_lib.Notifier(config.notify, record=record)


@contextmanager
def reporting(
    config: Config | None, state_dir: Path, *, say: Callable[[str], None], on_phase=None
) -> Iterator[tuple[History, Reporter]]:
    """The history and a Reporter (with the config's webhooks) for one command; both closed after it,
    the webhooks given up to their timeout to deliver what is queued."""
    history = History(state_dir)
    notifier = notifier_for(config, state_dir)
    try:
        yield history, Reporter(say, on_phase, notifier)
    finally:
        if notifier is not None:
            notifier.close()
        history.close()
