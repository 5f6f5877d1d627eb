"""The collection's metadata agrees with itself and with the orchestrator: one version, every
role, module and playbook listed in its README, and the execution environment of docs/ansible.md
accepted by ansible-builder, installing the tarball ansible-galaxy builds."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

import orchestrator
from tests.conftest import COLLECTION, ROOT

GALAXY = yaml.safe_load((COLLECTION / "galaxy.yml").read_text())
BIN = Path(sys.executable).parent


def test_the_collection_has_the_orchestrators_version_and_ansible_range():
    assert (GALAXY["namespace"], GALAXY["name"]) == ("orchestrator", "fleet")
    assert GALAXY["version"] == orchestrator.__version__
    runtime = yaml.safe_load((COLLECTION / "meta" / "runtime.yml").read_text())
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert runtime["requires_ansible"] == ">=2.15.0,<2.18.0" and '"ansible-core>=2.15,<2.18"' in pyproject


def test_its_readme_lists_every_role_module_and_playbook():
    readme = (COLLECTION / "README.md").read_text()
    names = (
        [f"`orchestrator.fleet.{p.name}`" for p in (COLLECTION / "roles").iterdir()]
        + [f"`{p.stem}`" for p in (COLLECTION / "plugins" / "modules").glob("*.py")]
        + [f"`{p.stem}`" for p in (COLLECTION / "playbooks").glob("*.yml")]
    )
    assert [n for n in names if n not in readme] == []


def test_the_execution_environment_installs_the_built_collection(tmp_path):
    # Given the tarball ansible-galaxy builds, where the execution environment's file expects it
    definition = yaml.safe_load((ROOT / "ee" / "execution-environment.yml").read_text())
    (wanted,) = definition["additional_build_files"]
    assert wanted["src"] == f"orchestrator-fleet-{GALAXY['version']}.tar.gz"
    work = tmp_path / "ee"
    work.mkdir()
    (work / "execution-environment.yml").write_text((ROOT / "ee" / "execution-environment.yml").read_text())
    subprocess.run(
        [BIN / "ansible-galaxy", "collection", "build", COLLECTION, "--output-path", work],
        check=True,
        capture_output=True,
    )
    # When ansible-builder makes the image's build context (no container engine needed for that)
    made = subprocess.run(
        [
            BIN / "ansible-builder",
            "create",
            "--file",
            work / "execution-environment.yml",
            "--context",
            tmp_path / "ctx",
        ],
        capture_output=True,
        text=True,
    )
    # Then the context holds the tarball and the image installs it with ansible-galaxy
    assert made.returncode == 0, made.stdout + made.stderr
    assert (tmp_path / "ctx" / "_build" / "collections" / wanted["src"]).is_file()
    requirements = yaml.safe_load((tmp_path / "ctx" / "_build" / "requirements.yml").read_text())
    assert requirements["collections"] == [{"name": f"/build/collections/{wanted['src']}", "type": "file"}]
    containerfile = (tmp_path / "ctx" / "Dockerfile").read_text()
    assert "COPY _build /build" in containerfile and "ansible-galaxy collection install" in containerfile
