"""What the fleet runs right now, read by playbooks/status.yml (which changes nothing)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from orchestrator.errors import DeployFailed
from orchestrator.fleet.inventory import SLOTS, Fleet
from orchestrator.fleet.runner import run_playbook
from orchestrator.project import playbook


@dataclass(frozen=True)
class LiveState:
    releases: dict[str, str]  # app server -> the release its 'current' link names ('' when none)
    haproxy: dict[str, dict[str, str]]  # load balancer -> every server of its backend -> status
    # blue/green: each app server is one server per slot in the backends, <host>-<slot>
    slots: tuple[str, ...] = ()
    # blue/green: app server -> its live slot (as its files say)
    live_slots: dict[str, str] = field(default_factory=dict)

    def servers_of(self, node: str) -> list[str]:
        """The backend servers an app server is: itself, or one per slot."""
        return [f"{node}-{slot}" for slot in self.slots] if self.slots else [node]

    def host_of(self, server: str) -> str:
        host, _, slot = server.rpartition("-")
        return host if self.slots and slot in self.slots and host else server

    def backend_servers(self) -> set[str]:
        """App servers any load balancer has in its backend (for blue/green, those with a slot there)."""
        return {self.host_of(server) for servers in self.haproxy.values() for server in servers}

    def missing(self, node: str) -> list[str]:
        """Load balancers whose backend lacks ``node`` (or one of its slots)."""
        return [lb for lb, servers in self.haproxy.items() if any(s not in servers for s in self.servers_of(node))]

    def mixed(self) -> str:
        """'' when every app server runs the same release; else which node runs what."""
        by_release: dict[str, list[str]] = {}
        for node, release in sorted(self.releases.items()):
            by_release.setdefault(release or "(no release)", []).append(node)
        if len(by_release) <= 1:
            return ""
        return "; ".join(f"{', '.join(nodes)} on {release}" for release, nodes in sorted(by_release.items()))

    def up(self, node: str) -> bool:
        """UP on every load balancer (for blue/green, either of its slots)."""
        return bool(self.haproxy) and all(
            any(str(s.get(name, "")).startswith("UP") for name in self.servers_of(node)) for s in self.haproxy.values()
        )


def read(fleet: Fleet, *, run_dir: Path) -> LiveState:
    """Read every node's release and every load balancer's backend; DeployFailed if a load balancer does not answer."""
    result = run_playbook(playbook("status.yml"), inventory=fleet.inventory, run_dir=run_dir)
    errors = result.stats.get("haproxy_errors", {})
    if errors:
        detail = "; ".join(f"{lb}: {message}" for lb, message in sorted(errors.items()))
        raise DeployFailed(f"could not read the load balancers: {detail}")
    return LiveState(
        result.stats.get("releases", {}),
        result.stats.get("haproxy", {}),
        SLOTS if fleet.strategy == "bluegreen" else (),
        {node: info.get("live", "") for node, info in result.stats.get("slots", {}).items()},
    )
