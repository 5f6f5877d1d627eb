"""Release retention on a node: the role's own prune.yml, run by ansible-playbook on a scratch
release store (no servers needed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import ROOT

PLAYBOOK = """
- hosts: localhost
  gather_facts: false
  tasks:
    - ansible.builtin.import_role:
        name: webapp
        tasks_from: prune.yml
"""


def test_prune_keeps_the_newest_and_never_current_previous_or_last_known_good(tmp_path):
    # Given seven releases on a node, r1 oldest ... r7 newest
    root = tmp_path / "webapp"
    for age, name in enumerate(["r7", "r6", "r5", "r4", "r3", "r2", "r1"]):
        (root / "releases" / name).mkdir(parents=True)
        stamp = 1_700_000_000 - age * 3600
        os.utime(root / "releases" / name, (stamp, stamp))
    (tmp_path / "prune.yml").write_text(PLAYBOOK)
    extra = {"webapp_root": str(root), "webapp_keep_releases": 2, "war_release_id": "r7",
             "_webapp_prepared": {"current": "r2"},   # the release r7 replaced (previous)
             "deploy_keep_releases": ["r1"],          # the last known-good, named by the orchestrator
             "war": "unused", "ansible_python_interpreter": sys.executable}

    # When the prune phase runs with webapp_keep_releases 2
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
               PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    result = subprocess.run(["ansible-playbook", "-i", "localhost,", "-c", "local", str(tmp_path / "prune.yml"),
                             "-e", json.dumps(extra)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)

    # Then the two newest stay, and so do the previous and the last known-good
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr
    assert sorted(p.name for p in (root / "releases").iterdir()) == ["r1", "r2", "r6", "r7"]
