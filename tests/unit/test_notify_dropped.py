"""What a Notifier could not send is recorded as dropped, with why: a full queue, and what was
still queued or in flight when the orchestrator exited. A receiver that never answers (a socket
that accepts and stays silent) holds the sender thread."""

from __future__ import annotations

import socket

from orchestrator import notify


def test_a_full_queue_and_an_exit_record_what_was_never_sent():
    # Given a receiver that accepts connections and never answers, and a notifier with a 1 s try
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(200)
    url = f"http://127.0.0.1:{silent.getsockname()[1]}/hooks/T0KEN"
    recorded = []
    notifier = notify.Notifier(notify.Settings(urls=(url,), timeout=1.0, retries=0), record=recorded.append)
    try:
        # When more events are sent than the queue holds, and the orchestrator exits at once
        for n in range(notify.QUEUE_SIZE + 5):
            notifier.send("deploy_started", {"id": n}, f"deploy #{n}")
        notifier.close(wait=0)
    finally:
        silent.close()

    # Then every event not delivered is recorded as dropped, saying why, the URL without its token
    dropped = [d for d in recorded if d.outcome == "dropped"]
    reasons = {d.error for d in dropped}
    assert f"the queue of {notify.QUEUE_SIZE} undelivered events was full" in reasons
    assert "the orchestrator exited before it could be sent" in reasons
    assert all(d.url == notify.shown_url(url) and "T0KEN" not in d.url for d in dropped)
    assert all(d.event == "deploy_started" and d.attempts == 0 and d.finished >= d.queued for d in dropped)
    assert {d.deploy_id for d in recorded} <= set(range(notify.QUEUE_SIZE + 5))
    assert len(recorded) >= notify.QUEUE_SIZE + 4  # at most the one in flight may be told otherwise
