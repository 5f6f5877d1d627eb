"""Undoing a failed roll: the nodes it had already switched go back to the release they ran
(blue/green: a switch back to the old slot while it runs; else rolled back like a deploy, not judged).
Called by the pipeline's deploy when deploy_failure_policy is rollback."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from orchestrator.errors import OrchestratorError
from orchestrator.project import stored_war
from orchestrator.rollout import bluegreen as bluegreen_lib
from orchestrator.rollout import roll as rollout


def roll_back_updated(
    failed: rollout.RolloutResult,
    state_dir: Path,
    keep: list[str],
    *,
    say: Callable[[str], None],
    on_phase: Callable | None = None,
) -> str:
    """Put the nodes a failed deploy had already switched back on their old release, rolling as a deploy does."""
    by_release: dict[str, list[str]] = {}
    for node in failed.updated:
        by_release.setdefault(failed.releases.get(node, {}).get("old") or "", []).append(node)
    said = []
    for release, nodes in by_release.items():
        store = stored_war(state_dir, release)
        if not release or not store.is_file():
            said.append(
                f"{', '.join(nodes)} stay on {failed.war.release_id}: their old release "
                f"{release or '(none)'} is not in {store.parent}; roll back with the playbook orchestrator.fleet.rollback"
            )
            continue
        if failed.fleet.strategy == "bluegreen":
            try:
                bluegreen_lib.switch_back(failed.fleet, release, None, state_dir=state_dir, limit=nodes)
            except bluegreen_lib.SwitchRefused as exc:
                say(f"cannot switch {', '.join(nodes)} back to their old slots ({exc}): rolling them back instead")
            except OrchestratorError as exc:
                said.append(f"switching {', '.join(nodes)} back to {release} failed: {exc}")
                continue
            else:
                said.append(
                    f"{', '.join(nodes)} switched back to {release} (their old slots, still running): "
                    "the whole fleet is on it again"
                )
                continue
        say(f"rolling {', '.join(nodes)} back to {release}")
        try:
            # the release the fleet ran before: not judged again (the judge just failed the one it replaces)
            rollout.roll_out(
                rollout.prepare(store, inventory=failed.fleet.inventory, strategy=failed.fleet.strategy),
                state_dir=state_dir,
                listener=rollout.PhaseListener(on_phase),
                limit=nodes,
                keep_releases=keep,
                known_good=f"the release the fleet ran before {failed.run_name}",
            )
        except OrchestratorError as exc:
            said.append(f"rolling {', '.join(nodes)} back to {release} failed too: {exc}")
            continue
        said.append(f"{', '.join(nodes)} rolled back to {release}: the whole fleet is on it again")
    return "; ".join(said)
