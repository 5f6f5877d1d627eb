"""The judge's settings are given once, in judge.SETTINGS: Policy's defaults, haproxy_bake's
argument_spec and the preflight's rules are built from it, and the webapp role passes a
variable only when it is set. What must still repeat a default is the module's DOCUMENTATION,
literal YAML that ansible-doc reads without running code: checked here (and by ansible-test's
validate-modules). The two role settings the module also takes (interval, inconclusive) keep
their role defaults, which the module's defaults must equal for a caller of the module alone."""

from __future__ import annotations

import dataclasses
import importlib.util
import re

import pytest
import yaml

from ansible_collections.orchestrator.fleet.plugins.module_utils import judge
from ansible_collections.orchestrator.fleet.plugins.module_utils.judge import Policy
from tests.conftest import COLLECTION

ROLE_DEFAULTS = yaml.safe_load((COLLECTION / "roles/webapp/defaults/main.yml").read_text())


def module_options() -> dict:
    spec = importlib.util.spec_from_file_location("haproxy_bake_doc", COLLECTION / "plugins/modules/haproxy_bake.py")
    source = spec.loader.get_source("haproxy_bake_doc")
    documentation = source.split('DOCUMENTATION = r"""', 1)[1].split('"""', 1)[0]
    return yaml.safe_load(documentation)["options"]


@pytest.mark.parametrize("setting", judge.SETTINGS, ids=lambda s: s.option)
def test_the_modules_documentation_says_the_judges_default(setting):
    documented = module_options()[setting.option]
    assert documented.get("default") == setting.default
    assert documented["type"] == judge.argument_spec()[setting.option]["type"]


def test_the_policy_is_the_judges_settings_and_the_watches():
    fields = {f.name: f.default for f in dataclasses.fields(Policy)}
    assert fields == {**judge.DEFAULTS, "watches": 1}


@pytest.mark.parametrize("setting", judge.SETTINGS, ids=lambda s: s.option)
def test_the_role_gives_no_default_of_its_own_and_passes_the_variable_only_when_set(setting):
    assert setting.variable not in ROLE_DEFAULTS
    for task_file in ("bake_step.yml", "watch.yml"):
        text = (COLLECTION / "roles/webapp/tasks" / task_file).read_text()
        assert re.search(rf"{setting.option}: \"{{{{ {setting.variable} \| default\(omit\) }}}}\"", text), task_file
    assert setting.variable in (COLLECTION / "roles/webapp/meta/argument_specs.yml").read_text()


@pytest.mark.parametrize(
    "variable, option", [("webapp_bake_interval", "interval"), ("webapp_bake_inconclusive", "inconclusive")]
)
def test_the_role_settings_the_module_takes_have_the_same_default(variable, option):
    assert module_options()[option].get("default") == ROLE_DEFAULTS[variable]
