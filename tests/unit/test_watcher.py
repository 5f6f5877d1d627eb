"""The watcher's own logic on a real spool with real inotify: claiming, coalescing, rejecting,
surviving a dead observer or a recreated directory. The pipeline is replaced by a recorder:
these tests claim nothing about building or deploying."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time

import pytest

from bench.load import wait_until
from orchestrator import config as config_lib
from orchestrator import flags, pipeline
from orchestrator.history import History
from orchestrator.watcher import Watcher, ensure_spool


@pytest.fixture(autouse=True)
def no_thread_leaks():
    before = set(threading.enumerate())
    yield
    wait_until(lambda: set(threading.enumerate()) <= before, timeout=10, what="watcher threads to end")


@pytest.fixture
def setup(tmp_path, monkeypatch):
    subprocess.run(["hg", "init", str(tmp_path / "repo")], check=True)
    (tmp_path / "orchestrator.toml").write_text(f"""
[source]
repository = "{tmp_path / 'repo'}"
branch = "default"
[spool]
directory = "{tmp_path / 'spool'}"
[build]
command = "true"
artifact = "*.war"
[test]
command = "true"
[deploy]
inventory = "{tmp_path}"
state_directory = "{tmp_path / 'state'}"
rescan_seconds = 0.5
""")
    config = config_lib.load(tmp_path / "orchestrator.toml")
    ensure_spool(config.spool)
    calls = []
    monkeypatch.setattr(pipeline, "run", lambda config, trigger, **kw: calls.append(trigger) or len(calls))
    history = History(config.state_dir)
    watchers = []

    def start() -> Watcher:
        w = Watcher(config, history=history, say=lambda m: None)
        t = threading.Thread(target=w.run)
        t.start()
        watchers.append((w, t))
        wait_until(lambda: w.observer is not None and w.observer.is_alive(), timeout=10, what="observer up")
        return w

    yield config, calls, start
    for w, t in watchers:
        w.stop()
        t.join(timeout=10)
    history.close()


def push(config, n: int, branch: str = "default"):
    return flags.write(str(config.spool), flags.make("hg", "r", branch, f"{n:012x}"))


def test_flags_waiting_at_start_up_make_one_pipeline(setup):
    config, calls, start = setup
    for n in range(5):
        push(config, n)
    start()
    wait_until(lambda: calls, timeout=10, what="a pipeline")
    assert len(calls) == 1 and calls[0].flags == 5 and calls[0].source == "hg"
    assert len(list((config.spool / "done").glob("*.json"))) == 5
    assert not list((config.spool / "incoming").glob("*.json"))


def test_a_flag_is_picked_up_at_once(setup):
    config, calls, start = setup
    start()
    began = time.monotonic()
    push(config, 1)
    wait_until(lambda: calls, timeout=10, what="a pipeline")
    assert time.monotonic() - began < config.rescan_seconds  # inotify, not the rescan


def test_malformed_flag_rejected_with_reason_and_others_go_on(setup):
    config, calls, start = setup
    (config.spool / "incoming" / "bad.json").write_text('{"schema": 9}')
    push(config, 2)
    start()
    wait_until(lambda: calls, timeout=10, what="a pipeline")
    assert "schema is 9" in (config.spool / "rejected" / "bad.json.reason").read_text()
    assert calls[0].flags == 1


def test_push_to_another_branch_deploys_nothing(setup):
    config, calls, start = setup
    path = push(config, 3, branch="feature")
    start()
    wait_until(lambda: (config.spool / "done" / path.rsplit("/", 1)[1]).exists(), timeout=10, what="flag handled")
    assert calls == []


def test_a_dead_observer_is_restarted(setup):
    config, calls, start = setup
    w = start()
    w.observer.stop()
    w.observer.join()
    push(config, 4)
    wait_until(lambda: calls, timeout=10, what="a pipeline after the observer died")
    wait_until(lambda: w.observer is not None and w.observer.is_alive(), timeout=10, what="observer restarted")


def test_incoming_deleted_and_recreated(setup):
    config, calls, start = setup
    start()
    shutil.rmtree(config.spool / "incoming")
    (config.spool / "incoming").mkdir()
    push(config, 5)
    wait_until(lambda: calls, timeout=10, what="a pipeline after incoming/ was recreated")
