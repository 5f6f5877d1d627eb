"""The app servers as last deployed to, with the variables that reach them.

A host removed from the inventory must still be drained and have its Tomcat stopped, but the
inventory no longer says how to log in to it or where its Tomcat lives. So after every
successful deploy and apply the orchestrator keeps each app server's variables (as the
inventory defines them, templates unrendered) in ``<state>/fleet/roster.json``, and hands the
removed ones to playbooks/apply.yml as a group ``retiring`` in an inventory of their own.

Variables that cannot be written as JSON (vault-encrypted values) are left out: a retiring
host that needs one to log in fails at its stop, after it is out of rotation.
"""

from __future__ import annotations

import json
from pathlib import Path

from ansible_collections.orchestrator.fleet.plugins.module_utils.fsutil import write_atomic
from orchestrator.fleet.inventory import APP_GROUP

RETIRING_GROUP = "retiring"
# Variables Ansible makes up for every host; they are recomputed for the retiring inventory.
_MAGIC = {
    "groups",
    "group_names",
    "omit",
    "playbook_dir",
    "ansible_facts",
    "ansible_version",
    "ansible_config_file",
    "ansible_playbook_python",
}


def roster_path(state_dir: Path) -> Path:
    return Path(state_dir) / "fleet" / "roster.json"


def host_variables(inventory: Path) -> dict[str, dict]:
    """Each app server's variables as Ansible resolves them from ``inventory`` (host, group and group_vars)."""
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader
    from ansible.vars.manager import VariableManager

    manager = InventoryManager(loader=DataLoader(), sources=[str(inventory)])
    variables = VariableManager(loader=manager._loader, inventory=manager)
    hosts = {}
    for name in manager.get_groups_dict().get(APP_GROUP, []):
        found = variables.get_vars(host=manager.get_host(name), include_hostvars=False)
        hosts[name] = {
            k: v for k, v in found.items() if k not in _MAGIC and not k.startswith("inventory_") and _writable(v)
        }
    return hosts


def _writable(value) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def remember(inventory: Path, state_dir: Path, *, applied: str | None = None) -> None:
    """Record the app servers of ``inventory`` (mode 0600: connection variables may be sensitive).

    After a deploy hosts no longer in the inventory are kept: they may still be behind a load
    balancer, waiting to be retired. After an apply (``applied``: the inventory's fingerprint as
    it read it) the roster is exactly the inventory, and the fingerprint is kept: the watcher
    compares it at start-up to see an edit made while it was not running.
    """
    hosts = host_variables(inventory)
    if applied is None:
        hosts = {**known(state_dir), **hosts}
    write_atomic(roster_path(state_dir), json.dumps(hosts, indent=2, sort_keys=True) + "\n", mode=0o600)
    if applied is not None:
        write_atomic(roster_path(state_dir).with_name("applied-inventory.sha256"), applied + "\n")


def applied_fingerprint(state_dir: Path) -> str | None:
    """The fingerprint of the inventory as last applied, if any."""
    try:
        return roster_path(state_dir).with_name("applied-inventory.sha256").read_text().strip() or None
    except OSError:
        return None


def known(state_dir: Path) -> dict[str, dict]:
    try:
        return json.loads(roster_path(state_dir).read_text())
    except FileNotFoundError:
        return {}
    except ValueError:
        return {}  # an unreadable roster is as good as none: retiring hosts are then only taken out of rotation


UNRECORDED = "not known to the orchestrator (no record of how to reach it)"


def kept_running(hosts: list[str], inventory: Path, state_dir: Path) -> dict[str, str]:
    """Of the retiring ``hosts``, those whose Tomcat must not be stopped, and why.

    One nobody recorded cannot be logged in to. One whose address and Tomcat port a host of the
    inventory has now is the same Tomcat under a new name (a host renamed): stopping it would
    take the new name's server down.
    """
    if not hosts:
        return {}  # nothing retires: spare reading the inventory once more (every apply, every watcher edit)
    recorded = known(state_dir)
    taken = {_endpoint(name, variables): name for name, variables in host_variables(inventory).items()}
    reasons = {}
    for name in hosts:
        if name not in recorded:
            reasons[name] = UNRECORDED
        elif _endpoint(name, recorded[name]) in taken:
            address, port = _endpoint(name, recorded[name])
            reasons[name] = f"{address}:{port} is {taken[(address, port)]}'s now (the same Tomcat under a new name?)"
    return reasons


def _endpoint(name: str, variables: dict) -> tuple[str, str]:
    return str(variables.get("ansible_host", name)), str(variables.get("tomcat_port", 8080))


def write_retiring_inventory(hosts: list[str], state_dir: Path, path: Path, keep_running: dict[str, str]) -> Path:
    """An inventory with the group ``retiring``: ``hosts`` with their recorded variables.

    Those in ``keep_running`` (see kept_running) are only taken out of rotation: all of that runs
    on the load balancers, and nobody stops their Tomcat.
    """
    recorded = known(state_dir)
    entries = {}
    for name in hosts:
        entries[name] = dict(recorded.get(name, {}))
        if name in keep_running:
            entries[name].update(webapp_retire_stop_tomcat=False, webapp_retire_keep_reason=keep_running[name])
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(
        path, json.dumps({"all": {"children": {RETIRING_GROUP: {"hosts": entries}}}}, indent=2) + "\n", mode=0o600
    )
    return path
