# The documentation of the preflight action (plugins/action/preflight.py), which runs on the
# controller: this file has no code of its own.

from __future__ import annotations

DOCUMENTATION = r"""
module: preflight
short_description: Check a deploy's settings before any node is touched
description:
  - Runs the rules of one part of the collection on the task's variables, on the controller (no
    connection to the host), and fails with every problem found and the fix for each.
  - The rules are the collection's C(plugins/module_utils/preflight.py), which C(orchestrator plan)
    runs too. Types and choices of single variables are checked by each role's
    C(meta/argument_specs.yml); these are the ranges, formats and checks across variables and hosts.
author: orchestrator developers (!UNKNOWN)
options:
  rules:
    description:
      - Which settings to check. C(deploy) the play-level settings of C(deploy.yml) (war, deploy_serial,
        deploy_min_healthy, deploy_strategy, the pause settings, ...), run once; C(webapp), C(tomcat),
        C(haproxy) and C(migrate) the variables of that role, on each host.
      - C(webapp) also checks the bake against the first load balancer's C(haproxy_runtime) (its
        health-check interval and request ring) when the haproxy role's C(runtime.yml) has read it.
    type: str
    required: true
    choices: [deploy, webapp, tomcat, haproxy, migrate]
notes:
  - An action plugin that runs on the controller; it reads variables, it changes nothing.
attributes:
  check_mode:
    support: full
    description: It only reads.
"""

EXAMPLES = r"""
- name: Check the webapp settings of every app server before the roll
  orchestrator.fleet.preflight:
    rules: webapp

- name: Check the run's settings once
  orchestrator.fleet.preflight:
    rules: deploy
  run_once: true
"""

RETURN = r"""
problems:
  description: Every problem found, each with its fix.
  returned: failed
  type: list
  elements: str
  sample: ["webapp_drain_timeout must be a number of seconds above 0, is -5"]
"""
