"""The preflight's rules (plugins/module_utils/preflight.py), each forced to fail with the fix in
its message. tests/integration/test_bad_input.py runs a few of them through a real deploy, to show
the playbooks reach them before any node is touched."""

from __future__ import annotations

import pytest
import yaml

from ansible_collections.orchestrator.fleet.plugins.module_utils import judge, preflight
from tests.conftest import COLLECTION

ROLE_DEFAULTS = {
    role: yaml.safe_load((COLLECTION / "roles" / role / "defaults" / "main.yml").read_text())
    for role in ("settings", "webapp", "tomcat", "haproxy", "migrate")
}
RUNTIME = {"check_inter_seconds": 2.0, "ring": "reqs"}


def webapp(**changes):
    """The webapp role's defaults as a node sees them, with ``changes``."""
    settings = {
        name: ROLE_DEFAULTS["webapp"][name] for name in preflight.VARIABLES["webapp"] if name in ROLE_DEFAULTS["webapp"]
    }
    settings.update({"webapp_loadbalancers": ["lb1"], "webapp_bake_seconds": 30, **changes})
    return preflight.webapp(settings, loadbalancer=RUNTIME)


def test_the_roles_defaults_break_no_rule():
    assert webapp() == []
    assert preflight.tomcat(ROLE_DEFAULTS["tomcat"]) == []
    assert preflight.haproxy(ROLE_DEFAULTS["haproxy"], backend_hosts=["node1"]) == []
    assert preflight.migrate(dict(ROLE_DEFAULTS["migrate"], migrate_chdir="/srv/app"), migrators=["db1"]) == []
    assert preflight.deploy({"war": "/tmp/app.war"}, loadbalancers=["lb1"], migrators=[]) == []
    assert set(ROLE_DEFAULTS["settings"]) >= set(preflight.DEPLOY_RULES)
    assert (
        preflight.deploy(dict(ROLE_DEFAULTS["settings"], war="/tmp/app.war"), loadbalancers=["lb1"], migrators=[]) == []
    )


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"webapp_keep_releases": 1}, "webapp_keep_releases must be 2 or more"),
        ({"webapp_context": "shop/admin"}, "webapp_context must be a plain name like ROOT or shop, is shop/admin"),
        ({"webapp_bake_seconds": "-1"}, "webapp_bake_seconds must be 0 (no bake) or more seconds, is -1"),
        ({"webapp_bake_max_seconds": 10}, "webapp_bake_max_seconds must be at least webapp_bake_seconds (30), is 10"),
        ({"webapp_bake_interval": 0}, "webapp_bake_interval (seconds between looks) must be above 0"),
        ({"webapp_bake_confidence": 1}, "webapp_bake_confidence must be a probability from 0.5 to below 1"),
        (
            {"webapp_bake_power": "high"},
            "webapp_bake_power must be a probability from 0.5 to below 1 (0.99 is 99%), is high",
        ),
        ({"webapp_bake_latency_floor_ms": -3}, "webapp_bake_latency_floor_ms must be a number, 0 or more, is -3"),
        ({"webapp_bake_5xx_detect_share": 2}, "webapp_bake_5xx_detect_share must be a share above 0 and at most 1"),
        ({"webapp_bake_min_requests": 0}, "webapp_bake_min_requests must be a whole number, 1 or more, is 0"),
        ({"webapp_canary_weight_steps": [50, 300]}, "webapp_canary_weight_steps must be a list of HAProxy weights"),
        ({"webapp_canary_weight_steps": "50,100"}, "webapp_canary_weight_steps must be a list of HAProxy weights"),
        (
            {"webapp_canary_weight": 0},
            "webapp_canary_weight must be an HAProxy weight from 1 to 256, or empty for none",
        ),
        (
            {"webapp_bake_probe": {"paths": ["/"], "rate": 5, "head": 1}},
            "webapp_bake_probe takes paths, rate and headers; unknown: head",
        ),
        (
            {"webapp_bake_probe": {"paths": ["http://app1/"], "rate": 5}},
            "webapp_bake_probe.paths must be a list of paths",
        ),
        (
            {"webapp_bake_probe": {"paths": ["/"]}},
            "webapp_bake_probe.rate must be requests/s above 0 and at most 1000, e.g. 20; is missing",
        ),
        (
            {"webapp_bake_probe": {"paths": ["/"], "rate": 5, "headers": "x"}},
            "webapp_bake_probe.headers must be a mapping",
        ),
        (
            {"webapp_bake_seconds": 1},
            "webapp_bake_seconds (1) is shorter than one HAProxy health-check interval (2.0 s)",
        ),
        ({"webapp_loadbalancers": []}, "the inventory has no 'loadbalancers' group"),
        ({"webapp_bake_rtime_floor_ms": 5}, "webapp_bake_rtime_floor_ms is no longer read"),
    ],
)
def test_a_webapp_setting_out_of_range_is_named_with_its_fix(changes, message):
    problems = webapp(**changes)
    assert any(message in problem for problem in problems), problems


def test_the_judges_own_defaults_break_no_rule():
    assert webapp(**{setting.variable: setting.default for setting in judge.SETTINGS}) == []


def test_without_a_bake_its_settings_are_not_checked():
    assert webapp(webapp_bake_seconds=0, webapp_bake_interval=0, webapp_canary_weight_steps="x") == []


def test_the_dry_run_leaves_the_load_balancers_settings_to_the_deploy():
    settings = {
        name: ROLE_DEFAULTS["webapp"][name] for name in preflight.VARIABLES["webapp"] if name in ROLE_DEFAULTS["webapp"]
    }
    settings.update(webapp_loadbalancers=["lb1"], webapp_bake_seconds=1)
    assert preflight.webapp(settings, loadbalancer=None) == []
    assert preflight.webapp(settings, loadbalancer={"check_inter_seconds": 2.0, "ring": ""}) == [
        "webapp_bake_seconds (1) is shorter than one HAProxy health-check interval (2.0 s): make it at least that, or 0",
        "the bake reads every request from HAProxy's request ring, and haproxy_request_ring is empty on lb1: "
        "set it (the haproxy role default is reqs) or webapp_bake_seconds: 0",
    ]


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"war": ""}, "no WAR given: pass -e war=/path/app.war"),
        ({"deploy_serial": 0}, "deploy_serial must be a whole number above 0"),
        (
            {"deploy_serial": ["1", "150%"]},
            "deploy_serial must be a whole number above 0, a percentage from 1% to 100%",
        ),
        ({"deploy_serial": []}, "deploy_serial must be a whole number above 0"),
        (
            {"deploy_min_healthy": "-1"},
            "deploy_min_healthy must be a whole number or a percentage from 0% to 100%; got -1",
        ),
        ({"deploy_failure_policy": "pray"}, "deploy_failure_policy is 'pray'; set it to 'rollback'"),
        ({"deploy_allow_unversioned": "perhaps"}, "deploy_allow_unversioned is 'perhaps'; set it to true or false"),
        ({"deploy_allow_unversioned": ""}, "deploy_allow_unversioned is ''; set it to true or false"),
        ({"deploy_allow_unversioned": 2}, "deploy_allow_unversioned is 2; set it to true or false"),
        ({"deploy_strategy": "purple"}, "deploy_strategy is 'purple'; use 'rolling'"),
        ({"bluegreen_keep_seconds": "-5"}, "bluegreen_keep_seconds is '-5'; set it to a number of seconds, 0 or more"),
        ({"deploy_pause_after": "always"}, "deploy_pause_after must be canary or empty; got always"),
        ({"deploy_pause_timeout": "soon"}, "deploy_pause_timeout must be a number of seconds, 0 (no limit) or more"),
        ({"deploy_pause_timeout_action": "retry"}, "deploy_pause_timeout_action must be abort or promote; got retry"),
        ({"migrate_chdir": "/srv/app"}, "migrate_chdir is set but the inventory has no 'migrators' group"),
    ],
)
def test_a_deploy_setting_out_of_range_is_named_with_its_fix(changes, message):
    problems = preflight.deploy(dict({"war": "/tmp/app.war"}, **changes), loadbalancers=["lb1"], migrators=[])
    assert any(message in problem for problem in problems), problems


def test_every_problem_is_said_not_only_the_first():
    problems = preflight.deploy({"deploy_serial": 0}, loadbalancers=[], migrators=[])
    assert [p.split(":")[0].split(" ")[0] for p in problems] == ["no", "the", "deploy_serial"]


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"tomcat_port": 70000}, "tomcat_port must be a port number, is 70000"),
        ({"tomcat_stop_timeout": 0}, "tomcat_stop_timeout must be a number of seconds above 0, is 0"),
        ({"tomcat_heap": "lots"}, "tomcat_heap must look like 256m or 1g, is lots"),
    ],
)
def test_a_tomcat_setting_out_of_range_is_named_with_its_fix(changes, message):
    assert message in "; ".join(preflight.tomcat(dict(ROLE_DEFAULTS["tomcat"], **changes)))


def test_haproxy_needs_app_servers_and_a_private_socket():
    problems = preflight.haproxy(dict(ROLE_DEFAULTS["haproxy"], haproxy_socket_mode="666"), backend_hosts=[])
    assert problems == [
        f"the inventory group '{ROLE_DEFAULTS['haproxy']['haproxy_backend_group']}' must list at least one app server",
        "haproxy_socket_mode must not give other users any access (is 666, use 660)",
    ]


def test_migrations_need_a_tree_a_host_and_a_timeout():
    problems = preflight.migrate({"migrate_chdir": "", "migrate_timeout": "0"}, migrators=[])
    assert [p.split(" ")[0] for p in problems] == ["migrate_chdir", "the", "migrate_timeout"]
