from orchestrator.fleet.runner import Event


def event(res, kind="runner_on_failed", task="drain | Stop new requests"):
    return Event.from_runner(
        {
            "event": kind,
            "created": "2026-01-01T12:00:00.000000",
            "event_data": {"host": "node1", "task": task, "play": "p", "res": res},
        }
    )


def test_phase_is_the_task_name_prefix():
    assert event({}).phase == "drain"
    assert event({}, task="Gathering Facts").phase == ""


def test_loop_failure_gives_the_failed_items_message():
    e = event(
        {"msg": "One or more items failed", "results": [{"failed": False}, {"failed": True, "msg": "socket gone"}]}
    )
    assert e.message == "socket gone"


def test_ignored_failures_do_not_count():
    e = Event.from_runner({"event": "runner_on_failed", "event_data": {"ignore_errors": True, "res": {}}})
    assert not e.is_failure
    assert event({}, kind="runner_on_unreachable").is_failure


def test_an_observer_that_raises_never_cuts_a_run_short(tmp_path, capsys):
    # Given a playbook of three tasks, and an observer of its events with a bug
    import sys

    from orchestrator.fleet.runner import run_playbook

    (tmp_path / "hosts").write_text(f"localhost ansible_connection=local ansible_python_interpreter={sys.executable}\n")
    (tmp_path / "play.yml").write_text(
        "- hosts: localhost\n  gather_facts: false\n  tasks:\n"
        + "".join(
            f"    - name: step | {n}\n      ansible.builtin.command: touch {tmp_path / n}\n"
            for n in ("one", "two", "three")
        )
    )
    seen = []

    def buggy(event):
        seen.append(event.kind)
        raise KeyError("a bug in what reads the events")

    # When it runs
    result = run_playbook(tmp_path / "play.yml", inventory=tmp_path / "hosts", run_dir=tmp_path / "run", on_event=buggy)
    # Then every task ran, the observer kept hearing events, and the bug was said once
    assert result.ok and all((tmp_path / n).exists() for n in ("one", "two", "three"))
    assert seen.count("runner_on_ok") == 3
    assert capsys.readouterr().err.count("reading the deploy's events failed") == 1
