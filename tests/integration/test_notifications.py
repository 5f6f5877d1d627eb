"""Webhook notifications of a real deploy, to real HTTP receivers: one that works, one that is
down, one that hangs and one that answers 500."""

from __future__ import annotations

import os
import time

from orchestrator import notify
from orchestrator.records.history import History
from tests.conftest import run_cli
from tests.support.receiver import SECRET, TIMEOUT, Receiver, notify_config


def test_a_deploy_tells_every_event_in_order_signed_and_bad_receivers_cost_it_nothing(cluster, wars, tmp_path):
    # Given v2 live under load (as the maintenance test leaves it), and four receivers: one that
    # works, one down, one hanging, one answering 500
    cluster.given_release(wars["v2"])
    address = cluster.box.lb_address.rsplit(".", 1)[0] + ".201"
    down = f"http://{address}:9/hooks/down"  # the discard port: nothing listens there
    with (
        Receiver(address) as good,
        Receiver(address, "hang") as hanging,
        Receiver(address, "error") as failing,
        cluster.load() as load,
    ):
        config = notify_config(cluster, tmp_path, [good.url, down, hanging.url, failing.url])

        # When v1 is deployed
        deploy = run_cli("deploy", "--war", wars["v1"], "--config", config)
        exited = time.time()

    # Then it went through, losing nothing
    assert deploy.returncode == 0, deploy.stdout[-2000:] + deploy.stderr
    assert load.report.failed == 0, load.report.line()
    history = History(cluster.state_dir, writable=False)
    try:
        record = history.list(1)[0]
    finally:
        history.close()
    # ...the working receiver got every event, in order, each signed and with a text to show
    events = good.events()
    assert [(e["event"], e.get("node")) for e in events] == [
        ("deploy_started", None),
        ("node_switched", "node1"),
        ("node_switched", "node2"),
        ("deploy_finished", None),
    ]
    for received in good.received:
        assert notify.verify(SECRET, received.body, received.headers.get(notify.SIGNATURE_HEADER)), received.headers
        assert received.json["schema"] == 1 and received.json["deploy"]["id"] == record.id
    assert all(e["text"].startswith(f"deploy #{record.id}") for e in events)
    finished = events[-1]
    assert finished["outcome"] == "deployed" and {n["node"]: n["outcome"] for n in finished["nodes"]} == {
        "node1": "done",
        "node2": "done",
    }
    assert finished["times"]["deploy_started"] <= finished["times"]["finished"]
    # ...each delivery is in the history: the bad receivers' failed (or were dropped at exit), the URL's token left out
    deliveries = record.deliveries
    assert {d["url"] for d in deliveries} >= {notify.shown_url(good.url), notify.shown_url(down)}
    assert all("T0KEN" not in d["url"] for d in deliveries)
    mine = [d for d in deliveries if d["url"] == notify.shown_url(good.url)]
    assert [d["outcome"] for d in mine] == ["delivered"] * 4
    # (the working receiver heard each event at once: the hanging one delayed nobody but itself)
    assert all(d["finished"] - d["queued"] < 1.5 for d in mine), mine
    by_url = {
        url: [d for d in deliveries if d["url"] == notify.shown_url(url)] for url in (down, hanging.url, failing.url)
    }
    assert any("refused" in (d["error"] or "") for d in by_url[down]), by_url[down]
    assert any("timed out" in (d["error"] or "") for d in by_url[hanging.url]), by_url[hanging.url]
    assert any(d["status"] == 500 for d in by_url[failing.url]), by_url[failing.url]
    assert all(d["outcome"] in ("failed", "dropped") for url in by_url for d in by_url[url])
    # ...and the command ended within one try's timeout of the deploy's end
    assert exited - record.times["finished"] < TIMEOUT + 3, (exited, record.times)


def test_notify_settings_that_cannot_work_are_refused_naming_the_fix(cluster, tmp_path):
    def refused(urls, events=None) -> str:
        result = run_cli("status", "--config", notify_config(cluster, tmp_path, urls, events))
        assert result.returncode == 2, result.stdout + result.stderr
        return result.stderr

    assert "not an http(s) URL" in refused(["ftp://chat.example.com/hook"])
    assert "'deploy_exploded'" in refused(
        ["http://127.0.0.1:9/"], ["deploy_started", "deploy_exploded"]
    ) and "choose from deploy_started" in refused(["http://127.0.0.1:9/"], ["deploy_exploded"])
    config = notify_config(cluster, tmp_path, ["http://127.0.0.1:9/"])
    os.chmod(tmp_path / "webhook.secret", 0o644)
    readable = run_cli("status", "--config", config)
    assert readable.returncode == 2 and f"chmod 600 {tmp_path / 'webhook.secret'}" in readable.stderr, readable.stderr
