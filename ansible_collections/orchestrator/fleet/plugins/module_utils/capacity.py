"""The capacity guard: may a batch leave rotation, given which servers serve right now?

Standard library only: the ``haproxy_server`` module decides with it on each load balancer,
live, before a batch is drained (roles/webapp/tasks/capacity.yml), and the dry run
(orchestrator/rollout/plan.py) decides with it on the states it read. One rule, so the plan never says
a step goes ahead that the deploy would refuse, or the other way round.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


def min_up(min_healthy, fleet_size: int) -> int:
    """deploy_min_healthy as a number of servers: a count as given, or a percentage of the
    fleet's app servers rounded up ("50%" of 3 is 2)."""
    text = str(min_healthy).strip()
    if text.endswith("%"):
        return math.ceil(fleet_size * float(text[:-1]) / 100)
    return int(text)


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    staying_up: list[str]  # the servers that would go on serving, in the order given
    needed: int  # how many must

    def refusal(self, server: str, down: str) -> str:
        """The guard's message for taking ``server`` out; ``down`` says which others are not serving."""
        return (
            f"capacity guard: refusing to take {server} out of rotation: only {len(self.staying_up)} other "
            f"server(s) would stay UP ({down or 'no other servers'}), and at least {self.needed} must "
            "(deploy_min_healthy); bring them back or lower deploy_min_healthy"
        )


def judge(serving: dict[str, bool], leaving, needed: int) -> Verdict:
    """``serving``: every server of the backend -> whether it serves now; ``leaving``: the batch.

    Only a batch that takes a serving server away can lower capacity: a fleet that serves
    nowhere yet (its first deploy) or a batch of servers that are already down may always be
    worked on. Otherwise at least ``needed`` of the others must go on serving.
    """
    going = set(leaving)
    staying_up = [name for name, up in serving.items() if up and name not in going]
    takes_capacity = any(serving.get(name, False) for name in going)
    return Verdict(not takes_capacity or len(staying_up) >= needed, staying_up, needed)
