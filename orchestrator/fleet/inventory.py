"""Read an Ansible inventory the way ansible-playbook will, and check it can be deployed to."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from ansible_collections.orchestrator.fleet.plugins.module_utils import preflight
from orchestrator.errors import InputError
from orchestrator.project import collection_dir

APP_GROUP = "appservers"
LB_GROUP = "loadbalancers"


# deploy_strategy bluegreen: every app server's Tomcat slots (roles/tomcat tomcat_slot_ports)
SLOTS = ("blue", "green")
# The deploy settings that hold for the whole fleet, with their defaults: the collection's
# settings role gives them once, for the playbooks and for us.
SETTINGS_DEFAULTS = collection_dir() / "roles" / "settings" / "defaults" / "main.yml"
DEFAULTS: dict[str, Any] = yaml.safe_load(SETTINGS_DEFAULTS.read_text())


@dataclass(frozen=True)
class Fleet:
    inventory: Path
    appservers: tuple[str, ...]
    loadbalancers: tuple[str, ...]
    # after a failure part-way: roll the updated nodes back (never leave mixed versions), or stop
    failure_policy: str = DEFAULTS["deploy_failure_policy"]
    # deploy_serial and deploy_min_healthy as the inventory sets them (the playbook checks them)
    serial: object = DEFAULTS["deploy_serial"]
    min_healthy: object = DEFAULTS["deploy_min_healthy"]
    # deploy_allow_unversioned: WARs without Implementation-Version may deploy (the version gate is off)
    allow_unversioned: bool = DEFAULTS["deploy_allow_unversioned"]
    # deploy_strategy: rolling (restart each node out of rotation) or bluegreen (two Tomcat slots per node)
    strategy: str = DEFAULTS["deploy_strategy"]
    # bluegreen_keep_seconds: how long the old slots keep running after a blue/green switch
    keep_seconds: float = DEFAULTS["bluegreen_keep_seconds"]

    def with_strategy(self, strategy: str | None) -> Fleet:
        """This fleet deployed with ``strategy`` (--strategy) instead of the inventory's."""
        if strategy is None:
            return self
        check_strategy(strategy, "--strategy")
        return replace(self, strategy=strategy)


def check_strategy(strategy: str, where: str) -> None:
    problems = preflight.strategy(strategy)
    if problems:
        raise InputError(f"{where}: {problems[0]}")


def load_fleet(inventory: Path) -> Fleet:
    """Parse ``inventory`` (a file or directory) with Ansible's own loader."""
    inventory = Path(inventory).resolve()
    if not inventory.exists():
        raise InputError(
            f"inventory {inventory} does not exist: pass --inventory with an inventory file or "
            "directory (for the sandbox, run 'orchestrator sandbox up' first)"
        )
    # Imported here: loading Ansible takes a moment, and most commands never need it.
    from ansible import constants
    from ansible.errors import AnsibleError
    from ansible.inventory.manager import InventoryManager
    from ansible.module_utils.parsing.convert_bool import boolean
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar
    from ansible.utils.display import Display
    from ansible.vars.manager import VariableManager

    display = Display()
    display.verbosity = 0
    # A file of the inventory that does not parse must stop us, not be skipped with a warning:
    # its hosts would look removed, and apply would retire them. (ansible.cfg says the same for
    # the playbook runs.)
    constants.INVENTORY_ANY_UNPARSED_IS_FAILED = True
    # Ansible warns once per inventory plugin it tried (about 20 lines for one YAML typo) before
    # it fails: held back here, and the one that matters is said in one line.
    warnings: list[str] = []
    display.warning = lambda msg, formatted=False: warnings.append(msg)
    try:
        manager = InventoryManager(loader=DataLoader(), sources=[str(inventory)])
    except AnsibleError as exc:
        raise InputError(
            f"inventory {inventory} does not parse: {parse_failure(warnings) or str(exc).splitlines()[0]}; "
            "fix the file (ansible-inventory -i <it> --list shows what Ansible makes of it)"
        ) from None
    finally:
        del display.warning  # the class's own again
    for message in warnings:
        display.warning(message)
    groups = manager.get_groups_dict()
    if not manager.hosts and not groups.get("all"):
        raise InputError(
            f"inventory {inventory} has no hosts (or could not be parsed): "
            f"list app servers under '{APP_GROUP}' and HAProxy hosts under '{LB_GROUP}'"
        )
    missing = [g for g in (APP_GROUP, LB_GROUP) if not groups.get(g)]
    if missing:
        what = {APP_GROUP: "the Tomcat nodes", LB_GROUP: "the HAProxy hosts"}
        raise InputError(
            f"inventory {inventory} has no hosts in "
            + " or ".join(f"'{g}'" for g in missing)
            + ": add a group "
            + " and a group ".join(f"'{g}' listing {what[g]}" for g in missing)
        )
    variables = VariableManager(loader=manager._loader, inventory=manager)
    first = manager.get_host(groups[APP_GROUP][0])
    first_vars = variables.get_vars(host=first)
    # the fleet's settings as the playbooks will see them: templated by Ansible, else the default
    templar = Templar(loader=manager._loader, variables=first_vars)
    settings = dict(DEFAULTS)
    for name in (name for name in DEFAULTS if name in first_vars):
        try:
            settings[name] = templar.template(first_vars[name])
        except AnsibleError as exc:
            raise InputError(f"inventory {inventory}: {name} cannot be templated: {exc.message}") from None
    problems = preflight.deploy_settings(settings)
    if problems:
        raise InputError(f"inventory {inventory}: {'; '.join(problems)}")
    return Fleet(
        inventory,
        tuple(groups[APP_GROUP]),
        tuple(groups[LB_GROUP]),
        str(settings["deploy_failure_policy"]),
        settings["deploy_serial"],
        settings["deploy_min_healthy"],
        boolean(settings["deploy_allow_unversioned"]),
        str(settings["deploy_strategy"]),
        float(settings["bluegreen_keep_seconds"]),
    )


# The roles whose settings a node's preflight checks, and whose defaults it sees (in this order).
NODE_ROLES = ("settings", "tomcat", "webapp")


def node_problems(inventory: Path) -> list[str]:
    """Each app server's webapp and Tomcat settings against the preflight's rules, as the deploy's
    preflight checks them: the roles' defaults under the inventory's variables, templated by
    Ansible. What only the live load balancers can say (their health-check interval, their
    request ring) is left to the deploy. One line per node with a problem."""
    from ansible.errors import AnsibleError
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar
    from ansible.vars.manager import VariableManager

    defaults: dict[str, Any] = {}
    for role in NODE_ROLES:
        defaults.update(yaml.safe_load((collection_dir() / "roles" / role / "defaults" / "main.yml").read_text()) or {})
    loader = DataLoader()
    manager = InventoryManager(loader=loader, sources=[str(inventory)])
    variables = VariableManager(loader=loader, inventory=manager)
    wanted = (*preflight.VARIABLES["tomcat"], *preflight.VARIABLES["webapp"])
    problems = []
    for host in manager.get_groups_dict().get(APP_GROUP, []):
        given = {**defaults, **variables.get_vars(host=manager.get_host(host))}
        templar = Templar(loader=loader, variables=given)
        settings, found = {}, []
        for name in (name for name in wanted if name in given):
            try:
                settings[name] = templar.template(given[name])
            except AnsibleError as exc:
                found.append(f"{name} cannot be templated: {exc.message}")
        found += preflight.tomcat(settings) + preflight.webapp(settings, loadbalancer=None)
        if found:
            problems.append(f"{host}: {'; '.join(found)}")
    return problems


PLUGIN_FAILURE = re.compile(r"\* Failed to parse (?P<file>.+?) with (?P<plugin>\w+) plugin: (?P<why>.*)", re.S)
YAML_WHERE = re.compile(r"The error appears to be in '[^']*': line (?P<line>\d+), column (?P<column>\d+)")


def parse_failure(warnings: list[str]) -> str | None:
    """One line from Ansible's per-plugin parse warnings: the file, where, and what is wrong.

    The plugin that fits the file speaks for it: yaml for .yml/.yaml/.json, ini otherwise.
    """
    failures = [m.groupdict() for m in (PLUGIN_FAILURE.search(w) for w in warnings) if m]
    if not failures:
        return None
    file = failures[0]["file"]
    wanted = ("yaml", "auto") if file.endswith((".yml", ".yaml", ".json")) else ("ini",)
    failure = next((f for f in failures if f["plugin"] in wanted), failures[0])
    why = failure["why"]
    where = YAML_WHERE.search(why)
    if "Syntax Error while loading YAML." in why:
        problem = why.split("Syntax Error while loading YAML.", 1)[1].strip().splitlines()[0].rstrip(".")
        problem = problem.replace(". while ", " (while ") + ")" if ". while " in problem else problem
        offending = why.split("^ here")[0].rstrip().splitlines()[-1].strip() if "^ here" in why else ""
        at = f", line {where['line']}, column {where['column']}" if where else ""
        return f"{file}{at}: {problem}" + (f", at {offending!r}" if offending else "")
    return f"{file}: {' '.join(why.split())}"


def fingerprint(inventory: Path) -> str:
    """A digest of every file of ``inventory`` (names and contents): it changes when the inventory does.

    Hidden files and editors' backups (.swp, ~) are left out, so an open editor changes nothing.
    """
    inventory = Path(inventory)
    files = (
        [inventory]
        if inventory.is_file()
        else sorted(
            p
            for p in inventory.rglob("*")
            if p.is_file()
            and not any(part.startswith(".") for part in p.relative_to(inventory).parts)
            and not p.name.endswith(("~", ".swp", ".swx", ".tmp"))
        )
    )
    digest = hashlib.sha256()
    for path in files:
        try:
            content = path.read_bytes()
        except OSError:
            continue  # removed while we read: the next look sees the change
        digest.update(str(path.relative_to(inventory) if path != inventory else path.name).encode() + b"\0")
        digest.update(hashlib.sha256(content).digest())
    return digest.hexdigest()
