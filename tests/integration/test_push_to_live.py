"""Push to live: real hg and git pushes, the real watcher process, real HAProxy and Tomcat."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

from orchestrator import flags
from orchestrator.fleet.runner import orphaned_runs
from orchestrator.push import hooks
from orchestrator.push.watcher import ensure_spool
from orchestrator.records.history import History
from tests.conftest import ROOT, run_cli
from tests.integration.conftest import baking_inventory
from tests.support.cli import orchestrator_command
from tests.support.load import wait_until
from tests.support.receiver import Receiver, notify_config

DEPLOY_TIMEOUT = 180


class WatcherProcess:
    """`orchestrator watch` as a child process, stopped by PID at the end."""

    def __init__(self, config: Path, log: Path):
        self.config, self.log = config, log
        self.proc: subprocess.Popen | None = None

    def start(self) -> WatcherProcess:
        self.out = open(self.log, "ab")
        self.proc = subprocess.Popen(
            orchestrator_command("watch", "--config", self.config),
            stdout=self.out,
            stderr=subprocess.STDOUT,
        )
        return self

    def stop(self, sig=signal.SIGTERM, timeout: float = DEPLOY_TIMEOUT) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait(timeout=10)
        self.out.close()
        return rc

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@pytest.fixture
def watcher(cluster, tmp_path):
    started = []

    def start(config: Path | None = None) -> WatcherProcess:
        w = WatcherProcess(config or cluster.box.config, tmp_path / f"watch-{len(started)}.log").start()
        started.append(w)
        return w

    yield start
    for w in started:
        if w.proc.poll() is None:
            w.stop()
        print(f"\n--- watcher log ---\n{w.output()[-3000:]}")


def history(cluster) -> History:
    return History(cluster.state_dir)


def rows(cluster):
    h = history(cluster)
    try:
        return h.list(1000)
    finally:
        h.close()


def last_id(cluster) -> int:
    r = rows(cluster)
    return r[0].id if r else 0


def settled_after(cluster, after: int, count: int = 1, timeout: float = DEPLOY_TIMEOUT):
    """Wait until ``count`` deploys newer than ``after`` have finished; return them, oldest first."""

    def done():
        new = [r for r in rows(cluster) if r.id > after]
        return (
            sorted(new, key=lambda r: r.id) if len(new) >= count and all(r.outcome != "running" for r in new) else None
        )

    return wait_until(done, timeout=timeout, interval=0.5, what=f"{count} deploy(s) after #{after} to finish")


def hg(clone: Path, *args: str) -> str:
    return subprocess.run(["hg", *args], cwd=clone, check=True, capture_output=True, text=True).stdout


def commit_and_push(cluster, version: str, *, test_fails: bool = False) -> str:
    clone = cluster.box.clone
    (clone / "VERSION").write_text(version + "\n")
    test_sh = clone / "test.sh"
    text = test_sh.read_text()
    marker = 'fail "the release is marked as failing its tests"\n'
    text = text.replace(marker, "")
    if test_fails:
        text = text.replace('echo "ok:', marker + 'echo "ok:')
    test_sh.write_text(text)
    hg(clone, "commit", "-q", "-m", f"version {version}")
    hg(clone, "push", "-q")
    return hg(clone, "log", "-r", ".", "-T", "{node}")


def settle_initial(cluster, watcher, config: Path | None = None):
    """Given the watcher running (signal handlers in place) and every earlier flag handled."""
    w = watcher(config) if config is not None else watcher()
    wait_until(lambda: "watching " in w.output(), timeout=60, what="the watcher started")
    every_flag_handled(cluster)
    return w


def every_flag_handled(cluster) -> None:
    """A flag is in incoming until claimed, in claimed until its deploy is recorded: wait until both
    are empty and no deploy runs (incoming alone is empty for a moment before the claimed batch's
    deploy starts)."""
    spool = cluster.box.spool
    wait_until(
        lambda: (
            not list((spool / "incoming").glob("*.json"))
            and not list((spool / "claimed").glob("*.json"))
            and all(r.outcome != "running" for r in rows(cluster))
        ),
        timeout=DEPLOY_TIMEOUT,
        interval=0.5,
        what="every flag handled",
    )


def test_failing_tests_deploy_nothing(cluster, watcher, tmp_path):
    settle_initial(cluster, watcher)
    served = cluster.served_through_haproxy()
    before = last_id(cluster)

    revision = commit_and_push(cluster, "22", test_fails=True)
    # (a CI job handing the same revision over waits for the deploy that contains it, and keeps it)
    kept = tmp_path / "deploy.json"
    handed_over = run_cli(
        "trigger", "--rev", revision, "--wait", "--timeout", "120", "--record", kept, "--config", cluster.box.config
    )

    row = settled_after(cluster, before)[0]
    assert row.outcome == "rejected" and row.stage == "test", row
    assert handed_over.returncode == 1, handed_over.stdout + handed_over.stderr
    assert {k: v for k, v in json.loads(kept.read_text()).items() if k in ("id", "outcome", "stage")} == {
        "id": row.id,
        "outcome": "rejected",
        "stage": "test",
    }
    assert f"of {revision[:12]} rejected at test: test failed" in handed_over.stderr
    assert "the release is marked as failing its tests" in row.output_tail
    assert row.times["deploy_started"] is None
    assert cluster.served_through_haproxy() == served
    result = run_cli("history", "--config", cluster.box.config)
    assert "rejected" in result.stdout and "test" in result.stdout
    # ...and the hand-off's flag, written while that deploy ran, is answered by it: not built again
    assert_asked_once(cluster, before, revision)


def assert_asked_once(cluster, before: int, revision: str) -> None:
    """Every flag for ``revision`` (the push's and the CI hand-off's) was answered by one attempt."""
    every_flag_handled(cluster)
    attempt, *others = sorted((r for r in rows(cluster) if r.id > before), key=lambda r: r.id)
    assert attempt.revision == revision and attempt.outcome in ("rejected", "failed"), attempt
    for other in others:  # none if both flags made one batch
        assert other.outcome == "unchanged" and other.times["built"] is None, other
        assert f"was asked for while deploy #{attempt.id} rolled it out ({attempt.outcome})" in other.message


def ci_step() -> str:
    """The deploy step of docs/ci.md, checked to be the one its Jenkinsfile and workflow run."""
    text = (ROOT / "docs" / "ci.md").read_text()
    step = text.split("## The step", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    jenkins = text.split("```groovy", 1)[1].split("sh '''", 1)[1].split("'''", 1)[0]
    actions = yaml.safe_load(text.split("```yaml", 1)[1].split("```", 1)[0])
    run = next(s["run"] for s in actions["jobs"]["deploy"]["steps"] if s.get("name") == "Deploy")
    assert textwrap.dedent(jenkins).strip() == step.strip() == run.strip()
    return step


def test_hg_push_goes_live_with_every_stage_recorded_and_the_ci_step_of_docs_ci_md_follows_it(
    cluster, watcher, tmp_path
):
    # Given the watcher, and the deploy step of docs/ci.md run as a CI job runs it
    w = settle_initial(cluster, watcher)
    step = ci_step()
    before = last_id(cluster)
    revision = commit_and_push(cluster, "35")
    env = dict(
        os.environ,
        REV=revision,
        ORCHESTRATOR_CONFIG=str(cluster.box.config),
        PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}",
    )

    def ci_job(**extra) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["sh", "-c", step],
            cwd=tmp_path,
            env=dict(env, **extra),
            capture_output=True,
            text=True,
            timeout=DEPLOY_TIMEOUT,
        )

    # When the job's timeout is shorter than the deploy, then it exits 4 and the deploy goes on
    hurried = ci_job(DEPLOY_TIMEOUT="1")
    assert hurried.returncode == 4, hurried.stdout + hurried.stderr
    assert "no outcome in 1s: deploy #" in hurried.stderr
    # When it is run again with room, then it follows the deploy to its end and exits 0
    done = ci_job()
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"revision {revision[:12]} " in done.stdout and "(deploy #" in done.stdout
    deploy, fleet = (
        json.loads((tmp_path / "deploy.json").read_text()),
        json.loads((tmp_path / "fleet.json").read_text()),
    )
    assert deploy["outcome"] in ("deployed", "unchanged") and deploy["revision"] == revision
    assert f"(deploy #{deploy['id']})" in done.stdout  # the very deploy it followed, not the newest one
    assert fleet["release"].startswith("35-") and fleet["mixed"] is None and fleet["deploy_in_progress"] is None
    assert {n["name"]: n["haproxy"]["lb1"][:2] for n in fleet["nodes"]} == {"node1": "UP", "node2": "UP"}
    assert cluster.served_through_haproxy() == "Hello from version 35"
    # ...the push went live through the watcher, every stage recorded in order
    row = settled_after(cluster, before)[0]
    assert row.outcome == "deployed" and row.trigger in ("hg", "hg+manual") and row.revision == revision, row
    for name in cluster.nodes:
        assert cluster.node_health(name)["version"] == "35"
    times = [row.times[s] for s in ("pushed", "claimed", "built", "tested", "deploy_started", "finished")]
    assert all(times) and times == sorted(times), row.times
    assert {n["node"]: n["outcome"] for n in row.nodes} == {"node1": "done", "node2": "done"}
    assert w.proc.poll() is None
    # And a revision the watcher does not deploy (not on its branch) is refused before any flag is written
    unknown = run_cli("trigger", "--rev", "deadbeef1234", "--wait", "--config", cluster.box.config)
    assert unknown.returncode == 2 and "does not exist" in unknown.stderr, unknown.stderr


def test_a_pushed_build_the_judge_rejects_fails_its_hand_off_and_is_told_with_the_judges_numbers(
    cluster, watcher, tmp_path
):
    # Given a watcher whose deploys bake, and tell a webhook receiver
    address = cluster.box.lb_address.rsplit(".", 1)[0] + ".201"
    with Receiver(address) as hook:
        config = notify_config(cluster, tmp_path, [hook.url], inventory=baking_inventory(cluster, tmp_path))
        settle_initial(cluster, watcher, Path(config))
        served = cluster.served_through_haproxy()
        node2_pid = cluster.tomcat_pid("node2")
        # When a build that answers 500 to every page (its health check is fine) is pushed, at about
        # 10 requests/s (an ordinary business application's traffic)
        build = cluster.box.clone / "build.sh"
        build.write_text(build.read_text().replace(" error_every=0 ", " error_every=1 "))
        with cluster.light_load() as load:
            revision = commit_and_push(cluster, "36")
            handed_over = run_cli("trigger", "--rev", revision, "--wait", "--timeout", "300", "--config", config)
        hg(cluster.box.clone, "revert", "-q", "-r", ".^", "build.sh")
        hg(cluster.box.clone, "commit", "-q", "-m", "the sample's build again")  # pushed with the next test's

        def about_it():
            mine = [e for e in hook.events() if e["deploy"]["revision"] == revision]
            # the push's deploy (a flag of the hand-off's, if not claimed with the push's, makes an
            # unchanged one after it)
            mine = [e for e in mine if e["deploy"]["id"] == mine[0]["deploy"]["id"]]
            return mine if mine and mine[-1]["event"] == "deploy_finished" else None

        told = wait_until(about_it, timeout=30, what="the deploy_finished notification")

    # Then the CI hand-off exits 1 with the judge's reason, and the old release serves on
    assert handed_over.returncode == 1, handed_over.stdout + handed_over.stderr
    assert f"of {revision[:12]} failed at deploy" in handed_over.stderr and "5xx share" in handed_over.stderr
    assert "judged node1: " in handed_over.stdout
    assert cluster.served_through_haproxy() == served
    # ...the canary rejected it on a handful of requests, and node2 never heard of it
    assert cluster.tomcat_pid("node2") == node2_pid
    cluster.assert_all_in_rotation()
    assert load.report.statuses.get("500", 0) < 40, load.report.line()
    # ...and the receiver heard each step, the rejection with the judge's numbers
    assert [e["event"] for e in told] == ["deploy_started", "node_switched", "release_rejected", "deploy_finished"]
    rejected, finished = told[2], told[3]
    assert "5xx share" in rejected["reason"] and rejected["release"].startswith("36-")
    errors = next(m for m in rejected["verdicts"]["node1"]["metrics"] if m["name"] == "errors")
    assert errors["verdict"] == "fail" and errors["new"]["errors_5xx"] > 0 and errors["p_value"] < errors["alpha"]
    assert finished["outcome"] == "failed" and finished["deploy"]["revision"] == revision
    assert all(e["deploy"]["trigger"] == finished["deploy"]["trigger"] for e in told)
    # ...and the rejected build is not rolled out a second time for the hand-off's flag
    assert_asked_once(cluster, told[0]["deploy"]["id"] - 1, revision)


def test_five_pushes_during_a_deploy_make_one_follow_up(cluster, watcher):
    settle_initial(cluster, watcher)
    before = last_id(cluster)

    commit_and_push(cluster, "23")
    wait_until(
        lambda: any(r.id > before and r.times["deploy_started"] for r in rows(cluster)),
        timeout=DEPLOY_TIMEOUT,
        what="the first deploy rolling",
    )
    for v in ("24", "25", "26", "27"):
        commit_and_push(cluster, v)
    last = commit_and_push(cluster, "28")

    first, follow_up = settled_after(cluster, before, count=2)
    assert len([r for r in rows(cluster) if r.id > before]) == 2
    assert follow_up.revision == last and follow_up.flags == 5 and follow_up.outcome == "deployed"
    assert cluster.served_through_haproxy() == "Hello from version 28"

    # And more flags for the revision that is live (a hook run twice, a late pusher) roll nothing
    jvms = {n: cluster.tomcat_pid(n) for n in cluster.nodes}
    for _ in range(3):
        flags.write(str(cluster.box.spool), flags.make("hg", str(cluster.box.central), "default", last))
    settled_after(cluster, follow_up.id)
    wait_until(lambda: not list((cluster.box.spool / "incoming").glob("*.json")), timeout=30, what="the flags claimed")
    again = settled_after(cluster, follow_up.id)  # one batch, or two if the watcher woke between flags
    assert all(r.outcome == "unchanged" and r.revision == last for r in again), again
    assert f"revision {last[:12]} is already live (deploy #{follow_up.id}" in again[0].message
    assert {n: cluster.tomcat_pid(n) for n in cluster.nodes} == jvms


def test_malformed_flag_is_rejected_and_the_next_push_deploys(cluster, watcher):
    settle_initial(cluster, watcher)
    spool = cluster.box.spool
    bad = spool / "incoming" / ".tmp-bad"
    bad.write_text('{"schema": 1, "source": "hg", "revision": "$(reboot)"}')
    os.replace(bad, spool / "incoming" / "0000-bad.json")
    wait_until(lambda: (spool / "rejected" / "0000-bad.json.reason").exists(), timeout=30, what="flag rejected")
    assert "field" in (spool / "rejected" / "0000-bad.json.reason").read_text()
    before = last_id(cluster)

    commit_and_push(cluster, "29")

    [row] = settled_after(cluster, before)
    assert row.outcome == "deployed"
    assert cluster.served_through_haproxy() == "Hello from version 29"


def test_git_push_with_the_post_receive_hook_deploys(cluster, watcher, tmp_path):
    # Given a bare git repository with the hook, holding the sample app, and a watcher for it
    central, clone, spool = tmp_path / "app.git", tmp_path / "clone", tmp_path / "spool"
    ensure_spool(spool)
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(central)], check=True)
    hooks.install_git(central, spool)
    subprocess.run(["git", "clone", "-q", str(central), str(clone)], check=True, capture_output=True)
    for item in ("src", "web", "build.sh", "test.sh"):
        source = cluster.box.clone / item
        (shutil.copytree if source.is_dir() else shutil.copy2)(source, clone / item)
    (clone / "VERSION").write_text("31\n")
    git = ["git", "-C", str(clone), "-c", "user.name=t", "-c", "user.email=t@localhost"]
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "version 31"], check=True)
    config = tmp_path / "orchestrator.toml"
    config.write_text(
        cluster.box.config.read_text()
        .replace(f'repository = "{cluster.box.central}"', f'repository = "{central}"')
        .replace('branch = "default"', 'branch = "main"')
        .replace(f'directory = "{cluster.box.spool}"', f'directory = "{spool}"')
    )
    watcher(config)
    before = last_id(cluster)

    # When the commit is pushed
    push = subprocess.run([*git, "push", "-q", "origin", "main"], capture_output=True, text=True, check=True)

    # Then the hook queued it and the watcher deployed it
    assert "deploy queued" in push.stderr
    [row] = settled_after(cluster, before)
    assert row.outcome == "deployed" and row.trigger == "git", row
    assert cluster.served_through_haproxy() == "Hello from version 31"


def test_manual_deploy_waits_for_the_watcher_and_no_wait_refuses(cluster, watcher, wars):
    settle_initial(cluster, watcher)
    before = last_id(cluster)
    commit_and_push(cluster, "32")
    wait_until(
        lambda: any(r.id > before and r.times["deploy_started"] and r.outcome == "running" for r in rows(cluster)),
        timeout=DEPLOY_TIMEOUT,
        what="the watcher's deploy rolling",
    )

    refused = run_cli("deploy", "--war", wars["v1"], "--config", cluster.box.config, "--no-wait")
    waited = run_cli("deploy", "--war", wars["v1"], "--config", cluster.box.config)

    assert refused.returncode == 3, refused.stderr
    assert "another deploy is running: deploy #" in refused.stderr
    assert waited.returncode == 0, waited.stderr
    assert "waiting for the deploy lock, held by deploy #" in waited.stdout
    watcher_row = next(r for r in rows(cluster) if r.id > before and r.trigger == "hg")
    manual_row = next(r for r in rows(cluster) if r.id > before and r.trigger == "manual" and r.outcome == "deployed")
    assert manual_row.times["deploy_started"] >= watcher_row.times["finished"]
    assert cluster.served_through_haproxy() == "Hello from version 1"


def test_watcher_killed_mid_deploy_recovers(cluster, watcher):
    # Given the watcher in the middle of a deploy: node1 out of rotation
    w = settle_initial(cluster, watcher)
    revision = commit_and_push(cluster, "33")
    wait_until(
        lambda: cluster.haproxy_row("node1")["status"].startswith("MAINT"),
        timeout=DEPLOY_TIMEOUT,
        interval=0.02,
        what="node1 taken out of rotation",
    )

    # When the watcher is killed -9 (its ansible-playbook lives on: runner ignores SIGHUP)
    w.stop(signal.SIGKILL)
    interrupted = rows(cluster)[0]
    assert interrupted.outcome == "running"  # nobody could record anything
    orphans = orphaned_runs(cluster.state_dir)
    assert orphans, "expected the killed watcher's ansible-playbook to outlive it"
    # Held where it is: a run left behind ends by itself when it next flushes its output to the
    # terminal its dead parent held (EIO), at a moment that depends on how full its buffer was.
    # Frozen, it is surely still there when the watcher comes back, and must be stopped by it
    # (SIGTERM does not end a frozen group: the recovery's SIGKILL after its wait does).
    for pid in orphans:
        os.killpg(pid, signal.SIGSTOP)
    # and started again
    restarted = watcher()

    # Then the interrupted deploy is recorded as such, and the revision is deployed again
    def recovered():
        new = [r for r in rows(cluster) if r.id > interrupted.id]
        return new if new and new[0].outcome != "running" else None

    [redo] = wait_until(recovered, timeout=DEPLOY_TIMEOUT, interval=0.5, what="the recovery deploy")
    assert history(cluster).get(interrupted.id).outcome == "interrupted"
    assert redo.trigger == "recovery" and redo.revision == revision and redo.outcome == "deployed", redo
    # every node is in rotation, on the pushed release
    cluster.assert_all_in_rotation()
    for name in cluster.nodes:
        assert cluster.node_health(name)["version"] == "33"
    assert not list((cluster.box.spool / "claimed").glob("*.json"))
    # the left-behind run was stopped before the recovery touched a node
    assert not any(runner_alive(pid) for pid in orphans)
    assert f"stopped 1 deploy run(s) left behind (pids {orphans[0]})" in restarted.output()


def runner_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"


def test_sigterm_during_a_deploy_finishes_it_then_exits_0(cluster, watcher):
    w = settle_initial(cluster, watcher)
    before = last_id(cluster)
    commit_and_push(cluster, "34")
    wait_until(
        lambda: cluster.haproxy_row("node1")["status"].startswith("MAINT"),
        timeout=DEPLOY_TIMEOUT,
        interval=0.02,
        what="node1 taken out of rotation",
    )

    rc = w.stop(signal.SIGTERM)

    assert rc == 0, w.output()[-2000:]
    [row] = [r for r in rows(cluster) if r.id > before]
    assert row.outcome == "deployed"
    cluster.assert_all_in_rotation()
    for name in cluster.nodes:
        assert cluster.node_health(name)["version"] == "34"


def test_ctrl_c_when_idle_exits_130(cluster, watcher):
    w = settle_initial(cluster, watcher)
    assert w.stop(signal.SIGINT) == 130
    assert "SIGINT: stopping" in w.output()
