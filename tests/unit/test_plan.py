import pytest

from orchestrator.errors import InputError
from orchestrator.fleet.inventory import load_fleet, node_problems
from orchestrator.rollout.plan import serial_batches

HOSTS = [f"node{i}" for i in range(1, 9)]


@pytest.mark.parametrize(
    "serial, sizes",
    [
        (1, [1] * 8),
        (3, [3, 3, 2]),
        ("25%", [2, 2, 2, 2]),
        ("10%", [1] * 8),  # a percentage never rounds to 0
        ([1, "50%"], [1, 4, 3]),
        ([1, 2, 3], [1, 2, 3, 2]),
        ("100%", [8]),
    ],
)
def test_batches_follow_ansible_serial(serial, sizes):
    batches = serial_batches(HOSTS, serial)
    assert [len(b) for b in batches] == sizes
    assert [h for b in batches for h in b] == HOSTS


@pytest.mark.parametrize("serial", [0, "x", -1])
def test_bad_serial(serial):
    with pytest.raises(InputError):
        serial_batches(HOSTS, serial)


def inventory(tmp_path, appservers_vars: str = "", host_vars: dict | None = None):
    (tmp_path / "group_vars").mkdir()
    (tmp_path / "host_vars").mkdir()
    (tmp_path / "hosts.yml").write_text(
        "all:\n  children:\n    appservers:\n      hosts: {node1: {}, node2: {}}\n    loadbalancers:\n      hosts: {lb1: {}}\n"
    )
    (tmp_path / "group_vars" / "appservers.yml").write_text(appservers_vars or "{}\n")
    for host, text in (host_vars or {}).items():
        (tmp_path / "host_vars" / f"{host}.yml").write_text(text)
    return tmp_path


def test_the_dry_run_checks_each_nodes_settings_as_the_preflight_does(tmp_path):
    # Given an inventory whose node2 has a Tomcat heap Java would not take, and whose app servers
    # all have a bake interval longer than the bake (templated, as Ansible would)
    inv = inventory(
        tmp_path,
        "bake: 5\nwebapp_bake_seconds: '{{ bake }}'\nwebapp_bake_interval: 10\n",
        {"node2": "tomcat_heap: lots\n"},
    )
    # When the plan reads it: each node's problems, as the deploy's preflight words them
    problems = node_problems(inv)
    assert len(problems) == 2, problems
    assert problems[0].startswith("node1: webapp_bake_interval (seconds between looks) must be above 0")
    assert problems[1].startswith("node2: tomcat_heap must look like 256m or 1g, is lots; webapp_bake_interval")


def test_the_roles_defaults_plan_without_a_problem(tmp_path):
    assert node_problems(inventory(tmp_path)) == []


def test_a_setting_that_cannot_be_templated_is_named(tmp_path):
    problems = node_problems(inventory(tmp_path, "webapp_drain_timeout: '{{ nowhere }}'\n"))
    assert len(problems) == 2 and all("webapp_drain_timeout cannot be templated: " in p for p in problems), problems
    assert "nowhere" in problems[0]


def test_the_fleets_settings_are_read_as_ansible_templates_them(tmp_path):
    # Given the fleet's settings in group_vars/all, one templated
    inv = inventory(tmp_path)
    (inv / "group_vars" / "all.yml").write_text(
        "keep: 2\nbluegreen_keep_seconds: '{{ keep * 60 }}'\ndeploy_serial: 2\n"
    )
    fleet = load_fleet(inv)
    # Then the orchestrator plans with what the playbooks will use, and the defaults for the rest
    assert (fleet.keep_seconds, fleet.serial, fleet.strategy) == (120.0, 2, "rolling")


def test_a_fleet_setting_out_of_range_is_named_with_the_inventory(tmp_path):
    inv = inventory(tmp_path)
    (inv / "group_vars" / "all.yml").write_text('deploy_pause_timeout_action: \'{{ "re" ~ "try" }}\'\n')
    with pytest.raises(
        InputError, match=r"inventory .*: deploy_pause_timeout_action must be abort or promote; got retry"
    ):
        load_fleet(inv)


def test_an_empty_boolean_setting_is_refused_not_a_traceback(tmp_path):
    # Ansible takes no '' for a boolean; the rule says so before the fleet is built with it
    inv = inventory(tmp_path)
    (inv / "group_vars" / "all.yml").write_text("deploy_allow_unversioned: ''\n")
    with pytest.raises(InputError, match=r"deploy_allow_unversioned is ''; set it to true or false"):
        load_fleet(inv)
