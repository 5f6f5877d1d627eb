"""The gate between batches: what it waits for, from what operators asked (plugins/module_utils/gate.py)."""

import hashlib
import hmac

from ansible_collections.orchestrator.fleet.plugins.module_utils import gate
from orchestrator import notify


def test_an_abort_beats_a_pause_and_a_pause_beats_the_canary_gate():
    paused, aborted = {"by": "ops@ctl", "at": 1.0}, {"by": "lead@ctl", "at": 2.0}
    assert gate.waiting({}, canary_done=True, pause_after="") is None
    assert gate.waiting({"paused": paused}, canary_done=False, pause_after="") == "paused"
    assert gate.waiting({"paused": paused, "aborted": aborted}, canary_done=True, pause_after="canary") == "aborted"
    assert gate.waiting({"paused": paused}, canary_done=True, pause_after="canary") == "paused"


def test_the_canary_gate_holds_every_batch_after_the_first_until_promoted():
    assert gate.waiting({}, canary_done=False, pause_after="canary") is None  # the canary itself rolls
    assert gate.waiting({}, canary_done=True, pause_after="canary") == "promotion"
    assert gate.waiting({"promoted": {"by": "ops"}}, canary_done=True, pause_after="canary") is None


def test_requests_are_kept_with_who_asked_and_resume_takes_the_pause_back(tmp_path):
    control = str(tmp_path / gate.CONTROL)
    gate.write(control, {"deploy": "d1"})
    gate.request(control, "paused")
    assert gate.read(control)["paused"]["by"] == gate.who()
    gate.request(control, "resumed")
    kept = gate.read(control)
    assert "paused" not in kept and kept["resumed"]["by"] == gate.who() and kept["deploy"] == "d1"
    assert oct((tmp_path / gate.CONTROL).stat().st_mode & 0o777) == "0o664"  # another operator may write it


def test_a_webhook_url_is_recorded_without_the_token_in_its_path_or_query():
    assert notify.shown_url("https://chat.example.com/hooks/T0KEN") == "https://chat.example.com/…"
    assert notify.shown_url("http://127.0.0.1:8080/?key=T0KEN") == "http://127.0.0.1:8080/…"
    assert notify.shown_url("http://127.0.0.1:8080/") == "http://127.0.0.1:8080/"


def test_a_signature_holds_for_the_exact_body_only():
    body = b'{"event": "deploy_finished"}'
    header = "sha256=" + hmac.new(b"k", body, hashlib.sha256).hexdigest()
    assert notify.verify(b"k", body, header)
    assert not notify.verify(b"k", body + b" ", header) and not notify.verify(b"other", body, header)
    assert not notify.verify(b"k", body, None)
