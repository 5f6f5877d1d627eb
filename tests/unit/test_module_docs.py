"""The custom Ansible modules document themselves as ansible-doc reads them: DOCUMENTATION
(and RETURN, EXAMPLES where given) is valid YAML, and its options are exactly the module's
argument_spec, so the two cannot drift apart."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

LIBRARY = Path(__file__).resolve().parents[2] / "library"


def blocks(module: ast.Module) -> dict[str, str]:
    return {node.targets[0].id: node.value.value for node in module.body
            if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)
            and node.targets[0].id in ("DOCUMENTATION", "RETURN", "EXAMPLES")}


def argument_spec(module: ast.Module) -> set[str]:
    for node in ast.walk(module):
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "AnsibleModule":
            spec = next(k.value for k in node.keywords if k.arg == "argument_spec")
            return {k.arg for k in spec.keywords}
    raise AssertionError("no AnsibleModule(argument_spec=dict(...)) call")


@pytest.mark.parametrize("path", sorted(LIBRARY.glob("*.py")), ids=lambda p: p.stem)
def test_documentation_is_yaml_and_matches_the_argument_spec(path):
    module = ast.parse(path.read_text())
    docs = blocks(module)
    documentation = yaml.safe_load(docs["DOCUMENTATION"])
    assert documentation["module"] == path.stem
    assert set(documentation.get("options") or {}) == argument_spec(module)
    for name in ("RETURN", "EXAMPLES"):
        if name in docs:
            yaml.safe_load(docs[name])
