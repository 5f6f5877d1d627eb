"""The dry run (`orchestrator plan`, `deploy --check`): what a roll-out would do, step by step,
read from the inventory and the live fleet.

Nothing is changed on any node or load balancer: the live state comes from playbooks/status.yml,
which only reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ansible_collections.orchestrator.fleet.plugins.module_utils import capacity, preflight
from orchestrator.errors import InputError
from orchestrator.fleet import live
from orchestrator.fleet.inventory import SLOTS, node_problems
from orchestrator.rollout.roll import Rollout


def serial_batches(hosts: list[str], serial) -> list[list[str]]:
    """Split ``hosts`` into batches exactly as Ansible's ``serial`` does (pct_to_int, last value repeats)."""
    from ansible.utils.helpers import pct_to_int

    problems = preflight.serial_rule(serial)
    if problems:
        raise InputError(problems[0])
    steps = serial if isinstance(serial, list) else [serial]
    remaining, batches, i = list(hosts), [], 0
    while remaining:
        size = pct_to_int(str(steps[i]) if str(steps[i]).endswith("%") else int(steps[i]), len(hosts))
        batches.append(remaining[:size])
        remaining = remaining[size:]
        i = min(i + 1, len(steps) - 1)
    return batches


@dataclass(frozen=True)
class Step:
    number: int
    batch: list[str]  # nodes switched in this step (rolling: out of rotation meanwhile)
    in_rotation: list[str]  # the nodes that serve throughout the step (UP now)
    refused: bool  # the capacity guard would refuse this step


@dataclass(frozen=True)
class Plan:
    rollout: Rollout
    serial: object
    min_up: int
    steps: list[Step]
    current: dict[str, str]  # node -> release it runs now
    haproxy: dict[str, dict[str, str]]  # load balancer -> node -> status
    skipped: list[str]  # nodes already on the release (checked, not switched)
    joining: list[str]  # in the inventory, not yet behind the load balancers
    leaving: list[str]  # behind a load balancer, no longer in the inventory
    # blue/green: node -> (its live slot, the idle one the release starts in); empty for rolling
    slots: dict[str, tuple[str, str]]


def plan(rollout: Rollout, *, state_dir: Path) -> Plan:
    """The steps a deploy of ``rollout`` would take, from the live fleet. Every node's settings
    are checked first, by the preflight's rules: a plan never shows a deploy its preflight refuses."""
    fleet = rollout.fleet
    problems = node_problems(fleet.inventory)
    if problems:
        raise InputError(
            f"inventory {fleet.inventory}: {' | '.join(problems)}. Fix it in the inventory (group_vars or host_vars)"
        )
    serial = rollout.serial if rollout.serial is not None else fleet.serial
    state = live.read(fleet, run_dir=state_dir / "plans" / datetime.now().strftime("%Y%m%dT%H%M%S%f"))
    current, haproxy = state.releases, state.haproxy
    to_switch = [n for n in fleet.appservers if current.get(n) != rollout.war.release_id]
    skipped = [n for n in fleet.appservers if n not in to_switch]
    needed = capacity.min_up(fleet.min_healthy, len(fleet.appservers))
    joining = [n for n in fleet.appservers if state.missing(n)]
    leaving = sorted(state.backend_servers() - set(fleet.appservers))
    up = state.up

    bluegreen = fleet.strategy == "bluegreen"
    slots = {}
    if bluegreen:
        for node in fleet.appservers:
            live_slot = state.live_slots.get(node) or SLOTS[0]
            slots[node] = (live_slot, next(s for s in SLOTS if s != live_slot))
    steps = []
    for number, batch in enumerate(serial_batches(list(fleet.appservers), serial), start=1):
        switching = [n for n in batch if n in to_switch]
        if bluegreen:  # the live slots serve while the batch's idle ones start: nobody leaves rotation
            steps.append(Step(number, switching, [n for n in fleet.appservers if up(n)], False))
            continue
        verdict = capacity.judge({n: up(n) for n in fleet.appservers}, switching, needed)
        steps.append(Step(number, switching, verdict.staying_up, not verdict.allowed))
    return Plan(rollout, serial, needed, steps, current, haproxy, skipped, joining, leaving, slots)
