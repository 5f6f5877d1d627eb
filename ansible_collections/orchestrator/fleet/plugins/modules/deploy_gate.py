#!/usr/bin/python
"""Ansible module: hold the roll between batches while it is paused, or until it is promoted."""

from __future__ import annotations

DOCUMENTATION = r"""
module: deploy_gate
short_description: Wait before a batch while the deploy is paused or awaits promotion; stop it when aborted
author: orchestrator developers (!UNKNOWN)
description:
  - Runs on the controller (delegate_to localhost, run_once) before each batch of the roll. It reads the
    control file that C(orchestrator pause), C(resume), C(abort) and C(promote) write, and goes on, waits,
    or fails.
  - A pause holds the roll before the next batch until resumed; the batch in progress has finished. HAProxy's
    states are left as they are.
  - With pause_after C(canary), every batch after the first waits until the deploy is promoted; after
    timeout seconds it does what on_timeout says (abort, the default, or promote).
  - An abort fails the task, naming who asked; the play stops before the batch, untouched, and the orchestrator
    applies deploy_failure_policy to the nodes already switched.
  - Writes what it waits for to the gate file, for C(orchestrator status) and the deploy's output.
  - Supports check mode (it waits the same; it changes nothing but the gate file).
options:
  control:
    description: The control file (state directory's control.json)
    required: true
    type: path
  gate:
    description: Where to say what the gate waits for (state directory's gate.json)
    required: true
    type: path
  deploy:
    description: The deploy's id; a control file of another deploy is ignored
    required: true
    type: str
  batch:
    description: The hosts of the batch about to roll
    type: list
    elements: str
    default: []
  canary_done:
    description: Whether the first batch (the canary) has rolled and baked
    type: bool
    default: false
  pause_after:
    description: ''''' (never) or canary (wait for promotion after the first batch)'
    type: str
    default: ''
  timeout:
    description: Seconds to wait for promotion (0 for no limit)
    type: float
    default: 3600
  on_timeout:
    description: What happens when the promotion wait runs out
    type: str
    default: abort
    choices:
      - abort
      - promote
  reason:
    description: Why the roll waits for promotion besides pause_after (the canary's open verdict, with
      webapp_bake_inconclusive pause); said in the gate file
    type: str
    default: ''
  poll:
    description: Seconds between reads of the control file
    type: float
    default: 0.2
"""

EXAMPLES = r"""
- name: gate | Wait while the deploy is paused, or for promotion after the canary
  orchestrator.fleet.deploy_gate:
    control: /var/lib/orchestrator/control.json
    gate: /var/lib/orchestrator/gate.json
    deploy: 20261128T101500-7-4bae3fd96280
    batch: "{{ ansible_play_batch }}"
    canary_done: "{{ ansible_play_hosts_all[0] not in ansible_play_batch }}"
    pause_after: canary
  delegate_to: localhost
  run_once: true
"""

RETURN = r"""
waited:
  description: Seconds the gate held the roll.
  returned: always
  type: float
  sample: 42.5
held_for:
  description: What it waited for, in order (paused, promotion); empty when it went straight on.
  returned: always
  type: list
  sample:
    - promotion
released_by:
  description: Who let it go on (resume or promote), or "timeout" when on_timeout promoted it.
  returned: when it waited
  type: str
  sample: ops@controller
"""

import time

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.orchestrator.fleet.plugins.module_utils.gate import (
    ON_TIMEOUT,
    PAUSE_AFTER,
    read,
    waiting,
    write,
)


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            control=dict(type="path", required=True),
            gate=dict(type="path", required=True),
            deploy=dict(type="str", required=True),
            batch=dict(type="list", elements="str", default=[]),
            canary_done=dict(type="bool", default=False),
            pause_after=dict(type="str", default=""),
            timeout=dict(type="float", default=3600),
            on_timeout=dict(type="str", default="abort", choices=list(ON_TIMEOUT)),
            reason=dict(type="str", default=""),
            poll=dict(type="float", default=0.2),
        ),
        supports_check_mode=True,
    )
    p = module.params
    if p["pause_after"] not in PAUSE_AFTER:
        module.fail_json(msg=f"deploy_pause_after is {p['pause_after']!r}: leave it empty, or set it to canary")
    began = time.monotonic()
    held_for: list[str] = []
    promotion_began = None
    told = None
    while True:
        control = read(p["control"])
        if control.get("deploy") != p["deploy"]:
            control = {}  # another deploy's requests
        state = waiting(control, canary_done=p["canary_done"], pause_after=p["pause_after"])
        if state == "promotion" and promotion_began is None:
            promotion_began = time.time()
        if state == "promotion" and p["timeout"] > 0 and time.time() - promotion_began >= p["timeout"]:
            if p["on_timeout"] == "promote":
                write(p["gate"], {"deploy": p["deploy"], "waiting": None})
                module.exit_json(
                    changed=False, waited=time.monotonic() - began, held_for=held_for, released_by="timeout"
                )
            state = "timed out"
        if state in ("aborted", "timed out"):
            write(p["gate"], {"deploy": p["deploy"], "waiting": None})
            if state == "aborted":
                stamp = control["aborted"]
                why = f"aborted by {stamp.get('by')} at {time.strftime('%H:%M:%S', time.localtime(stamp.get('at', 0)))}"
            else:
                why = f"not promoted within deploy_pause_timeout ({p['timeout']:g}s): aborted"
            module.fail_json(
                msg=f"{why}; the roll stopped before {', '.join(p['batch']) or 'the next batch'}",
                aborted=True,
                waited=time.monotonic() - began,
                held_for=held_for,
            )
        if state is None:
            if told is not None:
                write(p["gate"], {"deploy": p["deploy"], "waiting": None})
            released = (control.get("promoted") or control.get("resumed") or {}).get("by") if held_for else None
            module.exit_json(
                changed=False,
                waited=time.monotonic() - began,
                held_for=held_for,
                **({"released_by": released} if held_for else {}),
            )
        if state != told:
            told = state
            held_for.append(state)
            by = (control.get("paused") or {}).get("by") if state == "paused" else None
            write(
                p["gate"],
                {
                    "deploy": p["deploy"],
                    "waiting": state,
                    "since": time.time(),
                    "next": p["batch"],
                    "by": by,
                    "on_timeout": p["on_timeout"],
                    "reason": p["reason"] if state == "promotion" else "",
                    "timeout_at": promotion_began + p["timeout"] if state == "promotion" and p["timeout"] > 0 else None,
                },
            )
        time.sleep(p["poll"])


if __name__ == "__main__":
    main()
