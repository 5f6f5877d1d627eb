#!/usr/bin/python
"""Ansible module: wait until an HTTP health endpoint answers as expected."""

from __future__ import annotations

DOCUMENTATION = r"""
module: health_check
short_description: Poll a health URL until it answers the expected status (and version)
author: orchestrator developers (!UNKNOWN)
description:
  - Polls every I(interval) seconds inside one task, so a node is seen healthy within a tenth of a second
    of being so. Ansible's own C(until)/C(delay) loop only takes whole seconds.
  - With I(expect_json), every named field of the JSON body must equal the given value; this is how the
    deploy knows the release answering is the one it installed, not a stale one.
  - Fails after I(timeout) seconds with the last status, body or connection error; at once when I(pid)
    is given and that process is gone (the JVM died starting the release, and waiting out the timeout
    would only keep the node out of rotation longer).
options:
  url:
    description: URL to poll
    required: true
    type: str
  expect_status:
    description: Wanted HTTP status
    default: 200
    type: int
  expect_json:
    description: Fields the JSON body must have with these values
    type: dict
    default: {}
  timeout:
    description: Seconds before giving up
    default: 60
    type: float
  interval:
    description: Seconds between attempts
    default: 0.1
    type: float
  pid:
    description: The server process (the JVM); the check fails as soon as it is gone; 0 for none
    default: 0
    type: int
  log:
    description: Where that process logs, named in the failure message. When it is a file (Tomcat's
      catalina.out), the check also reads what Tomcat logged since its last start, and fails at once,
      quoting the cause, when Tomcat says it could not start the application's context.
    type: str
"""

EXAMPLES = r"""
- name: Wait until the node answers its health URL with the release's version
  orchestrator.fleet.health_check:
    url: http://127.0.0.1:8080/app/health
    expect_json:
      version: "7"
    timeout: 60
    pid: "{{ tomcat.pid }}"
"""

RETURN = r"""
status:
  description: Last HTTP status (0 when no connection)
  returned: on success
  type: int
  sample: 200
body:
  description: Last body (first 2000 characters)
  returned: on success
  type: str
  sample: '{"status": "UP", "version": "7"}'
attempts:
  description: Attempts made
  returned: on success
  type: int
  sample: 4
seconds:
  description: Time until healthy
  returned: on success
  type: float
  sample: 1.52
"""

import glob
import json
import os
import time
import urllib.error

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.urls import open_url


def probe(url: str, timeout: float) -> tuple[int, str]:
    # never through a proxy of the node's environment: the health URL is this node's own Tomcat
    try:
        with open_url(url, timeout=timeout, use_proxy=False) as resp:
            return resp.status, resp.read(65536).decode(errors="replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(65536).decode(errors="replace")
    except (urllib.error.URLError, OSError) as exc:
        return 0, f"no answer: {getattr(exc, 'reason', exc)}"


def mismatch(body: str, expected: dict) -> str:
    """Why the body does not match ``expected``, or '' when it does."""
    if not expected:
        return ""
    try:
        data = json.loads(body)
    except ValueError:
        return "the body is not JSON"
    for key, want in expected.items():
        got = data.get(key) if isinstance(data, dict) else None
        if str(got) != str(want):
            return f"'{key}' is {got!r}, expected {want!r}"
    return ""


# What Tomcat logs at each start, and when it gives up on a web application's context.
STARTING = ("Starting service [Catalina]", "Server initialization in")
CONTEXT_FAILED = ("startup failed due to previous errors", "Error deploying web application")
LOG_TAIL = 256 * 1024


def context_failure(log: str, since: float) -> str:
    """The causes Tomcat logged for a context that did not start, in its start that began at or
    after ``since`` (epoch seconds); '' when none, or when the log is not a readable file. The
    cause itself (a class not found, a parse error) is in the container's log beside catalina.out
    (localhost.<date>.log): read too."""
    lines = _tail(log)
    starts = [i for i, line in enumerate(lines) if any(m in line for m in STARTING)]
    # the start of this JVM, not one before it (whose failure may be why it was replaced)
    if not starts or logged_at(lines[starts[-1]]) < since - 1:
        return ""
    lines = lines[starts[-1] :]
    if not any(m in line for line in lines for m in CONTEXT_FAILED):
        return ""
    container = sorted(glob.glob(os.path.join(os.path.dirname(log), "localhost.*.log")), key=os.path.getmtime)
    causes = _severe(_tail(container[-1]), since) if container else []
    return " | ".join(dict.fromkeys(causes + _severe(lines, since)))[:800]


def _tail(path: str) -> list:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - LOG_TAIL))
            return f.read().decode("utf-8", errors="replace").splitlines()
    except OSError:
        return []


def _severe(lines: list, since: float) -> list:
    """Each SEVERE message logged since ``since`` (without its time and logger), with the exception
    line that follows it."""
    said = []
    for i, line in enumerate(lines):
        if " SEVERE " not in line or logged_at(line) < since - 1:
            continue
        said.append(line.split("] ", 1)[-1].split(" ", 1)[-1].strip())
        following = lines[i + 1].strip() if i + 1 < len(lines) else ""
        if following and not following.startswith("at ") and not following[:2].isdigit():
            said.append(following)
    return said


def logged_at(line: str) -> float:
    """The time of a Tomcat log line ('05-Dec-2026 12:29:25.010 INFO ...', the node's local time); 0 if none."""
    try:
        return time.mktime(time.strptime(" ".join(line.split()[:2]).split(".", maxsplit=1)[0], "%d-%b-%Y %H:%M:%S"))
    except (ValueError, OverflowError):
        return 0.0


def started_at(pid: int) -> float:
    """When the process started, in epoch seconds (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/stat") as f:
            boot = next(int(line.split()[1]) for line in f if line.startswith("btime"))
    except (OSError, IndexError, ValueError, StopIteration):
        return 0.0
    return boot + ticks / os.sysconf("SC_CLK_TCK")


def gone(pid: int) -> bool:
    """The process has exited (or is a zombie waiting to be reaped)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            url=dict(type="str", required=True),
            expect_status=dict(type="int", default=200),
            expect_json=dict(type="dict", default={}),
            timeout=dict(type="float", default=60),
            interval=dict(type="float", default=0.1),
            pid=dict(type="int", default=0),
            log=dict(type="str"),
        ),
        supports_check_mode=True,
    )
    p = module.params
    began = time.monotonic()
    deadline = began + p["timeout"]
    jvm_started = started_at(p["pid"]) if p["pid"] > 0 else 0.0
    attempts = 0
    while True:
        attempts += 1
        status, body = probe(p["url"], timeout=min(5.0, max(0.5, p["timeout"])))
        reason = f"status {status}" if status != p["expect_status"] else mismatch(body, p["expect_json"])
        if not reason:
            module.exit_json(
                changed=False,
                status=status,
                body=body[:2000],
                attempts=attempts,
                seconds=round(time.monotonic() - began, 3),
            )
        failed = context_failure(p["log"], jvm_started) if jvm_started and os.path.isfile(p["log"] or "") else ""
        if failed:
            module.fail_json(
                msg=f"Tomcat could not start the application, {time.monotonic() - began:.1f}s into the health check: "
                f"{failed} (its log: {p['log']}; {p['url']}: {reason})",
                status=status,
                body=body[:2000],
                attempts=attempts,
            )
        if p["pid"] > 0 and gone(p["pid"]):
            module.fail_json(
                msg=f"the server process (pid {p['pid']}) exited {time.monotonic() - began:.1f}s into the "
                f"health check, before {p['url']} was healthy ({reason})"
                + (f"; its log: {p['log']}" if p["log"] else ""),
                status=status,
                body=body[:2000],
                attempts=attempts,
            )
        if time.monotonic() >= deadline:
            module.fail_json(
                msg=f"{p['url']} not healthy after {p['timeout']}s: {reason}; last answer: {body[:300].strip()}",
                status=status,
                body=body[:2000],
                attempts=attempts,
            )
        time.sleep(p["interval"])


if __name__ == "__main__":
    main()
