"""A deploy drawn to scale: its stages (queued, build, test, expand, roll, contract) on one row,
and one row per node with each phase (ship, drain, stop, install, start, verify, enable, bake,
rescue) where it began and ended."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from orchestrator.dashboard.records import stage_spans
from orchestrator.fleet.runner import DEPLOY_PHASES
from orchestrator.records.deploys import DeployRecord

# The order a node goes through them (a phase's bar is drawn in its own colour); joining and
# retiring are apply's, not a deploy's.
NODE_PHASES = tuple(p for p in DEPLOY_PHASES if p not in ("add", "remove"))


@dataclass(frozen=True)
class Bar:
    name: str
    left: float  # percent of the timeline's width
    width: float
    seconds: float
    start: float  # seconds after the timeline's start

    @property
    def css(self) -> str:
        return self.name.split("/", 1)[0]


@dataclass
class Row:
    label: str
    bars: list[Bar]
    outcome: str = ""
    note: str = ""  # e.g. "durations only": a deploy recorded before spans were kept
    detail: dict = field(default_factory=dict)


@dataclass
class Timeline:
    seconds: float  # the whole width
    stages: Row
    nodes: list[Row]
    ticks: list[tuple[float, str]]  # (percent, label)


def build(record: DeployRecord, *, now: float | None = None) -> Timeline:
    now = now if now is not None else time.time()
    running = record.outcome == "running"
    stages = stage_spans(record.times, now=now if running else None)
    node_spans = {n["node"]: _spans_of(n, record) for n in record.nodes}
    starts = [s for _, s, _ in stages] + [s for spans in node_spans.values() for s, _ in spans.values()]
    ends = [e for _, _, e in stages] + [e for spans in node_spans.values() for _, e in spans.values()]
    if running:
        ends.append(now)
    if not starts:
        return Timeline(0.0, Row("stages", []), [], [])
    t0, t1 = min(starts), max(ends + starts)
    width = max(t1 - t0, 1e-6)

    def bar(name: str, start: float, end: float) -> Bar:
        return Bar(name, 100 * (start - t0) / width, max(100 * (end - start) / width, 0.3), end - start, start - t0)

    stage_row = Row("stages", [bar(name, s, e) for name, s, e in stages])
    rows = []
    for n in record.nodes:
        spans = node_spans[n["node"]]
        ordered = sorted(spans.items(), key=lambda item: item[1][0])
        rows.append(
            Row(
                n["node"] + (f" ({n['slot']})" if n.get("slot") else ""),
                [bar(name, s, e) for name, (s, e) in ordered],
                n["outcome"],
                "" if n.get("spans") else "durations only: drawn one after another",
                {"old": n.get("old"), "new": n.get("new")},
            )
        )
    return Timeline(width, stage_row, rows, _ticks(width))


def _spans_of(node: dict, record: DeployRecord) -> dict[str, tuple[float, float]]:
    """phase -> (start, end): the recorded spans, or for a deploy recorded before they were kept,
    the phases' durations laid end to end from the roll's start."""
    spans = node.get("spans") or {}
    if spans:
        return {phase: (float(s), float(e)) for phase, (s, e) in spans.items()}
    t = record.times.get("deploy_started") or record.times.get("claimed") or 0.0
    laid = {}
    for phase in NODE_PHASES:
        seconds = (node.get("phases") or {}).get(phase)
        if seconds is not None:
            laid[phase] = (t, t + float(seconds))
            t += float(seconds)
    return laid


def _ticks(width: float) -> list[tuple[float, str]]:
    """Five to ten round marks along the axis."""
    steps = (0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400)
    step = next((s for s in steps if width / s <= 10), width / 5)
    marks, t = [], 0.0
    while t <= width + 1e-9:
        marks.append((100 * t / width, f"{t:g}s" if step < 60 else f"{t / 60:g}m"))
        t += step
    return marks
