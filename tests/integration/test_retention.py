"""Release retention on a node: the ship step's webapp_release call, run by ansible-playbook on a
scratch release store (no servers needed)."""

from __future__ import annotations

import json
import os
import sys

from tests.conftest import ROOT
from tests.support.cli import ansible_playbook

PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  tasks:
    - name: ship | Prepare r8 and prune, as the ship step does
      orchestrator.fleet.webapp_release:
        root: "{{ webapp_root }}"
        release: r8
        sha256: "0000"
        keep: 2
        protect: ["r1"]
"""


def test_prune_keeps_the_newest_and_never_current_previous_a_slots_or_last_known_good(tmp_path):
    # Given seven releases on a node, r1 oldest ... r7 newest; r3 is current, r2 previous, and a
    # blue/green slot holds r4
    root = tmp_path / "webapp"
    for age, name in enumerate(["r7", "r6", "r5", "r4", "r3", "r2", "r1"]):
        (root / "releases" / name).mkdir(parents=True)
        stamp = 1_700_000_000 - age * 3600
        os.utime(root / "releases" / name, (stamp, stamp))
    (root / "current").symlink_to("releases/r3")
    (root / "previous").symlink_to("releases/r2")
    (root / "slots").mkdir()
    (root / "slots" / "green").symlink_to("../releases/r4")
    (tmp_path / "ship.yml").write_text(PLAYBOOK)
    extra = {"webapp_root": str(root), "ansible_python_interpreter": sys.executable}

    # When r8 is shipped with webapp_keep_releases 2 and r1 named as the last known-good
    result = ansible_playbook(
        "-i",
        "localhost,",
        "-c",
        "local",
        tmp_path / "ship.yml",
        "-e",
        json.dumps(extra),
        env={"ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")},
        timeout=120,
    )

    # Then the two newest stay (r8, r7), and so do the current, previous, slot and last known-good
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr
    assert sorted(p.name for p in (root / "releases").iterdir()) == ["r1", "r2", "r3", "r4", "r7", "r8"]
