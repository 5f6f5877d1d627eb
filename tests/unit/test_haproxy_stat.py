from orchestrator.haproxy_admin import admin_state, in_flight, is_up, never_checked, parse_stat_csv, serving

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
    r = {row["svname"]: row for row in parse_stat_csv("""# pxname,svname,status,check_status
app,fresh,UP,INI
app,failing,UP 2/3,L7STS
app,back,UP 1/3,L7OK
app,checking,UP,* L7OK
app,maint,MAINT,
app,down,DOWN,L4CON
""")}
    assert [n for n in r if serving(r[n])] == ["back", "checking"]
    assert [n for n in r if never_checked(r[n])] == ["fresh"]
