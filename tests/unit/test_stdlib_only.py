"""Files that run where the orchestrator package is not installed import the standard library
only: the Ansible modules load judge.py, haproxy_admin.py, warfile.py, fsutil.py and catalina.py through module_utils/
(links to them) on the load balancers and nodes, and Mercurial loads flags.py by path into its
own Python for the push hook. One import of anything else breaks a deploy or a push on a host
that has only Python."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# What runs elsewhere: every module_utils link, and the Mercurial hook.
STDLIB_ONLY = sorted({p.resolve() for p in (ROOT / "module_utils").glob("*.py")} | {ROOT / "orchestrator" / "flags.py"})


def imported(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_the_files_that_run_elsewhere_are_found():
    assert {p.name for p in STDLIB_ONLY} >= {
        "judge.py",
        "haproxy_admin.py",
        "warfile.py",
        "fsutil.py",
        "catalina.py",
        "flags.py",
    }


@pytest.mark.parametrize("path", STDLIB_ONLY, ids=lambda p: p.name)
def test_imports_only_the_standard_library(path):
    outside = {name for name in imported(path) if name not in sys.stdlib_module_names and name != "__future__"}
    assert not outside, (
        f"{path.relative_to(ROOT)} imports {sorted(outside)}: it must run with the standard library alone"
    )
