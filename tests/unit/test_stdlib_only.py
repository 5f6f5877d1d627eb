"""Files that run where the orchestrator package is not installed import the standard library
only: the collection's plugins/module_utils/ (Ansible ships them with each module to the load
balancers and nodes), and flags.py, which Mercurial loads by path into its own Python for the
push hook. One import of anything else breaks a deploy or a push on a host that has only Python.

A helper uses a neighbour by its collection path,
``from ansible_collections.orchestrator.fleet.plugins.module_utils.X import ...``: Ansible resolves
it on a host (it ships X with the module), and plain Python resolves it here (``ansible_collections``
is a namespace package in the project root)."""

from __future__ import annotations

import ast
import configparser
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
COLLECTION = ROOT / "ansible_collections" / "orchestrator" / "fleet"
MODULE_UTILS = COLLECTION / "plugins" / "module_utils"
MODULES = COLLECTION / "plugins" / "modules"
NEIGHBOUR = "ansible_collections.orchestrator.fleet.plugins.module_utils"
HELPERS = {p.stem for p in MODULE_UTILS.glob("*.py")}
# What runs elsewhere: the modules' helpers, and the Mercurial hook.
STDLIB_ONLY = sorted([*MODULE_UTILS.glob("*.py"), ROOT / "orchestrator" / "flags.py"])


def imports(path: Path) -> list[str]:
    """Every module ``path`` imports, dotted; a relative import as its dots and name."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module == NEIGHBOUR:
            found += [f"{NEIGHBOUR}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append(node.module if node.level == 0 else "." * node.level + (node.module or ""))
    return found


def outside_the_standard_library(path: Path) -> set[str]:
    outside = set()
    for name in imports(path):
        if name.startswith(NEIGHBOUR + "."):
            assert name.removeprefix(NEIGHBOUR + ".") in HELPERS, f"{path.name} imports {name}, which is not there"
        elif name.split(".")[0] not in sys.stdlib_module_names and name != "__future__":
            outside.add(name)
    return outside


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


def test_a_neighbour_is_used_by_its_collection_path():
    # catalina.py stops Tomcat with processes.py's terminate, as the orchestrator stops its own
    assert f"{NEIGHBOUR}.processes" in imports(MODULE_UTILS / "catalina.py")
    assert not outside_the_standard_library(MODULE_UTILS / "catalina.py")


@pytest.mark.parametrize("path", STDLIB_ONLY, ids=lambda p: p.name)
def test_imports_only_the_standard_library(path):
    outside = outside_the_standard_library(path)
    assert not outside, (
        f"{path.relative_to(ROOT)} imports {sorted(outside)}: it must run with the standard library alone"
    )


def test_ansible_finds_the_collection_of_this_checkout_first():
    config = configparser.ConfigParser()
    config.read(ROOT / "ansible.cfg")
    first = config["defaults"]["collections_path"].split(":")[0]
    assert (ROOT / first / "ansible_collections" / "orchestrator" / "fleet").resolve() == COLLECTION


@pytest.mark.parametrize("module", sorted(MODULES.glob("*.py")), ids=lambda p: p.stem)
def test_each_module_imports_ansible_and_the_collections_helpers_only(module):
    for name in imports(module):
        if name.startswith("ansible.module_utils."):
            assert name.split(".")[2] in ("basic", "common", "parsing", "urls"), f"{module.name}: {name}"
        elif name.startswith(NEIGHBOUR + "."):
            assert name.removeprefix(NEIGHBOUR + ".") in HELPERS, f"{module.name}: {name}"
        else:
            assert name.split(".")[0] in sys.stdlib_module_names or name == "__future__", f"{module.name}: {name}"
