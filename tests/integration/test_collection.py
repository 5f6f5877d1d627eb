"""The collection orchestrator.fleet as an Ansible user takes it: built with ansible-galaxy,
installed into a virtual environment of its own, used by FQCN from a playbook of the user's
own, outside this project (no ansible.cfg of ours, no checkout on any path), against the
sandbox's load balancer and nodes. The hosts run the modules with Debian's python3 alone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import ansible
import pytest
import yaml

from tests.conftest import COLLECTION, ROOT

pytestmark = pytest.mark.integration

PLAYBOOK = """
- name: Take node1 out of rotation and back, with the collection's modules
  hosts: loadbalancers
  gather_facts: false
  tasks:
    - name: Drain node1
      orchestrator.fleet.haproxy_server:
        socket: "{{ haproxy_socket }}"
        backend: app
        server: node1
        state: drain
    - name: Read the backend while node1 drains
      orchestrator.fleet.haproxy_backend:
        socket: "{{ haproxy_socket }}"
        backend: app
      register: drained
    - name: Put node1 back
      orchestrator.fleet.haproxy_server:
        socket: "{{ haproxy_socket }}"
        backend: app
        server: node1
        state: ready
        wait_check: true
    - name: Keep what the backend looked like
      ansible.builtin.copy:
        content: "{{ drained.servers | to_json }}"
        dest: "{{ out }}/drained.json"
        mode: "0644"

- name: Read each node's release with the collection's role
  hosts: appservers
  gather_facts: false
  tasks:
    - name: Read the release
      ansible.builtin.include_role:
        name: orchestrator.fleet.webapp
        tasks_from: status.yml
    - name: Keep it
      ansible.builtin.copy:
        content: "{{ _webapp_status.current }}"
        dest: "{{ out }}/{{ inventory_hostname }}.release"
        mode: "0644"
"""


def run(*args: object, cwd: Path, env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess:
    done = subprocess.run(list(map(str, args)), cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{args}: {done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def users_ansible(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """A fresh virtual environment with ansible-core (the version this project tests) and the
    collection installed from its built tarball; an environment that knows nothing of this checkout."""
    home = tmp_path_factory.mktemp("user")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "ORCHESTRATOR_", "VIRTUAL_ENV"))}
    env.update(HOME=str(home), ANSIBLE_COLLECTIONS_PATH=str(home / "collections"), ANSIBLE_NOCOLOR="1")
    venv = home / "venv"
    run(sys.executable, "-m", "venv", venv, cwd=home, env=env)
    run(venv / "bin/pip", "install", "-q", f"ansible-core=={ansible.__version__}", cwd=home, env=env)
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env['PATH']}"
    run("ansible-galaxy", "collection", "build", COLLECTION, "--output-path", home, cwd=home, env=env)
    (tarball,) = home.glob("orchestrator-fleet-*.tar.gz")
    run("ansible-galaxy", "collection", "install", tarball, cwd=home, env=env)
    return home, env


def test_the_tarball_holds_the_content_and_nothing_of_the_orchestrator(users_ansible):
    home, _env = users_ansible
    (tarball,) = home.glob("orchestrator-fleet-*.tar.gz")
    galaxy = yaml.safe_load((COLLECTION / "galaxy.yml").read_text())
    assert tarball.name == f"orchestrator-fleet-{galaxy['version']}.tar.gz"
    names = set(tarfile.open(tarball).getnames())
    assert {
        "MANIFEST.json",
        "meta/runtime.yml",
        "roles/webapp/tasks/bake.yml",
        "plugins/modules/haproxy_bake.py",
        "plugins/module_utils/judge.py",
        "playbooks/deploy.yml",
    } <= names
    assert not [n for n in names if "__pycache__" in n or n.startswith("tests/") and not n.startswith("tests/sanity")]


def test_a_users_playbook_drives_the_sandbox_with_the_installed_collection(cluster, wars, users_ansible):
    # Given the sandbox serving a release, the collection installed for a user, and a playbook of
    # their own in a directory of theirs
    cluster.given_release(wars["v1"])
    home, env = users_ansible
    listed = run("ansible-galaxy", "collection", "list", "orchestrator.fleet", "--format", "json", cwd=home, env=env)
    (where,) = json.loads(listed.stdout)
    assert Path(where).is_relative_to(home) and ROOT not in Path(where).parents
    (home / "site.yml").write_text(PLAYBOOK)
    # When it runs against the sandbox, the hosts with Debian's python3 (no orchestrator, no Ansible there)
    run(
        "ansible-playbook", "-i", cluster.inventory, "site.yml",
        "-e", f"out={home}", "-e", "ansible_python_interpreter=/usr/bin/python3",
        cwd=home, env=env,
    )  # fmt: skip
    # Then node1 was drained while node2 served, and is back in rotation
    drained = {name: server["status"] for name, server in json.loads((home / "drained.json").read_text()).items()}
    assert drained["node1"].startswith("DRAIN") and drained["node2"].startswith("UP"), drained
    assert cluster.backend()["node1"]["status"].startswith("UP")
    # ...and the role read each node's release as the orchestrator's status does
    for node in cluster.nodes:
        assert (home / f"{node}.release").read_text() == cluster.current_release(node)
