"""Files that run where the orchestrator package is not installed import the standard library
only: orchestrator/module_utils/ (the Ansible modules in library/ load it as
ansible.module_utils.<name> on the load balancers and nodes), and flags.py, which Mercurial loads
by path into its own Python for the push hook. One import of anything else breaks a deploy or a
push on a host that has only Python.

A helper may use a neighbour in the folder one way only, which works in both places:
``try: from ansible.module_utils.X import ...`` (on a host, where Ansible ships X with it)
``except ImportError: from orchestrator.module_utils.X import ...`` (here)."""

from __future__ import annotations

import ast
import configparser
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MODULE_UTILS = ROOT / "orchestrator" / "module_utils"
# What runs elsewhere: the modules' helpers, and the Mercurial hook.
STDLIB_ONLY = sorted([*MODULE_UTILS.glob("*.py"), ROOT / "orchestrator" / "flags.py"])


def neighbour_imports(tree: ast.Module) -> set[int]:
    """ids of the ImportFrom nodes of the one allowed way to use a neighbour (see above)."""
    allowed = set()
    helpers = {p.stem for p in MODULE_UTILS.glob("*.py")}
    for node in ast.walk(tree):
        if not isinstance(node, ast.Try) or len(node.body) != 1 or len(node.handlers) != 1:
            continue
        there, handler = node.body[0], node.handlers[0]
        here = handler.body[0] if len(handler.body) == 1 else None
        if not (isinstance(there, ast.ImportFrom) and isinstance(here, ast.ImportFrom)):
            continue
        name = (there.module or "").removeprefix("ansible.module_utils.")
        if (
            getattr(handler.type, "id", None) == "ImportError"
            and name in helpers
            and here.module == f"orchestrator.module_utils.{name}"
            and [a.name for a in there.names] == [a.name for a in here.names]
        ):
            allowed |= {id(there), id(here)}
    return allowed


def imported(path: Path) -> set[str]:
    names = set()
    tree = ast.parse(path.read_text())
    neighbours = neighbour_imports(tree) if path.parent == MODULE_UTILS else set()
    for node in ast.walk(tree):
        if id(node) in neighbours:
            continue
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            # a relative import would name a neighbour, which ansible.module_utils does not resolve
            names.add(node.module.split(".")[0] if node.level == 0 else "." * node.level + (node.module or ""))
    return names


def test_the_files_that_run_elsewhere_are_found():
    assert {p.name for p in STDLIB_ONLY} >= {
        "judge.py",
        "haproxy_admin.py",
        "warfile.py",
        "fsutil.py",
        "catalina.py",
        "processes.py",
        "capacity.py",
        "flags.py",
    }


def test_a_neighbour_is_used_the_one_way_that_works_on_a_host_too():
    # catalina.py stops Tomcat with processes.py's terminate, as the orchestrator stops its own
    tree = ast.parse((MODULE_UTILS / "catalina.py").read_text())
    assert len(neighbour_imports(tree)) == 2
    assert "orchestrator" not in imported(MODULE_UTILS / "catalina.py")


@pytest.mark.parametrize("path", STDLIB_ONLY, ids=lambda p: p.name)
def test_imports_only_the_standard_library(path):
    outside = {name for name in imported(path) if name not in sys.stdlib_module_names and name != "__future__"}
    assert not outside, (
        f"{path.relative_to(ROOT)} imports {sorted(outside)}: it must run with the standard library alone"
    )


def test_ansible_loads_the_modules_helpers_from_that_folder():
    config = configparser.ConfigParser()
    config.read(ROOT / "ansible.cfg")
    assert (ROOT / config["defaults"]["module_utils"]).resolve() == MODULE_UTILS


@pytest.mark.parametrize("module", sorted((ROOT / "library").glob("*.py")), ids=lambda p: p.stem)
def test_each_module_imports_helpers_that_are_there(module):
    helpers = {p.stem for p in MODULE_UTILS.glob("*.py")} - {"__init__"}
    for node in ast.walk(ast.parse(module.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("ansible.module_utils."):
            name = node.module.split(".")[2]
            assert name in helpers or name in ("basic", "common", "parsing"), f"{module.name}: {node.module}"
