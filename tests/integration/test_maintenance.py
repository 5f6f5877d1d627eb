"""Maintenance mode against the real HAProxy and Tomcat nodes, under load."""

from __future__ import annotations

import json
import time

from tests.conftest import run_cli
from tests.support.load import wait_until
from tests.support.probe import Prober


def maintenance_page(answer) -> bool:
    return answer.status == 503 and answer.retry_after == "120" and "Back at 10:30 &lt;UTC&gt;" in answer.body


def test_maintenance_answers_503_with_retry_after_across_a_reload_and_a_deploy_then_serves_again(cluster, wars):
    # Given the fleet on v1 and requests going through HAProxy without a pause
    cluster.given_release(wars["v1"])
    pids = {n: cluster.tomcat_pid(n) for n in cluster.nodes}
    config = cluster.box.config
    with Prober(cluster.url) as probe:
        wait_until(lambda: probe.count() > 50, timeout=10, what="the first answers")

        # When maintenance goes on
        began = time.monotonic()
        on = run_cli(
            "maintenance", "on", "--config", config, "--message", "Back at 10:30 <UTC>", "--retry-after", "120"
        )
        on_returned = time.monotonic()
        assert on.returncode == 0, on.stderr
        wait_until(lambda: len(probe.sent_between(on_returned)) > 100, timeout=10, what="answers during maintenance")
        # ...and HAProxy reloads (as a new configuration, or an operator, makes it do)
        cluster.reload_haproxy()
        after_reload = time.monotonic()
        wait_until(lambda: len(probe.sent_between(after_reload)) > 100, timeout=10, what="answers after the reload")
        status = run_cli("status", "--config", config)
        pids_during = {n: cluster.tomcat_pid(n) for n in cluster.nodes}
        status_json = json.loads(run_cli("status", "--config", config, "--json").stdout)
        # ...and a deploy runs meanwhile
        deploy = run_cli("deploy", "--war", wars["v2"], "--config", config)
        off_began = time.monotonic()
        off = run_cli("maintenance", "off", "--config", config)
        off_returned = time.monotonic()
        wait_until(lambda: len(probe.sent_between(off_returned)) > 100, timeout=10, what="answers after maintenance")

    # Then every request sent while it was on got the page: a 503 with Retry-After, nothing else
    during = probe.sent_between(on_returned, off_began)
    assert during and all(maintenance_page(a) for a in during), [a for a in during if not maintenance_page(a)][:3]
    # ...no answer of any other kind at any time: served pages before and after, the page between
    every = probe.sent_between(0)
    odd = [a for a in every if not (maintenance_page(a) or a.status == 200)]
    assert not odd, odd[:3]
    assert all(a.status == 200 for a in probe.sent_between(0, began))
    assert off.returncode == 0, off.stderr
    # ...every request sent after `off` returned was served, the first within a second of it
    after = probe.sent_between(off_returned)
    assert all(a.status == 200 and "version 2" in a.body for a in after), [a for a in after if a.status != 200][:3]
    assert after[0].done - off_returned < 1.0
    # ...no Tomcat was stopped for it; the deploy went ahead and said why it did not bake
    assert deploy.returncode == 0, deploy.stdout[-2000:] + deploy.stderr
    assert "maintenance mode is on" in deploy.stdout and "not baked" in deploy.stdout
    assert pids_during == pids
    # ...and status said so, naming who turned it on
    assert "maintenance: ON at lb1 (turned on by " in status.stdout and "Retry-After 120" in status.stdout
    assert status_json["maintenance"] == {"lb1": {"message": "Back at 10:30 <UTC>", "retry_after": 120}}
    assert "maintenance" not in run_cli("status", "--config", config).stdout


def test_maintenance_bad_input_changes_nothing(cluster):
    negative = run_cli("maintenance", "on", "--config", cluster.box.config, "--retry-after", "-1")
    assert negative.returncode == 2 and "--retry-after" in negative.stderr, negative.stderr
    empty = run_cli("maintenance", "on", "--config", cluster.box.config, "--message", " ")
    assert empty.returncode == 2 and "--message" in empty.stderr, empty.stderr
    assert cluster.served_through_haproxy().startswith("Hello from version")
