from datetime import UTC, datetime, timedelta

from orchestrator.fleet.runner import Event
from orchestrator.rollout.progress import DeployProgress

T0 = datetime(2026, 1, 1, 12, 0, 0)


def ev(kind, host, task, at, play="Roll out the release"):
    return Event(kind=kind, created=T0 + timedelta(seconds=at), host=host, task=task, play=play, ignore_errors=False)


def test_phases_are_announced_once_and_timed():
    seen = []
    p = DeployProgress(on_phase=lambda node, phase: seen.append((node.name, phase)))
    for e in [
        ev("runner_on_start", "n1", "drain | Stop new requests", 0),
        ev("runner_on_ok", "n1", "drain | Stop new requests", 0.5),
        ev("runner_on_start", "n1", "stop | Stop Tomcat (catalina)", 0.6),
        ev("runner_on_ok", "n1", "stop | Stop Tomcat (catalina)", 1.7),
        ev("runner_on_start", "n1", "stop | Stop Tomcat (systemd)", 1.8),
        ev("runner_on_skipped", "n1", "stop | Stop Tomcat (systemd)", 1.8),
        ev("runner_on_start", "n1", "enable | Put back", 2.0),
        ev("runner_on_ok", "n1", "enable | Put back", 2.25),
    ]:
        p.feed(e)
    p.finish(failed_hosts=set())
    node = p.nodes["n1"]
    assert seen == [("n1", "drain"), ("n1", "stop"), ("n1", "enable")]
    assert node.seconds("drain") == 0.5
    assert node.seconds("stop") == 1.1  # the skipped systemd task does not stretch it
    assert node.total == 2.25
    assert node.phase == "done"


def test_rescue_steps_are_shown_as_rescue_and_not_timed_as_the_release():
    seen = []
    p = DeployProgress(on_phase=lambda node, phase: seen.append(phase))
    for e in [
        ev("runner_on_start", "n1", "verify | Wait", 0),
        ev("runner_on_failed", "n1", "verify | Wait", 20),
        ev("runner_on_start", "n1", "rescue | Note what failed", 20),
        ev("runner_on_ok", "n1", "rescue | Note what failed", 20.1),
        ev("runner_on_start", "n1", "stop | Stop Tomcat (catalina)", 21),
        ev("runner_on_ok", "n1", "stop | Stop Tomcat (catalina)", 22),
    ]:
        p.feed(e)
    p.finish(failed_hosts={"n1"})
    assert seen == ["verify", "rescue", "rescue/stop"]
    assert p.nodes["n1"].seconds("stop") is None
    assert p.nodes["n1"].phase == "failed" and p.nodes["n1"].rescued


def test_a_node_the_roll_never_reached_is_untouched():
    p = DeployProgress()
    p.feed(ev("runner_on_start", "n2", "ship | Copy the WAR", 0, play="Ship the release to every node"))
    p.feed(ev("runner_on_ok", "n2", "ship | Copy the WAR", 1, play="Ship the release to every node"))
    p.finish(failed_hosts={"n1"})
    assert p.nodes["n2"].phase == "untouched"


def test_events_without_a_phase_are_ignored():
    p = DeployProgress()
    p.feed(ev("runner_on_start", "n1", "Gathering Facts", 0))
    p.feed(ev("runner_on_ok", "", "drain | x", 0))
    assert p.nodes == {}


def test_a_restart_in_one_task_shows_and_times_its_stop_install_and_start():
    # Given one task that stopped Tomcat, installed the release and started it, saying when each
    # step began and ended (webapp_install with restart), in events stamped in UTC as runner's are
    t0 = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    at = t0.timestamp()
    seen = []
    p = DeployProgress(on_phase=lambda node, phase: seen.append(phase))
    task = "stop | Stop Tomcat, install the release, start Tomcat (catalina, one call)"
    steps = {"stop": [at + 0.1, at + 0.6], "install": [at + 0.6, at + 0.7], "start": [at + 0.7, at + 1.0]}

    # When its events arrive
    p.feed(Event(kind="runner_on_start", created=t0, host="n1", task=task, play="Roll", ignore_errors=False))
    p.feed(
        Event(
            kind="runner_on_ok",
            created=t0 + timedelta(seconds=1.1),
            host="n1",
            task=task,
            play="Roll",
            ignore_errors=False,
            result={"changed": True, "steps": steps},
        )
    )

    # Then the node went through the three phases, each timed by the module
    assert seen == ["stop", "install", "start"]
    node = p.nodes["n1"]
    assert round(node.seconds("stop"), 3) == 0.5
    assert round(node.seconds("install"), 3) == 0.1
    assert round(node.seconds("start"), 3) == 0.3
