"""Follow a rolling deploy from its events: which phase each node is in, and how long each took."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from orchestrator.fleet.runner import DEPLOY_PHASES, Event

TASK_END = ("runner_on_ok", "runner_on_failed", "runner_on_skipped", "runner_on_unreachable")
# Phases that change the node or its place in rotation (shipping a WAR beside the live one does not).
TOUCHING = ("drain", "stop", "install", "start", "verify", "enable", "bake")
# The rescue's last word when the previous release did not come back (roles/webapp/tasks/rescue.yml).
LOST_TASK = "rescue | Report the node lost"


@dataclass
class NodeProgress:
    """One node's way through the deploy."""

    name: str
    phase: str = "waiting"
    rescued: bool = False
    lost: bool = False  # the rescue could not bring the previous release back: out of rotation, nothing serving
    # phase -> [first start, last end] of the tasks that ran (skipped tasks do not count)
    spans: dict[str, list[datetime]] = field(default_factory=dict)
    # the same for the rescue's steps (drain, stop, install, start, verify, enable), kept apart
    rescue_spans: dict[str, list[datetime]] = field(default_factory=dict)
    started: datetime | None = None
    finished: datetime | None = None

    @property
    def touched(self) -> bool:
        """Anything done to the node itself: taken out of rotation, stopped, given a release, rescued."""
        return self.rescued or any(p in self.spans for p in TOUCHING)

    def seconds(self, phase: str) -> float | None:
        span = self.spans.get(phase)
        return (span[1] - span[0]).total_seconds() if span else None

    def timeline(self) -> dict[str, list[float]]:
        """Each phase as [start, end] in epoch seconds, the rescue's steps as rescue/<step>: what
        the history keeps for the dashboard's timeline."""
        spans = {phase: span for phase, span in self.spans.items()}
        spans |= {f"rescue/{phase}": span for phase, span in self.rescue_spans.items()}
        return {phase: [round(_epoch(start), 3), round(_epoch(end), 3)] for phase, (start, end) in spans.items()}

    @property
    def total(self) -> float | None:
        if self.started is None or self.finished is None:
            return None
        return (self.finished - self.started).total_seconds()


class DeployProgress:
    """Feed it every event; it calls ``on_phase(node, phase)`` when a node enters a new phase."""

    def __init__(self, on_phase: Callable[[NodeProgress, str], None] | None = None) -> None:
        self.nodes: dict[str, NodeProgress] = {}
        self.on_phase = on_phase
        self._task_start: dict[tuple[str, str], datetime] = {}

    def node(self, name: str) -> NodeProgress:
        return self.nodes.setdefault(name, NodeProgress(name))

    def feed(self, event: Event) -> None:
        phase = event.phase
        if not event.host or phase not in DEPLOY_PHASES:
            return
        node = self.node(event.host)
        if event.kind == "runner_on_start":
            self._task_start[(event.host, event.task)] = event.created
            if phase == "rescue":
                node.rescued = True
            if node.started is None:
                node.started = event.created
            self._enter(node, phase)
        elif event.kind in TASK_END:
            begun = self._task_start.pop((event.host, event.task), event.created)
            if event.kind == "runner_on_failed" and event.task == LOST_TASK:
                node.lost = True
            node.finished = event.created
            if event.kind == "runner_on_skipped":
                return
            steps = event.result.get("steps")
            if isinstance(steps, dict) and steps:
                # one task that went through several phases (webapp_install's restart: stop,
                # install, start) says when each began and ended
                for step, (start, end) in steps.items():
                    if step in DEPLOY_PHASES:
                        self._enter(node, step)
                        self._span(node, step, _stamp(start, event.created), _stamp(end, event.created))
                return
            self._span(node, phase, begun, event.created)

    def _enter(self, node: NodeProgress, phase: str) -> None:
        shown = f"rescue/{phase}" if node.rescued and phase != "rescue" else phase
        if shown != node.phase:
            node.phase = shown
            if self.on_phase:
                self.on_phase(node, shown)

    @staticmethod
    def _span(node: NodeProgress, phase: str, begun: datetime, ended: datetime) -> None:
        # rescue steps are not the release's phases
        span = (node.rescue_spans if node.rescued else node.spans).setdefault(phase, [begun, ended])
        span[0], span[1] = min(span[0], begun), max(span[1], ended)

    def finish(self, failed_hosts: set[str]) -> None:
        """Settle each node's final state once the run is over.

        A node that failed before anything was done to it (refused by the capacity guard,
        unreachable before its drain) is untouched, not failed: it serves as it did.
        """
        for node in self.nodes.values():
            if node.name in failed_hosts and not node.touched:
                node.phase = "untouched"
            elif node.lost:
                node.phase = "lost"
            elif node.name in failed_hosts:
                node.phase = "failed"
            elif "enable" in node.spans:
                node.phase = "done"
            else:
                node.phase = "untouched"


def _epoch(stamp: datetime) -> float:
    """An event's time (ansible-runner's are naive UTC) in epoch seconds."""
    return (stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)).timestamp()


def _stamp(seconds: float, like: datetime) -> datetime:
    """A module's time.time() as a datetime comparable with the events' (aware UTC, or naive)."""
    stamp = datetime.fromtimestamp(float(seconds), UTC)
    return stamp if like.tzinfo else stamp.replace(tzinfo=None)
