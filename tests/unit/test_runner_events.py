from orchestrator.runner import Event


def event(res, kind="runner_on_failed", task="drain | Stop new requests"):
    return Event.from_runner({"event": kind, "created": "2026-01-01T12:00:00.000000",
                              "event_data": {"host": "node1", "task": task, "play": "p", "res": res}})


def test_phase_is_the_task_name_prefix():
    assert event({}).phase == "drain"
    assert event({}, task="Gathering Facts").phase == ""


def test_loop_failure_gives_the_failed_items_message():
    e = event({"msg": "One or more items failed", "results": [{"failed": False}, {"failed": True, "msg": "socket gone"}]})
    assert e.message == "socket gone"


def test_ignored_failures_do_not_count():
    e = Event.from_runner({"event": "runner_on_failed", "event_data": {"ignore_errors": True, "res": {}}})
    assert not e.is_failure
    assert event({}, kind="runner_on_unreachable").is_failure
