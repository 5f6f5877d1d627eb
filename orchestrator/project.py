"""Where things live: ansible.cfg and the collection (playbooks, roles, modules); the state directory; the WAR store."""

from __future__ import annotations

import os
from pathlib import Path

from orchestrator.errors import InputError

# The Ansible content: roles, modules, module_utils and playbooks, as the collection orchestrator.fleet.
COLLECTION = Path("ansible_collections") / "orchestrator" / "fleet"


def project_dir() -> Path:
    """The directory holding ansible.cfg and the collection (ansible_collections/orchestrator/fleet).

    ORCHESTRATOR_PROJECT wins; otherwise the checkout this package was installed from
    (``pip install -e .``), then the current directory.
    """
    candidates = []
    if os.environ.get("ORCHESTRATOR_PROJECT"):
        candidates.append(Path(os.environ["ORCHESTRATOR_PROJECT"]))
    candidates += [Path(__file__).resolve().parent.parent, Path.cwd()]
    for candidate in candidates:
        if (candidate / COLLECTION / "playbooks" / "deploy.yml").is_file() and (candidate / "ansible.cfg").is_file():
            return candidate.resolve()
    raise InputError(
        f"cannot find the project's playbooks ({COLLECTION}/playbooks/deploy.yml and ansible.cfg): "
        "run from the project directory or set ORCHESTRATOR_PROJECT to it"
    )


def collection_dir() -> Path:
    return project_dir() / COLLECTION


def playbook(name: str) -> Path:
    return collection_dir() / "playbooks" / name


def default_state_dir() -> Path:
    """Deploy records and runner artifacts: ORCHESTRATOR_STATE_DIR, else .orchestrator/ in the project."""
    env = os.environ.get("ORCHESTRATOR_STATE_DIR")
    return Path(env) if env else project_dir() / ".orchestrator"


def stored_war(state_dir: Path, release_id: str) -> Path:
    """Where the orchestrator keeps the WAR of ``release_id``: every WAR it deployed is kept
    there, and rollbacks and new nodes are served from it (playbooks/rollback.yml's
    ``release_store`` is its directory)."""
    return Path(state_dir) / "releases" / f"{release_id}.war"
