"""health_check reads Tomcat's catalina.out: a context that failed in *this* JVM's start fails the
check at once with Tomcat's words; a failure of an earlier start does not."""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
COLLECTION = ROOT / "ansible_collections" / "orchestrator" / "fleet"
spec = importlib.util.spec_from_file_location("health_check", COLLECTION / "plugins/modules" / "health_check.py")
health_check = importlib.util.module_from_spec(spec)
spec.loader.exec_module(health_check)


def stamp(seconds: float) -> str:
    return time.strftime("%d-%b-%Y %H:%M:%S", time.localtime(seconds)) + ".000"


def start(at: float, *, failed: bool) -> str:
    lines = [
        f"{stamp(at)} INFO [main] org.apache.catalina.startup.Catalina.load Server initialization in [400] milliseconds",
        f"{stamp(at)} INFO [main] org.apache.catalina.core.StandardService.startInternal Starting service [Catalina]",
    ]
    if failed:
        lines += [
            f"{stamp(at + 1)} SEVERE [main] org.apache.catalina.core.StandardContext.listenerStart Error configuring "
            "application listener of class [org.example.Missing]",
            "\tjava.lang.ClassNotFoundException: org.example.Missing",
            f"{stamp(at + 1)} SEVERE [main] org.apache.catalina.core.StandardContext.startInternal One or more "
            "listeners failed to start. Full details will be found in the appropriate container log file",
            f"{stamp(at + 1)} SEVERE [main] org.apache.catalina.core.StandardContext.startInternal Context [] startup "
            "failed due to previous errors",
        ]
    return "\n".join(lines) + "\n"


def test_a_context_that_failed_in_this_start_is_said_with_tomcats_cause(tmp_path):
    now = time.time()
    log = tmp_path / "catalina.out"
    log.write_text(start(now - 100, failed=False) + start(now - 2, failed=True))
    said = health_check.context_failure(str(log), now - 2)
    assert "Error configuring application listener of class [org.example.Missing]" in said
    assert "ClassNotFoundException: org.example.Missing" in said and "startup failed" in said
    assert "org.apache.catalina" not in said  # Tomcat's words, not its loggers' names


def test_the_cause_is_read_from_the_container_log_beside_catalina_out(tmp_path):
    # Given Tomcat's split: catalina.out says the context failed, localhost.<date>.log says why
    now = time.time()
    (tmp_path / "catalina.out").write_text(
        start(now - 2, failed=False)
        + f"{stamp(now - 1)} SEVERE [main] org.apache.catalina.core.StandardContext.startInternal Context [] startup "
        "failed due to previous errors\n"
    )
    (tmp_path / "localhost.2026-12-05.log").write_text(
        f"{stamp(now - 1)} SEVERE [main] org.apache.catalina.core.StandardContext.listenerStart Error configuring "
        "application listener of class [org.example.Missing]\n"
        "\tjava.lang.ClassNotFoundException: org.example.Missing\n"
        "\t\tat org.apache.catalina.loader.WebappClassLoaderBase.loadClass(WebappClassLoaderBase.java:1467)\n"
    )
    said = health_check.context_failure(str(tmp_path / "catalina.out"), now - 2)
    assert said.startswith(
        "Error configuring application listener of class [org.example.Missing] | "
        "java.lang.ClassNotFoundException: org.example.Missing | Context [] startup failed"
    ), said


def test_a_failure_of_an_earlier_start_is_not_this_jvms(tmp_path):
    now = time.time()
    log = tmp_path / "catalina.out"
    # the broken release's start failed; the rescue's JVM has just started and logged nothing yet
    log.write_text(start(now - 30, failed=True))
    assert health_check.context_failure(str(log), now) == ""
    # and a start that went well says nothing
    log.write_text(start(now - 30, failed=True) + start(now, failed=False))
    assert health_check.context_failure(str(log), now) == ""
