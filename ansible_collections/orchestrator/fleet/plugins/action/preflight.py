"""The preflight: check a deploy's settings before any node is touched (see modules/preflight.py).

An action, not a module: the rules (module_utils/preflight.py) need only the task's variables,
so they run on the controller, with no connection to the host and no copy of a module to it.
"""

from __future__ import annotations

from ansible.errors import AnsibleUndefinedVariable
from ansible.plugins.action import ActionBase

from ansible_collections.orchestrator.fleet.plugins.module_utils import preflight

RULES = tuple(preflight.VARIABLES)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _VALID_ARGS = frozenset(("rules",))
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        task_vars = task_vars or {}
        rules = self._task.args.get("rules")
        if rules not in RULES:
            return dict(result, failed=True, msg=f"rules must be one of {', '.join(RULES)}; got {rules!r}")
        settings = {name: self._value(task_vars, name) for name in preflight.VARIABLES[rules] if name in task_vars}
        groups = task_vars.get("groups", {})
        host = task_vars.get("inventory_hostname", "")
        if rules == "deploy":
            problems = preflight.deploy(
                settings, loadbalancers=groups.get("loadbalancers", []), migrators=groups.get("migrators", [])
            )
        elif rules == "tomcat":
            problems = preflight.tomcat(settings)
        elif rules == "haproxy":
            problems = preflight.haproxy(settings, backend_hosts=groups.get(settings.get("haproxy_backend_group"), []))
        elif rules == "migrate":
            problems = preflight.migrate(settings, migrators=groups.get("migrators", []))
        else:
            problems = preflight.webapp(settings, loadbalancer=self._runtime(task_vars, settings))
        if not problems:
            return dict(result, changed=False, msg=f"the {rules} settings are in range")
        if rules == "deploy":  # settings of the whole run: said once, as they are
            return dict(result, failed=True, problems=problems, msg="; ".join(problems))
        return dict(
            result,
            failed=True,
            problems=problems,
            msg=f"{host}: {'; '.join(problems)}. Fix it in the inventory (group_vars or host_vars) or the -e values.",
        )

    def _value(self, task_vars, name):
        try:
            return self._templar.template(task_vars[name])
        except AnsibleUndefinedVariable as exc:
            return f"undefined ({exc.message})"

    @staticmethod
    def _runtime(task_vars, settings):
        """The first load balancer's haproxy_runtime, when the preflight read it (runtime.yml)."""
        loadbalancers = settings.get("webapp_loadbalancers") or []
        if not loadbalancers:
            return None
        return task_vars.get("hostvars", {}).get(loadbalancers[0], {}).get("haproxy_runtime")
