"""The dashboard in a real browser (headless Chromium) against a real sandbox deploy under
light load: the fleet page live, pause and resume from it, the deploy's timeline and the
judge's charts, /metrics against the history. Screenshots of each page are kept as artifacts
(in $ORCHESTRATOR_SCREENSHOTS when set: docs/screenshots is made this way)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families
from selenium.webdriver.common.by import By

from orchestrator.control import gatekeeper as control
from orchestrator.dashboard.app import Site
from orchestrator.dashboard.settings import read_token
from orchestrator.records.history import History
from orchestrator.rollout import roll as rollout
from tests.integration.conftest import baking_inventory
from tests.support.cli import orchestrator_command
from tests.support.dashboard import browser, call, screenshot, serving
from tests.support.load import wait_until

DEPLOY_TIMEOUT = 240


def shots_dir(tmp_path: Path) -> Path:
    return Path(os.environ.get("ORCHESTRATOR_SCREENSHOTS") or tmp_path / "screenshots")


def live_updates(driver) -> int:
    return int(driver.execute_script("return Number(document.body.dataset.liveUpdates || 0)"))


def text_of(driver, css: str) -> str:
    """The text of the first element ``css`` selects, read in one step (the live regions are
    replaced as they refresh: an element found in one call may be gone by the next)."""
    return driver.execute_script("const e = document.querySelector(arguments[0]); return e ? e.innerText : ''", css)


def test_the_dashboard_follows_a_deploy_live_pauses_and_resumes_it_and_shows_the_judges_evidence(
    cluster, wars, tmp_path
):
    cluster.given_release(wars["v1"])
    v2 = rollout.prepare(wars["v2"], inventory=cluster.inventory).war.release_id
    token = read_token(cluster.box.dashboard_token)
    inventory = Path(baking_inventory(cluster, tmp_path))  # a 5 s bake: the judge's evidence to draw
    site = Site(inventory, cluster.state_dir, cluster.box.config, token, refresh=1.0)
    shots = shots_dir(tmp_path)

    with serving(site, host=cluster.box.lb_address) as url, browser() as driver:
        # Given the fleet page: each node with its release and HAProxy state, read live
        driver.get(f"{url}/")
        wait_until(
            lambda: len(driver.find_elements(By.CSS_SELECTOR, "#nodes tr[data-node]")) == 2,
            timeout=60,
            what="the nodes on the fleet page",
        )
        rows = {
            r.get_attribute("data-node"): r.text for r in driver.find_elements(By.CSS_SELECTOR, "#nodes tr[data-node]")
        }
        assert all("UP" in row and "1-" in row for row in rows.values()), rows
        # An action without the token is refused
        assert call(f"{url}/actions/pause", method="POST").status == 401
        # When signed in with the token
        driver.get(f"{url}/login")
        driver.find_element(By.ID, "name").send_keys("tester")
        driver.find_element(By.ID, "token").send_keys(token)
        driver.find_element(By.ID, "sign-in").click()
        wait_until(lambda: driver.find_elements(By.ID, "action-pause"), timeout=30, what="the actions")
        loaded_at = driver.execute_script("return performance.timeOrigin")

        with cluster.light_load() as load:
            deploy = subprocess.Popen(
                orchestrator_command("deploy", "--war", wars["v2"], "--config", cluster.box.config, "-i", inventory),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            try:
                # Then the page shows the deploy and its nodes' phases without a reload
                before = live_updates(driver)
                wait_until(
                    lambda: any(
                        phase in text_of(driver, "#deploy-in-progress .phase[data-node='node1']")
                        for phase in ("drain", "stop", "install", "start", "verify", "enable", "bake")
                    ),
                    timeout=120,
                    interval=0.1,
                    what="node1 rolling, on the fleet page",
                )
                assert "In progress" in text_of(driver, "#deploy-in-progress")
                assert live_updates(driver) > before
                # When paused from the page while node1 rolls
                driver.find_element(By.ID, "action-pause").click()
                wait_until(lambda: "pausing deploy" in text_of(driver, "#flash"), timeout=30, what="the answer")
                gate = wait_until(
                    lambda: (lambda g: g if g and g.get("waiting") == "paused" else None)(
                        control.current(cluster.state_dir)
                    ),
                    timeout=DEPLOY_TIMEOUT,
                    what="the roll paused",
                )
                # Then the roll holds before node2, and the page says so, by whom
                assert gate["next"] == ["node2"] and gate["by"].startswith("tester (dashboard")
                wait_until(lambda: "PAUSED by tester" in text_of(driver, "#gate"), timeout=30, what="the banner")
                assert cluster.node_health("node2")["version"] == "1"
                screenshot(driver, shots / "fleet.png")
                # When resumed from the page, then the deploy finishes
                driver.find_element(By.ID, "action-resume").click()
                out, _ = deploy.communicate(timeout=DEPLOY_TIMEOUT)
            finally:
                if deploy.poll() is None:
                    deploy.terminate()
                    deploy.wait(timeout=60)
        assert deploy.returncode == 0, out[-3000:]
        assert load.report.failed == 0, load.report.line()
        assert driver.execute_script("return performance.timeOrigin") == loaded_at  # never reloaded

        history = History(cluster.state_dir, writable=False)
        record = history.list(1)[0]
        asked = [(a.verb, a.outcome) for a in history.actions(5)]
        deployed = history.count(outcome="deployed")
        history.close()
        assert asked[:2] == [("resume", "done"), ("pause", "done")]

        # The deploy's page: one timeline row per node with its phases, and the judge's charts
        driver.get(f"{url}/deploys/{record.id}")
        nodes = driver.find_elements(By.CSS_SELECTOR, "#timeline .row.node")
        assert [n.get_attribute("data-node") for n in nodes] == ["node1", "node2"]
        for node in nodes:
            phases = {b.get_attribute("data-phase") for b in node.find_elements(By.CSS_SELECTOR, ".bar")}
            # (node1's bake gives the release's verdict, node2's watches it)
            assert {"drain", "install", "verify", "enable", "bake"} <= phases, phases
        charts = driver.execute_script(
            "return window.orchestratorCharts.map(c => ({kind: c.kind, points: c.points, lines: c.lines.length,"
            " canvas: !!c.plot.root.querySelector('canvas')}))"
        )
        drawn = [c for c in charts if c["points"] > 0 and c["canvas"]]
        assert {c["kind"] for c in drawn} == {"latency", "errors", "evidence"}, charts
        assert all(c["lines"] > 0 for c in drawn if c["kind"] != "latency") and any(
            c["lines"] > 0 for c in drawn if c["kind"] == "latency"
        )
        sentence = text_of(driver, "article.evidence .sentence")
        assert sentence.startswith("Passed after"), sentence
        screenshot(driver, shots / "deploy.png")
        for name, path in (("deploys", "/deploys"), ("releases", "/releases")):
            driver.get(f"{url}{path}")
            screenshot(driver, shots / f"{name}.png")
        assert v2 in text_of(driver, "#releases")

        # /metrics: the history's numbers, and the release each node serves as read live
        def scraped():
            families = {f.name: f for f in text_string_to_metric_families(call(f"{url}/metrics").body)}
            serving_now = {
                s.labels["node"]: s.labels["release"] for s in families["orchestrator_node_release_info"].samples
            }
            return families if serving_now == {"node1": v2, "node2": v2} else None

        families = wait_until(scraped, timeout=60, interval=0.5, what="/metrics showing v2 on both nodes")
        count = sum(s.value for s in families["orchestrator_deploys"].samples if s.labels["outcome"] == "deployed")
        assert count == deployed
