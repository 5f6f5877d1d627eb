"""The immune system: builds that pass their health check but misbehave under real traffic are
rejected during their bake, judged against the old release, on a real HAProxy and real Tomcats;
at full wrk load and at about 10 requests/s."""

from __future__ import annotations

import json

import pytest

from orchestrator import deploy as deploy_lib
from orchestrator.history import History
from tests.conftest import run_cli
from tests.integration.conftest import baking_inventory

def deploy(cluster, war, inventory):
    return run_cli("deploy", "--war", war, "-i", inventory, "--state-dir", cluster.state_dir)


def deploy_under(load, cluster, war, inventory):
    with load as running:
        result = deploy(cluster, war, inventory)
    return result, running.report


def verdicts(cluster, war) -> dict[str, dict]:
    """node -> the judge's report on ``war``'s release, from the ledger (orchestrator releases show)."""
    release = deploy_lib.plan(war, inventory=cluster.inventory).war.release_id
    shown = run_cli("releases", "show", release, "--json", "--state-dir", cluster.state_dir)
    assert shown.returncode == 0, shown.stderr
    return {v["node"]: v["report"] for v in json.loads(shown.stdout)["verdicts"]}


def wars_version(cluster, war) -> str:
    return deploy_lib.plan(war, inventory=cluster.inventory).war.version


def ledger_status(cluster, war) -> str:
    history = History(cluster.state_dir)
    try:
        return history.release(deploy_lib.plan(war, inventory=cluster.inventory).war.release_id).status
    finally:
        history.close()


# --- at full load ------------------------------------------------------------------------------

def test_a_build_that_fails_a_fifth_of_requests_is_rejected_during_its_bake(cluster, wars, tmp_path):
    # Given two nodes on v1, and a build that answers 500 to every fifth request
    cluster.given_release(wars["v1"])
    node2_pid = cluster.tomcat_pid("node2")

    # When it is deployed with a bake, under load
    result, report = deploy_under(cluster.load(), cluster, wars["errors"], baking_inventory(cluster, tmp_path))
    blast = report.statuses.get("500", 0)
    print(f"\nblast radius: {blast} of {report.requests} responses were the bad build's 500s; {report.line()}")

    # Then the canary is rejected by the 5xx test, node1 is back on v1 in rotation, node2 never touched
    assert result.returncode == 1, result.stdout + result.stderr
    assert "node1 rejected" in result.stderr and "5xx share" in result.stderr, result.stderr
    assert cluster.node_health("node1")["version"] == "1"
    assert cluster.tomcat_pid("node2") == node2_pid
    cluster.assert_all_in_rotation()
    assert cluster.haproxy_row("node1")["weight"] == "100"  # the canary weight is gone
    # the only failures the load saw were the bad build's own 500s, and few of them
    assert report.socket_errors == 0 and report.non2xx == blast
    assert 0 < blast < 0.01 * report.requests
    # and the ledger keeps the numbers: the old release on node2 was the baseline
    judged = verdicts(cluster, wars["errors"])["node1"]
    errors = next(m for m in judged["metrics"] if m["name"] == "errors")
    assert judged["verdict"] == "fail" and judged["baseline_servers"] == ["node2"]
    assert errors["verdict"] == "fail" and errors["new"]["errors_5xx"] > 0 and errors["p_value"] < errors["alpha"]


def test_a_build_300_ms_slower_is_rejected_by_the_response_time_test(cluster, wars, tmp_path):
    cluster.given_release(wars["v1"])

    result, report = deploy_under(cluster.load(), cluster, wars["slow"], baking_inventory(cluster, tmp_path))
    print(f"\nduring the slow build's bake: {report.line()}")

    assert result.returncode == 1, result.stdout + result.stderr
    assert "node1 rejected" in result.stderr and "response time" in result.stderr, result.stderr
    assert cluster.node_health("node1")["version"] == "1"
    cluster.assert_all_in_rotation()
    assert report.failed == 0, report.line()


def test_at_200_requests_a_second_an_identical_build_with_random_1pct_errors_passes(cluster, wars, tmp_path):
    # Given a fleet whose pages fail at random 1% of the time, serving about 200 requests/s (where
    # the counters-era bake rejected half of such builds; bench/immune_system.py runs 10 in a row)
    inventory = baking_inventory(cluster, tmp_path)
    cluster.given_release(wars["noisy1"])

    # When a build just as flaky is deployed
    load = cluster.paced_load(connections=2, delay_ms=9)
    result, report = deploy_under(load, cluster, wars["noisy2"], inventory)
    print(f"\n1% random errors on both sides, ~200 requests/s: {report.line()}")

    # Then it is not rejected: the same share of errors is no evidence against it
    assert result.returncode == 0, result.stdout + result.stderr
    for name in cluster.nodes:
        assert cluster.node_health(name)["version"] == "10"
        assert cluster.haproxy_row(name)["weight"] == "100"  # the canary's weight steps are over
        assert f"{name} judged against the old release" in result.stdout
    assert report.socket_errors == 0, report.line()
    assert ledger_status(cluster, wars["noisy2"]) == "verified"
    # node1 (the canary) was compared with node2, still on the old release; node2 (the last
    # batch) with the old release's own requests from before the deploy: never with node1
    judged = verdicts(cluster, wars["noisy2"])
    assert judged["node1"]["baseline_servers"] == ["node2"] and judged["node1"]["baseline_source"] == "live"
    assert judged["node2"]["baseline_servers"] == [] and judged["node2"]["baseline_source"] == "before the deploy"
    assert judged["node2"]["history_requests"] >= 50
    assert {judged[n]["verdict"] for n in judged} <= {"pass", "marginal"}


# --- at about 10 requests/s --------------------------------------------------------------------

# (a build whose every page is a 500 is rejected at this load too: pushed, in test_push_to_live.py)
@pytest.mark.parametrize("build, rejected_for", [
    ("slow", "response time"),          # every page 300 ms slower
])
def test_at_light_load_a_bad_build_is_rejected_on_the_canary(cluster, wars, tmp_path, build, rejected_for):
    # Given two nodes on v1 serving about 10 requests/s
    cluster.given_release(wars["v1"])
    node2_pid = cluster.tomcat_pid("node2")

    # When the bad build is deployed
    result, report = deploy_under(cluster.light_load(), cluster, wars[build], baking_inventory(cluster, tmp_path))
    print(f"\nlight load during the {build} build's bake: {report.line()}")

    # Then the canary rejects it, on a handful of requests, and node2 never hears of it
    assert result.returncode == 1, result.stdout + result.stderr
    assert "node1 rejected" in result.stderr and rejected_for in result.stderr, result.stderr
    assert cluster.tomcat_pid("node2") == node2_pid
    assert cluster.node_health("node1")["version"] == "1"
    cluster.assert_all_in_rotation()
    assert report.versions.get(wars_version(cluster, wars[build]), 0) + report.statuses.get("500", 0) < 40, report.line()


# A build as good as the old one at light load passes only once the evidence is in (its canary's
# weight stepped up): about 90 s of bake at 10 requests/s, measured with repetitions instead in
#   .venv/bin/python bench/immune_system.py --rates --identical 3 --identical-rate 10
