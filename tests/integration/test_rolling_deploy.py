"""Rolling deploys on a real HAProxy and real Tomcats, under load from wrk."""

from __future__ import annotations

import time
import zipfile

from tests.conftest import run_cli
from tests.support.cli import ansible_playbook


def test_deploy_under_load_loses_no_request(cluster, wars):
    # Given two nodes on v1
    cluster.given_release(wars["v1"])

    # When v2 is deployed while wrk keeps 16 connections busy through HAProxy
    with cluster.load() as load:
        result = run_cli("deploy", "--war", wars["v2"], "-i", cluster.inventory, "--state-dir", cluster.state_dir)
    report = load.report
    print(f"\nload during the deploy: {report.line()}")

    # Then the deploy succeeds, both nodes serve v2, and not one request failed
    assert result.returncode == 0, result.stdout + result.stderr
    for name in cluster.nodes:
        assert cluster.node_health(name)["version"] == "2"
        assert name in result.stdout
    assert cluster.served_through_haproxy() == "Hello from version 2"
    cluster.assert_all_in_rotation()
    assert report.requests > 1000
    assert report.failed == 0, report.line()
    # the load ran across the switch: both versions answered it
    assert set(report.versions) == {"1", "2"}, report.versions


def test_broken_release_is_rescued_and_the_roll_stops(cluster, wars):
    # Given two nodes on v1
    cluster.given_release(wars["v1"])
    node2_pid = cluster.tomcat_pid("node2")
    node2_release = cluster.current_release("node2")

    # When a release whose health check fails is deployed, under load
    with cluster.load() as load:
        began = time.monotonic()
        result = run_cli("deploy", "--war", wars["broken"], "-i", cluster.inventory, "--state-dir", cluster.state_dir)
        took = time.monotonic() - began
    report = load.report
    print(f"\nload during the failed deploy: {report.line()}")

    # Then the command fails, naming the node and the task
    assert result.returncode == 1, result.stdout + result.stderr
    assert "node1" in result.stderr and "verify" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    # node1 is back on v1 and in rotation
    assert cluster.node_health("node1")["version"] == "1"
    cluster.assert_all_in_rotation()
    # node2 was never touched: same JVM, same release, no HAProxy state change during the deploy
    assert cluster.tomcat_pid("node2") == node2_pid
    assert cluster.current_release("node2") == node2_release
    assert int(cluster.haproxy_row("node2")["lastchg"]) >= int(took) - 1
    # and no request failed
    assert report.failed == 0, report.line()
    assert report.versions == {"1": report.requests}, report.versions


def test_playbook_by_hand_deploys_the_same_way(cluster, wars):
    # Given two nodes on v1
    cluster.given_release(wars["v1"])

    # When an operator runs the playbook with ansible-playbook, under load
    with cluster.load() as load:
        result = ansible_playbook(
            "-i", cluster.inventory, "orchestrator.fleet.deploy", "-e", f"war={wars['v2']}", timeout=600
        )
    report = load.report
    print(f"\nload during the manual run: {report.line()}")

    # Then both nodes serve v2 and nothing failed
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    for name in cluster.nodes:
        assert cluster.node_health(name)["version"] == "2"
    cluster.assert_all_in_rotation()
    assert report.failed == 0, report.line()


def test_a_war_tomcat_cannot_start_is_failed_at_once_quoting_tomcats_cause(cluster, wars, tmp_path):
    # Given two nodes on v1, and v1's WAR made into version 11 with a listener class it lacks: the
    # XML is well-formed (the preflight lets it through), but Tomcat gives up on the context
    cluster.given_release(wars["v1"])
    war = tmp_path / "app-11.war"
    with zipfile.ZipFile(wars["v1"]) as source, zipfile.ZipFile(war, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "META-INF/MANIFEST.MF":
                data = data.replace(b"Implementation-Version: 1", b"Implementation-Version: 11")
            elif item.filename == "WEB-INF/web.xml":
                data = data.replace(
                    b"</web-app>",
                    b"<listener><listener-class>org.example.Missing</listener-class></listener></web-app>",
                )
            target.writestr(item, data)

    # When it is deployed under load
    with cluster.light_load() as load:
        result = run_cli("deploy", "--war", war, "-i", cluster.inventory, "--state-dir", cluster.state_dir)

    # Then node1's health check fails as soon as Tomcat says why (not after its timeout), quoting it,
    # node1 is back on v1 and nothing was lost
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Tomcat could not start the application" in result.stderr, result.stderr
    assert "ClassNotFoundException: org.example.Missing" in result.stderr, result.stderr
    assert cluster.node_health("node1")["version"] == "1"
    cluster.assert_all_in_rotation()
    assert load.report.failed == 0, load.report.line()
