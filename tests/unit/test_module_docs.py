"""The custom Ansible modules document themselves as ansible-doc reads them, in ansible-core's
style: DOCUMENTATION, EXAMPLES and RETURN are valid YAML, the options are exactly the module's
argument_spec (so the two cannot drift apart), and every return value says when it is returned,
its type and a sample."""

from __future__ import annotations

import ast

import pytest
import yaml

from ansible_collections.orchestrator.fleet.plugins.module_utils import judge
from tests.conftest import COLLECTION

LIBRARY = COLLECTION / "plugins/modules"


def blocks(module: ast.Module) -> dict[str, str]:
    return {
        node.targets[0].id: node.value.value
        for node in module.body
        if isinstance(node, ast.Assign)
        and isinstance(node.targets[0], ast.Name)
        and node.targets[0].id in ("DOCUMENTATION", "RETURN", "EXAMPLES")
    }


def argument_spec(module: ast.Module, name: str) -> set[str]:
    for node in ast.walk(module):
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "AnsibleModule":
            spec = next(k.value for k in node.keywords if k.arg == "argument_spec")
            names = {k.arg for k in spec.keywords if k.arg is not None}
            for splat in (k.value for k in spec.keywords if k.arg is None):
                # haproxy_bake's **judge.argument_spec(): the judge's settings
                assert ast.unparse(splat) == "judge.argument_spec()", ast.unparse(splat)
                names |= set(judge.argument_spec())
            return names
    # documentation only: the arguments are its action plugin's _VALID_ARGS
    action = COLLECTION / "plugins/action" / f"{name}.py"
    assert action.exists(), "no AnsibleModule(argument_spec=dict(...)) call, and no action plugin"
    for node in ast.walk(ast.parse(action.read_text())):
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "_VALID_ARGS":
            return set(ast.literal_eval(node.value.args[0]))
    raise AssertionError(f"{action}: no _VALID_ARGS = frozenset((...))")


@pytest.mark.parametrize("path", sorted(LIBRARY.glob("*.py")), ids=lambda p: p.stem)
def test_documentation_is_yaml_and_matches_the_argument_spec(path):
    module = ast.parse(path.read_text())
    docs = blocks(module)
    documentation = yaml.safe_load(docs["DOCUMENTATION"])
    assert documentation["module"] == path.stem
    assert set(documentation.get("options") or {}) == argument_spec(module, path.stem)
    assert_only_fields(documentation.get("options") or {}, OPTION_FIELDS)
    # ansible-core's style: every module shows how it is called and what it returns, when, and what it looks like
    assert isinstance(yaml.safe_load(docs["EXAMPLES"]), list) and path.stem in docs["EXAMPLES"]
    returned = yaml.safe_load(docs["RETURN"]) or {}
    assert returned, "RETURN names what the module returns"
    assert_only_fields(returned, RETURN_FIELDS)
    for key, entry in returned.items():
        assert {"returned", "type", "sample"} <= set(entry), f"RETURN {key}: needs returned, type and sample"


# What ansible-doc reads in an option and a return value. Anything else is a description that a
# comma cut short in a YAML flow mapping ({description: a, b, type: str} makes "b" a key).
OPTION_FIELDS = {"description", "required", "type", "default", "choices", "elements", "aliases", "suboptions"}
RETURN_FIELDS = {"description", "returned", "type", "sample", "elements", "contains"}


def assert_only_fields(entries: dict, fields: set[str]) -> None:
    for name, entry in entries.items():
        assert isinstance(entry, dict) and "description" in entry, name
        assert set(entry) <= fields, f"{name}: {sorted(set(entry) - fields)} are not fields of it"
