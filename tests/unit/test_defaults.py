"""The deploy settings that both sides read have one default: the playbooks' `| default(...)`
for deploy_serial, deploy_min_healthy, deploy_allow_unversioned, deploy_strategy and
bluegreen_keep_seconds, and the documented one for
deploy_failure_policy, equal orchestrator.inventory.DEFAULTS (what the orchestrator plans
with). A change to one side that forgets the other fails here."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from orchestrator.fleet.inventory import DEFAULTS

ROOT = Path(__file__).resolve().parents[2]
COLLECTION = ROOT / "ansible_collections" / "orchestrator" / "fleet"
PLAYBOOK_FILES = sorted(
    [
        *COLLECTION.glob("playbooks/*.yml"),
        *COLLECTION.glob("roles/*/tasks/*.yml"),
        *COLLECTION.glob("roles/*/defaults/*.yml"),
    ]
)


def defaults_in_playbooks(variable: str) -> list[tuple[str, str]]:
    """(file, default) for every `variable | default(X)` in the playbooks and roles."""
    found = []
    for path in PLAYBOOK_FILES:
        for value in re.findall(rf"\b{variable}\s*\|\s*default\(([^)]*)\)", path.read_text()):
            found.append((str(path.relative_to(ROOT)), value.strip()))
    return found


@pytest.mark.parametrize(
    "variable",
    ["deploy_serial", "deploy_min_healthy", "deploy_allow_unversioned", "deploy_strategy", "bluegreen_keep_seconds"],
)
def test_every_playbook_default_is_the_orchestrators(variable):
    found = defaults_in_playbooks(variable)
    assert found, f"no playbook reads {variable}"
    expected = DEFAULTS[variable]
    for path, value in found:
        assert yaml.safe_load(value) == expected, (
            f"{path}: {variable} | default({value}), the orchestrator uses {expected!r}"
        )


def test_the_example_inventory_names_the_failure_policy_default():
    example = yaml.safe_load((ROOT / "inventory/production.example/group_vars/all.yml").read_text())
    assert example["deploy_failure_policy"] == DEFAULTS["deploy_failure_policy"]


def test_the_slot_ports_agree_on_both_sides():
    """A slot's port is named twice (tomcat_slot_ports on the nodes, haproxy_backend_slot_ports on
    the load balancers, each from its role's own port); the rule must be the same."""
    tomcat = yaml.safe_load((COLLECTION / "roles/tomcat/defaults/main.yml").read_text())["tomcat_slot_ports"]
    haproxy = yaml.safe_load((COLLECTION / "roles/haproxy/defaults/main.yml").read_text())["haproxy_backend_slot_ports"]
    assert list(tomcat) == list(haproxy) == ["blue", "green"]
    for slot in tomcat:
        assert tomcat[slot].replace("tomcat_port", "PORT") == haproxy[slot].replace("haproxy_backend_port", "PORT")


def test_the_orchestrator_names_the_same_slots():
    from orchestrator.fleet import inventory
    from orchestrator.sandbox import cluster as sandbox

    tomcat = yaml.safe_load((COLLECTION / "roles/tomcat/defaults/main.yml").read_text())["tomcat_slot_ports"]
    assert inventory.SLOTS == tuple(tomcat) == tuple(sandbox.SLOT_PORTS)
