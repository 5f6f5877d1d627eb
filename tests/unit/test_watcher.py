"""The watcher's own logic on a real spool with real inotify: claiming, coalescing, rejecting,
surviving a dead observer or a recreated directory, noticing inventory edits. The pipeline and
apply are replaced by recorders: these tests claim nothing about building, deploying or what
apply does to a fleet (tests/integration/test_fleet.py does)."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time

import pytest

from orchestrator import config as config_lib
from orchestrator import flags, pipeline
from orchestrator.errors import InputError
from orchestrator.fleet import roster
from orchestrator.fleet.inventory import Fleet, fingerprint
from orchestrator.push.watcher import INVENTORY_SETTLE, Watcher, ensure_spool
from orchestrator.records.history import History
from orchestrator.rollout import apply as apply_lib
from tests.support.load import wait_until


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
repository = "{tmp_path / "repo"}"
branch = "default"
[spool]
directory = "{tmp_path / "spool"}"
[build]
command = "true"
artifact = "*.war"
[test]
command = "true"
[deploy]
inventory = "{tmp_path / "inventory"}"
state_directory = "{tmp_path / "state"}"
rescan_seconds = 0.5
""")
    (tmp_path / "inventory" / "group_vars").mkdir(parents=True)
    (tmp_path / "inventory" / "hosts.yml").write_text("appservers:\n  hosts:\n    node1:\n")
    config = config_lib.load(tmp_path / "orchestrator.toml")
    ensure_spool(config.spool)
    calls = []
    monkeypatch.setattr(pipeline, "run", lambda config, trigger, **kw: calls.append(trigger) or len(calls))
    monkeypatch.setattr(apply_lib, "apply", _recording_apply(calls))
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


def _recording_apply(calls):
    """Stands in for apply: records the inventory it was asked to apply (as its fingerprint)."""

    def apply(inventory, *, state_dir, history, **kw):
        calls.append(("apply", fingerprint(inventory)))
        if (inventory / "broken").exists():
            raise InputError("inventory: broken on purpose")
        fleet = Fleet(inventory, ("node1",), ("lb1",))
        return apply_lib.ApplyResult(apply_lib.FleetChanges(fleet, (), (), (), None), {}, {}, 0.0, None)

    return apply


def applies(calls):
    return [c for c in calls if isinstance(c, tuple) and c[0] == "apply"]


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


def test_an_inventory_edit_is_applied_once_it_settles(setup):
    config, calls, start = setup
    start()
    # Given an operator saving two files of the inventory, one of them twice
    hosts = config.inventory / "hosts.yml"
    hosts.write_text("appservers:\n  hosts:\n    node1:\n    node2:\n")
    (config.inventory / "group_vars" / "appservers.yml").write_text("tomcat_heap: 256m\n")
    hosts.write_text("appservers:\n  hosts:\n    node1:\n    node2:\n    node3:\n")
    # Then one apply runs, of the final version, only after the files were left alone
    wait_until(lambda: applies(calls), timeout=10, what="an apply")
    time.sleep(INVENTORY_SETTLE * 2)  # proving an absence takes a window: a second apply would come within it
    assert applies(calls) == [("apply", fingerprint(config.inventory))]


def test_touching_or_reading_the_inventory_applies_nothing(setup):
    config, calls, start = setup
    w = start()
    hosts = config.inventory / "hosts.yml"
    hosts.write_text(hosts.read_text())
    hosts.read_text()
    (config.inventory / ".hosts.yml.swp").write_text("editor state")
    wait_until(
        lambda: time.monotonic() - w.inventory_edited.at > INVENTORY_SETTLE, timeout=10, what="the edit to settle"
    )
    push(config, 1)  # a round of the worker after the settle period
    wait_until(lambda: calls, timeout=10, what="the pipeline")
    assert applies(calls) == []


def test_an_edit_made_while_no_watcher_ran_is_applied_at_start(setup):
    config, calls, start = setup
    # Given an inventory applied once, then edited while the watcher was down
    roster.roster_path(config.state_dir).parent.mkdir(parents=True)
    roster.roster_path(config.state_dir).with_name("applied-inventory.sha256").write_text(fingerprint(config.inventory))
    (config.inventory / "hosts.yml").write_text("appservers:\n  hosts:\n    node1:\n    node2:\n")
    start()
    wait_until(lambda: applies(calls), timeout=10, what="an apply at start-up")
    assert applies(calls) == [("apply", fingerprint(config.inventory))]


def test_a_failed_apply_waits_for_the_next_edit(setup):
    config, calls, start = setup
    said, history = [], History(config.state_dir)
    w = Watcher(config, history=history, say=said.append)
    # Given an edit whose apply fails
    (config.inventory / "broken").write_text("x")
    assert w.apply_inventory_if_changed()
    assert any("apply failed: inventory: broken on purpose" in m for m in said)
    # Then the same inventory is not tried again on the next rounds...
    assert not w.apply_inventory_if_changed()
    # ...but the next edit is
    (config.inventory / "broken").unlink()
    assert w.apply_inventory_if_changed()
    assert len(applies(calls)) == 2
    history.close()


def test_a_spool_deleted_and_made_again_without_claimed_is_repaired_and_deploys(setup):
    config, calls, start = setup
    said = []
    w = start()
    w.say = w.spool.say = said.append
    # Given an operator's cleanup that leaves only incoming/
    shutil.rmtree(config.spool)
    (config.spool / "incoming").mkdir(parents=True)
    # When a push arrives
    push(config, 6)
    # Then the layout is made again, the flag is claimed and deployed, and the repair is said
    wait_until(lambda: calls, timeout=10, what="a pipeline after the spool was made again")
    assert all((config.spool / d).is_dir() for d in ("claimed", "rejected", "done"))
    assert any("was missing claimed/, rejected/, done/" in m for m in said), said


def test_a_push_into_a_spool_without_incoming_makes_it(tmp_path):
    # Given a spool directory whose incoming/ was deleted
    spool = tmp_path / "spool"
    spool.mkdir(mode=0o2770)
    # When the hook writes a flag, Then it lands in a new incoming/ as open as the spool
    path = flags.write(str(spool), flags.make("hg", "r", "default", "a" * 12))
    assert path.startswith(str(spool / "incoming"))
    assert (spool / "incoming").stat().st_mode & 0o7777 == (spool.stat().st_mode & 0o7777)
    # And a spool that does not exist at all is an error, not a new directory
    with pytest.raises(FileNotFoundError):
        flags.write(str(tmp_path / "elsewhere"), flags.make("hg", "r", "default", "a" * 12))
    assert not (tmp_path / "elsewhere").exists()


def test_fifos_links_devices_and_directories_are_rejected_without_reading_them(setup, tmp_path):
    config, calls, start = setup
    incoming = config.spool / "incoming"
    os.mkfifo(incoming / "fifo.json")
    (incoming / "shadow.json").symlink_to("/etc/shadow")
    (incoming / "zero.json").symlink_to("/dev/zero")
    (incoming / "dir.json").mkdir()
    (incoming / "big.json").write_text("x" * (flags.MAX_FLAG_BYTES + 1))
    push(config, 7)
    start()
    # Then the one real flag deploys: nothing blocked the watcher
    wait_until(lambda: calls, timeout=10, what="the real flag's pipeline")
    assert calls[0].flags == 1
    rejected = config.spool / "rejected"
    reasons = {p.name[: -len(".reason")]: p.read_text() for p in rejected.glob("*.reason")}
    assert "a FIFO, not a regular file" in reasons["fifo.json"]
    assert "a symbolic link" in reasons["shadow.json"] and "a symbolic link" in reasons["zero.json"]
    assert "a directory" in reasons["dir.json"]
    assert "larger than" in reasons["big.json"]
    assert (rejected / "shadow.json").is_symlink() and (rejected / "dir.json").is_dir()
    assert not list(incoming.iterdir())


def test_a_flag_that_cannot_be_claimed_is_said_and_kept(setup):
    config, calls, start = setup
    said = []
    w = Watcher(config, history=History(config.state_dir), say=said.append)
    # Given a claimed/ that cannot be made (a file stands where the directory should be)
    shutil.rmtree(config.spool / "claimed")
    (config.spool / "claimed").write_text("not a directory")
    path = push(config, 8)
    # When the watcher claims, Then the flag stays in incoming/ and the reason is said
    assert w.claim() is None
    assert os.path.exists(path)
    assert any("claimed/ cannot be made" in m and "fix it by hand" in m for m in said), said
    assert any("could not claim" in m and "waits in incoming/" in m for m in said), said
    # And once it is fixed, the flag is claimed
    (config.spool / "claimed").unlink()
    assert w.claim() is not None
    w.history.close()
