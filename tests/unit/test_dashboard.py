"""The dashboard's pages, /metrics and actions over real HTTP (uvicorn on loopback), on a
history written as deploys write it. The fleet (HAProxy, nodes) is not read here: see
tests/integration/test_dashboard.py."""

from __future__ import annotations

import os
import socket
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from ansible_collections.orchestrator.fleet.plugins.module_utils.judge import Judgement, Policy, Sample
from orchestrator.dashboard import actions, evidence, timeline
from orchestrator.dashboard.app import Site
from orchestrator.records.history import History
from tests.conftest import run_cli
from tests.support.dashboard import TOKEN, NoFleet, call, serving


def judged_report(errors_new: int = 1, errors_old: int = 1, looks: int = 6) -> dict:
    """A report as haproxy_bake makes it, from the judge itself: ``looks`` looks of 200 requests a side."""
    policy = Policy()
    judgement = Judgement(policy)
    trace = []
    for look in range(1, looks + 1):
        new, old = Sample(), Sample()
        for i in range(200):
            new.add(500 if i < errors_new else 200, 20 + i % 7)
            old.add(500 if i < errors_old else 200, 20 + i % 5)
        verdict = judgement.look(new, old)
        errors = next(m for m in verdict.metrics if m.name == "errors")
        row = [float(look), errors.new["requests"], errors.new["errors_5xx"]]
        row += [errors.baseline["requests"], errors.baseline["errors_5xx"]]
        row += [v for m in verdict.metrics for v in (m.p_value, m.p_ok)]
        trace.append(row)
    return dict(
        verdict.to_dict(),
        seconds=float(looks),
        servers=["node1"],
        peers=[],
        baseline_servers=["node2"],
        trace=trace,
        distributions={"new": judgement.new.binned(), "old": judgement.base.binned()},
        policy=policy.to_dict(),
    )


def given_history(state_dir, *, nodes: int = 2, deploys: int = 3) -> History:
    """Deploys as the pipeline records them: stage times, node spans, verdicts, a rejection."""
    history = History(state_dir)
    now = time.time()
    for d in range(deploys):
        deploy_id = history.start("hg", revision=f"{d:040x}", pushed=now - 100 + d, claimed=now - 99 + d)
        history.update(deploy_id, release_id=f"{d + 1}-abc", strategy="bluegreen" if d == 0 else "rolling")
        for stage in ("built", "tested", "deploy_started", "rolled"):
            history.mark(deploy_id, stage)
        t = now - 60
        history.record_nodes(
            deploy_id,
            [
                {
                    "node": f"node{n + 1}",
                    "old": f"{d}-abc",
                    "new": f"{d + 1}-abc",
                    "outcome": "done",
                    "phases": {"drain": 1.0, "bake": 5.0},
                    "spans": {"drain": [t + 10 * n, t + 10 * n + 1], "bake": [t + 10 * n + 2, t + 10 * n + 7]},
                }
                for n in range(nodes)
            ],
        )
        rejected = d == deploys - 1
        history.record_verdicts(deploy_id, f"{d + 1}-abc", {"node1": judged_report(errors_new=40 if rejected else 1)})
        history.update(
            deploy_id, outcome="rejected" if rejected else "deployed", stage="deploy" if rejected else "done"
        )
        history.mark(deploy_id, "finished")
        history.set_release(f"{d + 1}-abc", "rejected" if rejected else "verified", deploy_id=deploy_id)
    return history


def site(state_dir, token: str | None = TOKEN) -> Site:
    return Site(inventory=state_dir / "no-inventory", state_dir=state_dir, config_path=None, token=token)


def test_metrics_parse_as_prometheus_text_and_match_the_history(tmp_path):
    # Given three deploys: two deployed (one blue/green), one rejected by the judge
    history = given_history(tmp_path)
    with serving(site(tmp_path), feed=NoFleet()) as url:
        # When /metrics is scraped
        answer = call(f"{url}/metrics")
    assert answer.status == 200 and answer.headers["content-type"].startswith("text/plain")
    families = {f.name: f for f in text_string_to_metric_families(answer.body)}

    # Then the counts are the history's
    deploys = {(s.labels["outcome"], s.labels["strategy"]): s.value for s in families["orchestrator_deploys"].samples}
    assert deploys == {("deployed", "bluegreen"): 1, ("deployed", "rolling"): 1, ("rejected", "rolling"): 1}
    counts = {
        s.labels["outcome"]: s.value
        for s in families["orchestrator_deploy_duration_seconds"].samples
        if s.name.endswith("_count")
    }
    assert counts == {"deployed": 2, "rejected": 1}
    verdicts = {(s.labels["metric"], s.labels["result"]): s.value for s in families["orchestrator_verdicts"].samples}
    assert verdicts[("release", "fail")] == 1 and verdicts[("errors", "fail")] == 1
    assert sum(v for (metric, _), v in verdicts.items() if metric == "release") == 3
    last = history.list(3)[1].times["finished"]
    assert families["orchestrator_last_successful_deploy_timestamp_seconds"].samples[0].value == pytest.approx(last)
    assert families["orchestrator_deploy_in_progress"].samples[0].value == 0
    history.close()


def test_pages_show_the_history_and_an_unknown_deploy_is_a_404_page(tmp_path):
    given_history(tmp_path, nodes=16).close()
    with serving(site(tmp_path), feed=NoFleet()) as url:
        listing = call(f"{url}/deploys")
        rejected = call(f"{url}/deploys?outcome=rejected")
        page = call(f"{url}/deploys/3")
        releases = call(f"{url}/releases")
        missing = call(f"{url}/deploys/999")
        nowhere = call(f"{url}/no/such/page")
    assert listing.status == 200 and all(f'href="/deploys/{i}"' in listing.body for i in (1, 2, 3))
    assert rejected.body.count('data-outcome="rejected"') == 1 and 'data-outcome="deployed"' not in rejected.body
    # one timeline row per node, each with its phases
    assert page.status == 200 and page.body.count('class="row node"') == 16
    assert page.body.count('data-phase="bake"') == 16
    assert "Rejected after" in page.body  # the verdict in one sentence
    assert releases.status == 200 and 'data-status="rejected"' in releases.body
    assert missing.status == 404 and "there is no deploy #999" in missing.body
    assert nowhere.status == 404


def test_a_state_directory_that_cannot_be_read_is_a_page_that_says_so_with_the_fix(tmp_path):
    # Given a state directory that is a file
    bad = tmp_path / "state"
    bad.write_text("not a directory")
    with serving(site(bad), feed=NoFleet()) as url:
        answer = call(f"{url}/deploys")
        scrape = call(f"{url}/metrics")
    assert answer.status == 503
    assert f"the state directory {bad} cannot be read" in answer.body and "--state-dir" in answer.body
    assert scrape.status == 503


def test_actions_need_the_token_and_a_csrf_value_and_each_is_recorded_with_who_asked(tmp_path):
    given_history(tmp_path).close()
    with serving(site(tmp_path), feed=NoFleet()) as url:
        # Without credentials: 401; with a wrong token: 403
        assert call(f"{url}/actions/pause", method="POST").status == 401
        assert call(f"{url}/actions/pause", method="POST", headers={"Authorization": "Bearer nope"}).status == 403
        # A browser's session without the page's CSRF value: 403
        login = call(f"{url}/login", method="POST", data={"token": TOKEN, "name": "alice"})
        assert login.status == 200  # (followed the redirect to the fleet page)
        session = actions.Gatekeeper(TOKEN).session_for(TOKEN, "alice")
        cookie = {"Cookie": f"{actions.COOKIE}={session}"}
        assert call(f"{url}/actions/pause", method="POST", headers=cookie).status == 403
        # With it, the action is asked; nothing rolls, so it is refused (409) with the reason
        csrf = actions.Gatekeeper(TOKEN).csrf_for(session)
        asked = call(f"{url}/actions/pause", method="POST", data={"csrf": csrf}, headers=cookie)
        assert asked.status == 409 and "nothing to pause: no deploy is running" in asked.body
        # A script with the token gets JSON
        script = call(
            f"{url}/actions/resume",
            method="POST",
            headers={"Authorization": f"Bearer {TOKEN}", "X-Orchestrator-User": "ci-job"},
        )
        assert script.status == 409 and script.json()["outcome"] == "refused"
        assert call(f"{url}/actions/explode", method="POST").status == 404
    history = History(tmp_path)
    asked_by = [(a.verb, a.who.split(" (")[0], a.outcome) for a in history.actions()]
    history.close()
    assert asked_by == [("resume", "ci-job", "refused"), ("pause", "alice", "refused")]


def test_without_a_token_the_dashboard_is_read_only(tmp_path):
    given_history(tmp_path).close()
    with serving(site(tmp_path, token=None), feed=NoFleet()) as url:
        answer = call(f"{url}/actions/pause", method="POST", headers={"Authorization": f"Bearer {TOKEN}"})
        page = call(f"{url}/deploys")
    assert answer.status == 403 and "actions are off" in answer.json()["message"]
    assert "read-only" in page.body


def test_a_token_file_others_can_read_is_refused_at_start_with_the_chmod(tmp_path):
    token = tmp_path / "dashboard.token"
    token.write_text(TOKEN + "\n")
    os.chmod(token, 0o644)
    config = tmp_path / "orchestrator.toml"
    config.write_text(
        f'[source]\nrepository = "{tmp_path / "repo"}"\nbranch = "default"\n[spool]\ndirectory = "spool"\n'
        '[build]\ncommand = "true"\nartifact = "*.war"\n[test]\ncommand = "true"\n'
        '[deploy]\ninventory = "inventory"\nstate_directory = "state"\n'
        f'[dashboard]\ntoken_file = "{token}"\n'
    )
    (tmp_path / "repo" / ".hg").mkdir(parents=True)
    refused = run_cli("dashboard", "--config", config, timeout=60)
    assert refused.returncode == 2, refused.stderr
    assert f"chmod 600 {token}" in refused.stderr and "Traceback" not in refused.stderr


def test_a_port_in_use_is_one_line_and_exit_2(tmp_path):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    try:
        port = taken.getsockname()[1]
        answer = run_cli("dashboard", "--state-dir", tmp_path, "--listen", f"127.0.0.1:{port}", timeout=60)
    finally:
        taken.close()
    assert answer.returncode == 2
    assert answer.stderr.strip().count("\n") == 0 and f"127.0.0.1:{port} is in use" in answer.stderr


def test_the_evidence_is_one_sentence_and_charts_with_their_thresholds():
    # Given the judge's report on a release that answers 20% 5xx against 0.5%
    report = judged_report(errors_new=40, errors_old=1, looks=3)
    charts = evidence.charts(report)
    # Then the sentence says rejected and why, and each chart has data and its lines
    assert evidence.sentence(report).startswith("Rejected after 3s (600 requests of the new release vs 600 of the old)")
    assert len(charts["errors"]["x"]) == 3 and charts["errors"]["series"][0]["values"][-1] == pytest.approx(0.2)
    tolerated, caught = (line["value"] for line in charts["errors"]["lines"])
    assert tolerated == pytest.approx(1.25 * 0.005) and caught == pytest.approx(0.02)
    assert charts["latency"]["series"][0]["values"][-1] == 1.0  # a distribution ends at every request
    assert [line["label"].split(" ")[0] for line in charts["latency"]["lines"]] == [
        "old",
        "tolerated",
        "slowdown",
        "old",
    ]
    alpha = next(line for line in charts["evidence"]["lines"] if "alpha" in line["label"])["value"]
    assert min(charts["evidence"]["series"][0]["values"]) < alpha  # the errors' p(worse) crossed it


def test_a_deploy_recorded_before_spans_were_kept_is_drawn_from_its_durations():
    # Given a record from schema 6: phase durations, no spans
    history_record = type(
        "Record",
        (),
        dict(
            outcome="deployed",
            times={"pushed": None, "claimed": 100.0, "deploy_started": 110.0, "rolled": 130.0, "finished": 131.0},
            nodes=[
                {"node": "node1", "slot": None, "outcome": "done", "phases": {"drain": 2.0, "bake": 5.0}, "spans": {}}
            ],
        ),
    )
    drawn = timeline.build(history_record)
    (row,) = drawn.nodes
    assert [b.name for b in row.bars] == ["drain", "bake"] and row.note.startswith("durations only")
    # laid end to end from the roll's start (10 s after the claim), on the deploy's scale
    assert [b.name for b in drawn.stages.bars] == ["build", "roll"]
    assert (row.bars[0].start, row.bars[1].start) == pytest.approx((10.0, 12.0)) and drawn.seconds == pytest.approx(
        30.0
    )
