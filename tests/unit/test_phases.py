"""Every task that does work is named "<phase> | <what it does>", with a phase the progress view
knows (orchestrator/fleet/runner.py): a node's steps of a roll (DEPLOY_PHASES), which it times and
shows, or the other phases, which it passes by. A misspelt phase would drop a step from the
progress lines and the per-node timings without a word."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from orchestrator.fleet.runner import DEPLOY_PHASES, OTHER_PHASES

ROOT = Path(__file__).resolve().parents[2]
COLLECTION = ROOT / "ansible_collections" / "orchestrator" / "fleet"
FILES = sorted(
    [
        *COLLECTION.glob("playbooks/*.yml"),
        *COLLECTION.glob("roles/*/tasks/*.yml"),
        *COLLECTION.glob("roles/*/handlers/*.yml"),
    ]
)
# Keys of a task that only include or group other tasks: no work of their own to name.
GROUPING = {"block", "import_tasks", "include_tasks", "import_role", "include_role", "import_playbook"}


def tasks(items) -> list[dict]:
    """Every task in a list of plays or tasks, blocks opened."""
    found = []
    for item in items or []:
        if not isinstance(item, dict):
            continue
        if "hosts" in item or "import_playbook" in item or "ansible.builtin.import_playbook" in item:  # a play
            for key in ("pre_tasks", "tasks", "post_tasks", "handlers"):
                found += tasks(item.get(key))
            continue
        found.append(item)
        for key in ("block", "rescue", "always"):
            found += tasks(item.get(key))
    return found


def does_work(task: dict) -> bool:
    return not any(key.rsplit(".", 1)[-1] in GROUPING for key in task)


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_task_that_does_work_names_a_known_phase(path):
    known = set(DEPLOY_PHASES) | set(OTHER_PHASES)
    for task in filter(does_work, tasks(yaml.safe_load(path.read_text()))):
        name = task.get("name", "")
        phase, bar, _ = name.partition(" | ")
        assert bar, f"{path.name}: task {name or task} has no '<phase> | ' in its name"
        assert phase in known, f"{path.name}: {name!r}: phase {phase!r} is not in runner.DEPLOY_PHASES or OTHER_PHASES"


def test_the_files_are_found_and_hold_named_tasks():
    assert len(FILES) > 30
    assert sum(len(tasks(yaml.safe_load(p.read_text()))) for p in FILES) > 150
