"""The rules a deploy's settings must follow, each with the fix in its message.

Standard library only (with judge.py, for the judge's settings), and one owner for every rule:
the ``preflight`` action runs them on the controller before any node is touched (every
playbook's preflight, and each role's ``assert`` entry point), and the orchestrator runs them
on the inventory it reads (``orchestrator plan`` every node's, any command the fleet's). Types and choices
of single variables are checked before this by the roles' meta/argument_specs.yml; what is here
are the ranges, the formats and the checks that span several variables or hosts.

Each function takes the variables by name, as Ansible templated them (strings from ``-e``,
numbers from YAML), and returns the problems found: empty when all is well.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from ansible_collections.orchestrator.fleet.plugins.module_utils import judge

# What each set of rules reads (the action plugin passes these from the task's variables).
VARIABLES = {
    "deploy": (
        "war",
        "deploy_serial",
        "deploy_min_healthy",
        "deploy_failure_policy",
        "deploy_allow_unversioned",
        "deploy_strategy",
        "bluegreen_keep_seconds",
        "deploy_pause_after",
        "deploy_pause_timeout",
        "deploy_pause_timeout_action",
        "migrate_chdir",
    ),
    "tomcat": ("tomcat_port", "tomcat_stop_timeout", "tomcat_heap"),
    "haproxy": ("haproxy_backend_group", "haproxy_socket_mode"),
    "migrate": ("migrate_chdir", "migrate_timeout"),
    "webapp": (
        "webapp_drain_timeout",
        "webapp_up_timeout",
        "webapp_health_timeout",
        "webapp_health_interval",
        "webapp_keep_releases",
        "webapp_context",
        "webapp_loadbalancers",
        "webapp_bake_seconds",
        "webapp_bake_max_seconds",
        "webapp_bake_interval",
        "webapp_bake_warmup_seconds",
        "webapp_bake_history_seconds",
        "webapp_watch_seconds",
        "webapp_canary_weight",
        "webapp_canary_weight_steps",
        "webapp_bake_probe",
        *(setting.variable for setting in judge.SETTINGS),
        # read only to say they are gone
        "webapp_bake_max_5xx_share",
        "webapp_bake_max_5xx_multiple",
        "webapp_bake_max_rtime_multiple",
        "webapp_bake_rtime_floor_ms",
    ),
}

STRATEGIES = ("rolling", "bluegreen")
FAILURE_POLICIES = ("rollback", "stop")
SERIAL_STEP = re.compile(r"^([1-9][0-9]*|([1-9][0-9]?|100)%)$")
MIN_HEALTHY = re.compile(r"^([0-9]+|([0-9][0-9]?|100)%)$")
NUMBER = re.compile(r"^[0-9]+(\.[0-9]+)?$")
CONTEXT = re.compile(r"^[A-Za-z0-9._#-]+$")
HEAP = re.compile(r"^[0-9]+[kmgKMG]$")
# no access for other users: the admin socket can drain every server
SOCKET_MODE = re.compile(r"^[0-7]?[0-7][0-7]0$")
PROBE_PATH = re.compile(r"^/[^\s#]*$")
PROBE_KEYS = ("paths", "rate", "headers")
# settings of the bake before it judged against the old release, and what replaced each
RETIRED = {
    "webapp_bake_max_5xx_share": "webapp_bake_5xx_detect_share",
    "webapp_bake_max_5xx_multiple": "webapp_bake_5xx_tolerance",
    "webapp_bake_max_rtime_multiple": "webapp_bake_latency_tolerance",
    "webapp_bake_rtime_floor_ms": "webapp_bake_latency_floor_ms",
}
# Ansible's booleans (ansible.module_utils.parsing.convert_bool), which the playbooks and the
# orchestrator apply to deploy_allow_unversioned: these words in any case, and 0 or 1
BOOLEAN_WORDS = ("true", "yes", "on", "1", "y", "t", "false", "no", "off", "0", "n", "f")


def number(value):
    """``value`` as a float, or None if it is not a number (a boolean is not one)."""
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def is_number_at_least_zero(value) -> bool:
    return NUMBER.match(str(value)) is not None


def is_list(value) -> bool:
    return isinstance(value, (list, tuple))


def is_set(value) -> bool:
    return value is not None and str(value) != ""


def deploy(settings: Mapping, *, loadbalancers: Sequence, migrators: Sequence) -> list:
    """The play-level settings of a deploy (playbooks/deploy.yml), checked once for the run."""
    problems = []
    if not is_set(settings.get("war")):
        problems.append("no WAR given: pass -e war=/path/app.war")
    if not loadbalancers:
        problems.append("the inventory has no 'loadbalancers' group: add the HAProxy hosts under it")
    problems += deploy_settings(settings)
    if is_set(settings.get("migrate_chdir")) and not migrators:
        problems.append(
            "migrate_chdir is set but the inventory has no 'migrators' group: add the host that runs the "
            "migration commands under it, or leave migrate_chdir unset"
        )
    return problems


def deploy_settings(settings: Mapping) -> list:
    """The settings of a deploy that the inventory holds for the whole fleet (the orchestrator
    checks them when it reads the inventory, the playbook again for a run by hand). One not
    given has its default from the settings role, which breaks no rule."""
    return [problem for name, rule in DEPLOY_RULES.items() if name in settings for problem in rule(settings[name])]


def serial_rule(serial) -> list:
    steps = [str(step) for step in (serial if is_list(serial) else [serial])]
    if steps and all(SERIAL_STEP.match(step) for step in steps):
        return []
    return [
        f"deploy_serial must be a whole number above 0, a percentage from 1% to 100%, or a list of those; got {serial}"
    ]


def min_healthy_rule(value) -> list:
    if MIN_HEALTHY.match(str(value)):
        return []
    return [f"deploy_min_healthy must be a whole number or a percentage from 0% to 100%; got {value}"]


def failure_policy_rule(value) -> list:
    if value in FAILURE_POLICIES:
        return []
    return [
        f"deploy_failure_policy is {value!r}; set it to 'rollback' (put the updated nodes back on their "
        "old release) or 'stop' (leave them)"
    ]


def is_boolean(value) -> bool:
    if isinstance(value, (bool, int, float)):
        return value in (0, 1)
    return str(value).strip().lower() in BOOLEAN_WORDS


def boolean_rule(value) -> list:
    if is_boolean(value):
        return []
    return [f"deploy_allow_unversioned is {value!r}; set it to true or false"]


def keep_seconds_rule(value) -> list:
    if is_number_at_least_zero(value):
        return []
    return [
        f"bluegreen_keep_seconds is {value!r}; set it to a number of seconds, 0 or more (how long the old "
        "slots keep running after a switch)"
    ]


def pause_after_rule(value) -> list:
    return [] if value in ("", None, "canary") else [f"deploy_pause_after must be canary or empty; got {value}"]


def pause_timeout_rule(value) -> list:
    if is_number_at_least_zero(value):
        return []
    return [f"deploy_pause_timeout must be a number of seconds, 0 (no limit) or more; got {value}"]


def pause_timeout_action_rule(value) -> list:
    if value in ("abort", "promote"):
        return []
    return [f"deploy_pause_timeout_action must be abort or promote; got {value}"]


def strategy(value) -> list:
    if value in STRATEGIES:
        return []
    return [
        f"deploy_strategy is {value!r}; use 'rolling' (each node restarts on the new release out of rotation) "
        "or 'bluegreen' (the new release starts in each node's idle Tomcat slot and HAProxy switches to it)"
    ]


DEPLOY_RULES = {
    "deploy_serial": serial_rule,
    "deploy_min_healthy": min_healthy_rule,
    "deploy_failure_policy": failure_policy_rule,
    "deploy_allow_unversioned": boolean_rule,
    "deploy_strategy": strategy,
    "bluegreen_keep_seconds": keep_seconds_rule,
    "deploy_pause_after": pause_after_rule,
    "deploy_pause_timeout": pause_timeout_rule,
    "deploy_pause_timeout_action": pause_timeout_action_rule,
}


def tomcat(settings: Mapping) -> list:
    problems = []
    port = number(settings.get("tomcat_port"))
    if port is None or not 0 < port < 65536 or port != int(port):
        problems.append(f"tomcat_port must be a port number, is {settings.get('tomcat_port')}")
    stop_timeout = number(settings.get("tomcat_stop_timeout"))
    if stop_timeout is None or stop_timeout <= 0:
        problems.append(
            f"tomcat_stop_timeout must be a number of seconds above 0, is {settings.get('tomcat_stop_timeout')}"
        )
    if not HEAP.match(str(settings.get("tomcat_heap"))):
        problems.append(f"tomcat_heap must look like 256m or 1g, is {settings.get('tomcat_heap')}")
    return problems


def haproxy(settings: Mapping, *, backend_hosts: Sequence) -> list:
    problems = []
    if not backend_hosts:
        problems.append(
            f"the inventory group '{settings.get('haproxy_backend_group')}' must list at least one app server"
        )
    mode = settings.get("haproxy_socket_mode")
    if not SOCKET_MODE.match(str(mode)):
        problems.append(f"haproxy_socket_mode must not give other users any access (is {mode}, use 660)")
    return problems


def migrate(settings: Mapping, *, migrators: Sequence) -> list:
    problems = []
    if not is_set(settings.get("migrate_chdir")):
        problems.append(
            "migrate_chdir is not set: give the release's source tree on the migrators host "
            "(-e migrate_chdir=/srv/app/src)"
        )
    if not migrators:
        problems.append(
            "the inventory has no 'migrators' group: add the host that runs the migration commands under it"
        )
    if not re.match(r"^[1-9][0-9]*$", str(settings.get("migrate_timeout"))):
        problems.append(
            f"migrate_timeout must be a whole number of seconds above 0; got {settings.get('migrate_timeout')}"
        )
    return problems


def webapp(settings: Mapping, *, loadbalancer: Mapping | None) -> list:
    """A node's webapp settings. ``loadbalancer``: the first load balancer's ``haproxy_runtime``
    (read from its admin socket by the haproxy role's runtime.yml), or None where it is not
    known (the dry run): then the checks against HAProxy's settings are left to the deploy."""
    problems = []
    for name in ("webapp_drain_timeout", "webapp_up_timeout", "webapp_health_timeout", "webapp_health_interval"):
        seconds = number(settings.get(name))
        if seconds is None or seconds <= 0:
            problems.append(f"{name} must be a number of seconds above 0, is {settings.get(name)}")
    keep = number(settings.get("webapp_keep_releases"))
    if keep is None or keep < 2:
        problems.append(
            "webapp_keep_releases must be 2 or more (the current and the previous release are always kept), "
            f"is {settings.get('webapp_keep_releases')}"
        )
    if not CONTEXT.match(str(settings.get("webapp_context"))):
        problems.append(f"webapp_context must be a plain name like ROOT or shop, is {settings.get('webapp_context')}")
    loadbalancers = settings.get("webapp_loadbalancers") or []
    if not loadbalancers:
        problems.append("the inventory has no 'loadbalancers' group: add the HAProxy hosts under it")
    for name, instead in RETIRED.items():
        if is_set(settings.get(name)):
            problems.append(
                f"{name} is no longer read: the bake now judges a node against the old release with statistics; "
                f"remove it and see {instead} in roles/webapp/defaults/main.yml"
            )
    bake = settings.get("webapp_bake_seconds")
    bake_seconds = number(bake)
    if bake_seconds is None or bake_seconds < 0 or not re.match(r"^[0-9.]+$", str(bake)):
        problems.append(f"webapp_bake_seconds must be 0 (no bake) or more seconds, is {bake}")
    elif bake_seconds > 0:
        problems += bake_problems(settings, bake_seconds, loadbalancers, loadbalancer)
    weight = settings.get("webapp_canary_weight")
    if is_set(weight) and not 1 <= (number(weight) or 0) <= 256:
        problems.append(f"webapp_canary_weight must be an HAProxy weight from 1 to 256, or empty for none, is {weight}")
    return problems


def bake_problems(settings: Mapping, bake_seconds: float, loadbalancers: Sequence, runtime: Mapping | None) -> list:
    """The bake's settings, when there is a bake (webapp_bake_seconds above 0)."""
    problems = []
    if runtime is not None:
        check_inter = number(runtime.get("check_inter_seconds"))
        if check_inter is not None and bake_seconds < check_inter:
            problems.append(
                f"webapp_bake_seconds ({settings.get('webapp_bake_seconds')}) is shorter than one HAProxy "
                f"health-check interval ({runtime.get('check_inter_seconds')} s): make it at least that, or 0"
            )
        if not runtime.get("ring"):
            problems.append(
                "the bake reads every request from HAProxy's request ring, and haproxy_request_ring is empty on "
                f"{loadbalancers[0]}: set it (the haproxy role default is reqs) or webapp_bake_seconds: 0"
            )
    max_seconds = number(settings.get("webapp_bake_max_seconds"))
    if max_seconds is None or max_seconds < bake_seconds:
        problems.append(
            f"webapp_bake_max_seconds must be at least webapp_bake_seconds ({settings.get('webapp_bake_seconds')}), "
            f"is {settings.get('webapp_bake_max_seconds')}"
        )
    interval = number(settings.get("webapp_bake_interval"))
    if interval is None or not 0 < interval <= bake_seconds:
        problems.append(
            "webapp_bake_interval (seconds between looks) must be above 0 and at most webapp_bake_seconds, "
            f"is {settings.get('webapp_bake_interval')}"
        )
    for name in ("webapp_bake_warmup_seconds", "webapp_bake_history_seconds", "webapp_watch_seconds"):
        problems += kind_rule(name, "amount", settings.get(name))
    # the judge's own settings: checked when given (unset, the judge's default applies)
    for setting in judge.SETTINGS:
        if setting.variable in settings:
            problems += kind_rule(setting.variable, setting.kind, settings[setting.variable])
    steps = settings.get("webapp_canary_weight_steps")
    if not isinstance(steps, (list, tuple)) or not all(1 <= (number(step) or 0) <= 256 for step in steps):
        problems.append(
            "webapp_canary_weight_steps must be a list of HAProxy weights from 1 to 256 (e.g. [50, 100]), or [], "
            f"is {steps}"
        )
    probe = settings.get("webapp_bake_probe") or {}
    if probe:
        problems += probe_problems(probe)
    return problems


def kind_rule(name: str, kind: str, value) -> list:
    """The range a setting of this kind (judge.Setting.kind) must be in."""
    if kind == "amount":
        return [] if is_number_at_least_zero(value) else [f"{name} must be a number, 0 or more, is {value}"]
    given = number(value)
    if kind == "probability" and (given is None or not 0.5 <= given < 1):
        return [f"{name} must be a probability from 0.5 to below 1 (0.99 is 99%), is {value}"]
    if kind == "share" and (given is None or not 0 < given <= 1):
        return [f"{name} must be a share above 0 and at most 1 (0.25 is 25%), is {value}"]
    if kind == "count" and (given is None or given < 1 or given != int(given)):
        return [f"{name} must be a whole number, 1 or more, is {value}"]
    return []


def probe_problems(probe) -> list:
    if not isinstance(probe, dict):
        return [f"webapp_bake_probe must be a mapping with paths and rate, e.g. {{paths: ['/'], rate: 20}}; is {probe}"]
    problems = []
    unknown = [key for key in probe if key not in PROBE_KEYS]
    if unknown:
        problems.append(f"webapp_bake_probe takes paths, rate and headers; unknown: {', '.join(map(str, unknown))}")
    paths = probe.get("paths")
    if not isinstance(paths, (list, tuple)) or not paths or not all(PROBE_PATH.match(str(path)) for path in paths):
        problems.append(
            "webapp_bake_probe.paths must be a list of paths on the application, each starting with / (not a URL: "
            'the probe goes through the load balancer to each node), e.g. ["/"]; is '
            f"{paths if paths is not None else 'missing'}"
        )
    rate = probe.get("rate")
    if not (is_number_at_least_zero(rate) and 0 < (number(rate) or 0) <= 1000):
        problems.append(
            "webapp_bake_probe.rate must be requests/s above 0 and at most 1000, e.g. 20; is "
            f"{rate if rate is not None else 'missing'}"
        )
    if "headers" in probe and not isinstance(probe["headers"], dict):
        problems.append(
            "webapp_bake_probe.headers must be a mapping of header names to values, e.g. {Accept: text/html}; "
            f"is {probe['headers']}"
        )
    return problems
