"""The bake's settings live in three places that must agree: the webapp role's defaults (what a
deploy uses), the haproxy_bake module's documented defaults, and the judge's Policy (what the
unit tests of the judge assume)."""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path

import pytest
import yaml

from ansible_collections.orchestrator.fleet.plugins.module_utils.judge import Policy

ROOT = Path(__file__).resolve().parents[2]
COLLECTION = ROOT / "ansible_collections" / "orchestrator" / "fleet"
ROLE_DEFAULTS = yaml.safe_load((COLLECTION / "roles/webapp/defaults/main.yml").read_text())

# role variable -> the module's option and the Policy field of the same name (None: module only)
SETTINGS = {
    "webapp_bake_confidence": "confidence",
    "webapp_bake_power": "power",
    "webapp_bake_min_requests": "min_requests",
    "webapp_bake_5xx_tolerance": "errors_tolerance",
    "webapp_bake_5xx_detect_share": "errors_detect_share",
    "webapp_bake_latency_tolerance": "latency_tolerance",
    "webapp_bake_latency_floor_ms": "latency_floor_ms",
    "webapp_bake_latency_detect": "latency_detect",
    "webapp_bake_latency_detect_ms": "latency_detect_ms",
    "webapp_bake_interval": "interval",
    "webapp_bake_inconclusive": "inconclusive",
}


def module_options() -> dict:
    spec = importlib.util.spec_from_file_location("haproxy_bake_doc", COLLECTION / "plugins/modules/haproxy_bake.py")
    source = spec.loader.get_source("haproxy_bake_doc")
    documentation = source.split('DOCUMENTATION = r"""', 1)[1].split('"""', 1)[0]
    return yaml.safe_load(documentation)["options"]


@pytest.mark.parametrize("variable, option", SETTINGS.items())
def test_the_role_the_module_and_the_judge_agree_on_each_default(variable, option):
    role = ROLE_DEFAULTS[variable]
    assert module_options()[option].get("default") == role, f"haproxy_bake's {option} vs {variable}"
    fields = {f.name: f.default for f in dataclasses.fields(Policy)}
    if option in fields:
        assert fields[option] == role, f"Policy.{option} vs {variable}"


def test_every_policy_field_but_watches_is_a_role_setting():
    # watches: the number of nodes after the first batch, which the playbook counts
    assert {f.name for f in dataclasses.fields(Policy)} - {"watches"} <= set(SETTINGS.values())
