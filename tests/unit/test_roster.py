"""The roster: how a host removed from the inventory is still reached to be retired; and the
inventory fingerprint the watcher compares. Real Ansible inventory parsing, no servers."""

from __future__ import annotations

import json

import pytest

from orchestrator.fleet import roster
from orchestrator.fleet.inventory import fingerprint
from orchestrator.fleet.live import LiveState


@pytest.fixture
def inventory(tmp_path):
    inv = tmp_path / "inventory"
    (inv / "group_vars").mkdir(parents=True)
    (inv / "hosts.yml").write_text("""all:
  vars:
    ansible_connection: ssh
  children:
    loadbalancers:
      hosts:
        lb1:
    appservers:
      hosts:
        node1:
          ansible_host: 10.0.0.1
        node2:
          ansible_host: 10.0.0.2
""")
    (inv / "group_vars" / "appservers.yml").write_text('tomcat_base: "/srv/{{ inventory_hostname }}/tomcat"\n')
    return inv


def remove_node2(inventory):
    hosts = inventory / "hosts.yml"
    hosts.write_text(hosts.read_text().replace("        node2:\n          ansible_host: 10.0.0.2\n", ""))


def retiring(path):
    return json.loads(path.read_text())["all"]["children"]["retiring"]["hosts"]


def test_a_removed_host_keeps_the_variables_that_reach_it(inventory, tmp_path):
    state = tmp_path / "state"
    # Given a deploy to node1 and node2 recorded them
    roster.remember(inventory, state)
    # When node2 is removed from the inventory and a later deploy records again
    remove_node2(inventory)
    roster.remember(inventory, state)
    # Then node2 is still known, with its address, connection and group_vars (templates unrendered)
    keep = roster.kept_running(["node2", "node9"], inventory, state)
    hosts_of = retiring(roster.write_retiring_inventory(["node2", "node9"], state, tmp_path / "retiring.json", keep))
    assert hosts_of["node2"]["ansible_host"] == "10.0.0.2"
    assert hosts_of["node2"]["ansible_connection"] == "ssh"
    assert hosts_of["node2"]["tomcat_base"] == "/srv/{{ inventory_hostname }}/tomcat"
    assert "groups" not in hosts_of["node2"] and "inventory_dir" not in hosts_of["node2"]
    assert "webapp_retire_stop_tomcat" not in hosts_of["node2"]
    # and a server nobody recorded is only taken out of rotation, never logged in to
    assert keep == {"node9": roster.UNRECORDED}
    assert hosts_of["node9"] == {"webapp_retire_stop_tomcat": False, "webapp_retire_keep_reason": roster.UNRECORDED}
    assert oct((tmp_path / "retiring.json").stat().st_mode & 0o777) == "0o600"


def test_a_renamed_host_keeps_its_tomcat(inventory, tmp_path):
    state = tmp_path / "state"
    roster.remember(inventory, state)
    # Given node2 renamed web2 in the inventory: same address, same Tomcat
    hosts = inventory / "hosts.yml"
    hosts.write_text(hosts.read_text().replace("        node2:\n", "        web2:\n"))
    # Then retiring node2 must not stop the Tomcat that web2 serves from
    keep = roster.kept_running(["node2"], inventory, state)
    assert keep == {"node2": "10.0.0.2:8080 is web2's now (the same Tomcat under a new name?)"}


def test_an_apply_makes_the_roster_exactly_the_inventory(inventory, tmp_path):
    state = tmp_path / "state"
    roster.remember(inventory, state)
    remove_node2(inventory)
    roster.remember(inventory, state, applied=fingerprint(inventory))
    assert sorted(roster.known(state)) == ["node1"]
    assert roster.applied_fingerprint(state) == fingerprint(inventory)


def test_the_fingerprint_follows_content_not_editors(inventory):
    before = fingerprint(inventory)
    hosts = inventory / "hosts.yml"
    hosts.write_text(hosts.read_text())  # saved unchanged
    (inventory / ".hosts.yml.swp").write_text("vim")  # an editor's swap file
    (inventory / "hosts.yml~").write_text("backup")
    assert fingerprint(inventory) == before
    (inventory / "group_vars" / "appservers.yml").write_text("tomcat_heap: 1g\n")
    assert fingerprint(inventory) != before


def test_live_state_names_what_is_missing_and_what_is_extra():
    state = LiveState(
        releases={},
        haproxy={"lb1": {"node1": "UP", "node2": "UP", "old": "MAINT"}, "lb2": {"node1": "UP", "old": "UP"}},
    )
    assert state.missing("node2") == ["lb2"]
    assert state.missing("node1") == []
    assert state.backend_servers() == {"node1", "node2", "old"}
    assert state.up("node1") and not state.up("node2") and not state.up("old")
