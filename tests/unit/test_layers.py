"""The package keeps its shape: no two modules import each other, even through others, and only
the command line talks to the terminal or ends the process. (The rules between the parts are
import-linter's contracts in pyproject.toml, run by scripts/lint.)"""

from __future__ import annotations

import ast
from pathlib import Path

import grimp

PACKAGE = Path(__file__).resolve().parents[2] / "orchestrator"
# the command line: its commands print, and main() exits with the code of the error boundary
THE_CLI = {PACKAGE / "cli", PACKAGE / "cli_reference.py", PACKAGE / "__main__.py"}
# The runner reports a fault of the code that watches a run's events on stderr: that code is the
# caller's, so the caller's `say` is what failed and cannot be asked to tell it.
ALLOWED = {("fleet/runner.py", "print")}


def test_no_module_imports_itself_through_others():
    graph = grimp.build_graph("orchestrator")
    cycles = set()
    for module in graph.modules:
        for imported in graph.find_modules_directly_imported_by(module):
            back = graph.find_shortest_chain(importer=imported, imported=module)
            if back and not module.startswith(imported + ".") and not imported.startswith(module + "."):
                cycles.add(" -> ".join((module, *back)))
    assert sorted(cycles) == []


def talks_or_exits(path: Path) -> list[tuple[int, str]]:
    found = []
    tree = ast.parse(path.read_text())
    called = {id(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = ast.unparse(node.func)
            if name in ("print", "exit", "quit", "sys.exit", "os._exit", "click.echo", "click.secho"):
                found.append((node.lineno, name))
        elif isinstance(node, ast.Name) and node.id == "print" and id(node) not in called:
            found.append((node.lineno, "print passed on"))  # e.g. a default `say=print`
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
            found += [(node.lineno, f"import {n}") for n in names if n.split(".")[0] == "click"]
    return found


def test_only_the_command_line_prints_or_exits():
    outside = {
        f"{path.relative_to(PACKAGE)}:{line} {what}"
        for path in PACKAGE.rglob("*.py")
        if not any(path == part or part in path.parents for part in THE_CLI)
        for line, what in talks_or_exits(path)
        if (str(path.relative_to(PACKAGE)), what) not in ALLOWED
    }
    assert sorted(outside) == [], "library code says things through a `say` its caller gives, and raises errors"


def test_the_check_finds_what_it_looks_for(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text("import sys\nimport click\ndef f(say=print):\n    click.echo('x')\n    sys.exit(2)\n")
    assert [what for _, what in sorted(talks_or_exits(sample))] == [
        "import click",
        "print passed on",
        "click.echo",
        "sys.exit",
    ]
