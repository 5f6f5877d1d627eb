"""The README's settings table repeats the defaults in prose, for a reader who has no Ansible at
hand; each must be the owner's: the settings role, the role that reads it, or the judge's table."""

from __future__ import annotations

import re

import yaml

from ansible_collections.orchestrator.fleet.plugins.module_utils import judge
from tests.conftest import COLLECTION, ROOT


def owners() -> dict:
    defaults = {setting.variable: setting.default for setting in judge.SETTINGS}
    for path in COLLECTION.glob("roles/*/defaults/main.yml"):
        defaults.update(yaml.safe_load(path.read_text()) or {})
    return defaults


def table_rows():
    """(variables, documented defaults) of each row of the README's settings table whose default cell
    gives one literal per variable (before any "(sandbox ...)")."""
    text = (ROOT / "README.md").read_text().split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]
    for line in text.splitlines():
        if not line.startswith("| `"):
            continue
        name_cell, default_cell = line.split("|")[1:3]
        names = re.findall(r"`([^`]+)`", name_cell)
        first = names[0]
        # `webapp_bake_latency_tolerance`, `_floor_ms`: the second is webapp_bake_latency_floor_ms
        names = [first] + [first.rsplit("_", 1)[0] + name if name.startswith("_") else name for name in names[1:]]
        values = re.findall(r"`([^`]*)`", default_cell.split("(sandbox")[0])
        if len(values) == len(names):
            yield names, values


def test_every_default_in_the_readme_is_the_owners():
    known = owners()
    checked, wrong = 0, []
    for names, values in table_rows():
        for name, value in zip(names, values, strict=True):
            if name not in known:
                wrong.append(f"{name}: in the README's table, but no role or the judge gives it a default")
            elif yaml.safe_load(value) != known[name]:
                wrong.append(f"{name}: README says {value}, the owner {known[name]!r}")
            checked += 1
    assert wrong == []
    assert checked >= 30, checked
