import time

from ansible_collections.orchestrator.fleet.plugins.module_utils import haproxy_admin
from ansible_collections.orchestrator.fleet.plugins.module_utils.haproxy_admin import (
    admin_state,
    in_flight,
    is_up,
    never_checked,
    parse_stat_csv,
    serving,
)

# Columns in an order of our own: they are read by name, never by position.
SHOW_STAT = """# svname,pxname,qcur,scur,status,weight
FRONTEND,web,,17,OPEN,
node1,app,0,3,UP,1
node2,app,2,0,DRAIN,1
node3,app,0,0,UP 1/3,1
node4,app,0,0,MAINT,1

"""


def rows():
    return {r["svname"]: r for r in parse_stat_csv(SHOW_STAT)}


def test_columns_by_header_name():
    r = rows()
    assert r["node1"]["pxname"] == "app" and r["node1"]["scur"] == "3"
    assert r["FRONTEND"]["scur"] == "17"


def test_in_flight_counts_sessions_and_queue():
    r = rows()
    assert in_flight(r["node1"]) == 3
    assert in_flight(r["node2"]) == 2
    assert in_flight(r["FRONTEND"]) == 17  # empty qcur counts as 0


def test_up_right_after_maint_reads_up_1_of_3():
    r = rows()
    assert is_up(r["node3"]) and is_up(r["node1"])
    assert not is_up(r["node2"]) and not is_up(r["node4"])


def test_admin_state():
    r = rows()
    assert [admin_state(r[n]) for n in ("node1", "node2", "node4")] == ["ready", "drain", "maint"]


def test_serving_means_up_with_a_passed_last_check():
    # as HAProxy 2.6 reported them: a fresh start, a failing server going down, one back from maint
    r = {
        row["svname"]: row
        for row in parse_stat_csv("""# pxname,svname,status,check_status
app,fresh,UP,INI
app,failing,UP 2/3,L7STS
app,back,UP 1/3,L7OK
app,checking,UP,* L7OK
app,maint,MAINT,
app,down,DOWN,L4CON
""")
    }
    assert [n for n in r if serving(r[n])] == ["back", "checking"]
    assert [n for n in r if never_checked(r[n])] == ["fresh"]


def test_a_request_line_from_the_ring_gives_server_status_and_response_time():
    line = (
        "127.0.0.1:33652 [27/Nov/2026:15:50:52.867] web app/node1 0/0/0/12/13 503 536 - - ---- "
        '1/1/0/0/0 0/0 "GET /a/b:c HTTP/1.1"'
    )
    request = haproxy_admin.parse_request(line)
    assert (request.backend, request.server, request.status, request.response_ms) == ("app", "node1", 503, 12)
    assert request.accepted == time.mktime((2026, 11, 27, 15, 50, 52, 0, 0, -1)) + 0.867


def test_a_request_no_server_answered_has_no_response_time_and_other_lines_are_skipped():
    no_server = '127.0.0.1:1 [27/Nov/2026:15:50:47.264] web app/<NOSRV> 0/-1/-1/-1/0 503 217 - - SC-- 1/1/0/0/0 0/0 "GET / HTTP/1.1"'
    assert haproxy_admin.parse_request(no_server).response_ms == -1
    assert haproxy_admin.parse_request("Proxy web started.") is None
    assert haproxy_admin.parse_request("") is None


def test_a_bakes_probe_is_told_from_a_users_request_by_its_captured_header():
    # The haproxy role's frontend captures X-Orchestrator-Probe first: a probe's line shows the
    # server it asked for, a user's request an empty capture
    head = "127.0.0.1:1 [27/Nov/2026:15:50:52.867] web app/node1 0/0/0/3/3 200 120 - - ---- 1/1/0/0/0 0/0 "
    probe = haproxy_admin.parse_request(head + '{node1} "GET / HTTP/1.1"')
    user = haproxy_admin.parse_request(head + '{} "GET /{a} HTTP/1.1"')
    unconfigured = haproxy_admin.parse_request(head + '"GET / HTTP/1.1"')  # a frontend from before the capture
    assert (probe.probe, user.probe, unconfigured.probe) == (True, False, False)
    assert (probe.server, probe.status, probe.response_ms) == ("node1", 200, 3)


def test_the_maintenance_map_carries_any_message_through_the_admin_socket_unsplit():
    # Given a message with spaces, ';' (the CLI's command separator), markup and non-ASCII
    message = "Back at 10:30; <b>soon</b> — ünï & co"

    text = haproxy_admin.maintenance_map_text(message, 600)

    # Then each value is one token (the admin socket splits on spaces and ';') and reads back
    for line in text.splitlines():
        key, value = line.split(" ")
        assert ";" not in value and " " not in value
    assert haproxy_admin.parse_maintenance_map(text) == {"message": message, "retry_after": 600}
    # ...as `show map` prints it too, and an empty map is maintenance off
    shown = "".join(f"0x55d0c0ffee{i} {line}\n" for i, line in enumerate(text.splitlines()))
    assert haproxy_admin.parse_maintenance_map(shown) == {"message": message, "retry_after": 600}
    assert haproxy_admin.parse_maintenance_map("") is None
