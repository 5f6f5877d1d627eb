"""The fleet's deploy settings have their defaults in one place, the collection's settings role
(roles/settings/defaults/main.yml), which the playbooks, the roles and the orchestrator all read.
A default given again anywhere else (a `| default(...)` in the YAML) fails here, before it can
drift from the one the orchestrator plans with."""

from __future__ import annotations

import re

import yaml

from orchestrator.fleet.inventory import DEFAULTS
from tests.conftest import COLLECTION, ROOT

SETTINGS = COLLECTION / "roles/settings/defaults/main.yml"
YAML_FILES = sorted(
    path for path in [*COLLECTION.glob("playbooks/*.yml"), *COLLECTION.glob("roles/*/*/*.yml")] if path != SETTINGS
)


def test_no_playbook_or_role_gives_a_setting_a_default_of_its_own():
    again = [
        f"{path.relative_to(COLLECTION)}: {match.group(0)}"
        for path in YAML_FILES
        for match in re.finditer(rf"\b({'|'.join(DEFAULTS)})\s*\|\s*default\([^)]*\)", path.read_text())
    ]
    assert again == []


def test_a_play_that_reads_a_setting_lists_the_settings_role_or_a_role_that_depends_on_it():
    """Otherwise the play would fail on an undefined variable wherever the inventory is silent."""
    with_settings = {"orchestrator.fleet.settings"} | {
        f"orchestrator.fleet.{path.parent.parent.name}"
        for path in COLLECTION.glob("roles/*/meta/main.yml")
        if {"role": "orchestrator.fleet.settings"} in (yaml.safe_load(path.read_text()).get("dependencies") or [])
    }
    assert with_settings >= {"orchestrator.fleet.webapp", "orchestrator.fleet.tomcat", "orchestrator.fleet.haproxy"}
    reads = re.compile(rf"\b({'|'.join(DEFAULTS)})\b")
    for path in COLLECTION.glob("playbooks/*.yml"):
        for play in yaml.safe_load(path.read_text()):
            if "import_playbook" in play:
                continue
            body = yaml.safe_dump({k: v for k, v in play.items() if k != "roles"})
            roles = {r if isinstance(r, str) else r["role"] for r in play.get("roles", [])}
            if reads.search(body):
                assert roles & with_settings, (
                    f"{path.name}: play {play['name']!r} reads a setting without the settings role"
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
