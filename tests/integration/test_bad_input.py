"""Bad input stops a deploy with one clear message and exit code 2, before any node is touched."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import zipfile

import pytest

from tests.conftest import run_cli
from tests.integration.conftest import with_host
from tests.support.cli import ansible_playbook, orchestrator_command


@pytest.fixture
def untouched(cluster, wars):
    """Given the cluster on v1; afterwards, check no node was drained, restarted or switched."""
    cluster.given_release(wars["v1"])
    before = {n: (cluster.tomcat_pid(n), cluster.current_release(n)) for n in cluster.nodes}
    yield
    for name in cluster.nodes:
        assert (cluster.tomcat_pid(name), cluster.current_release(name)) == before[name], f"{name} was touched"
        row = cluster.haproxy_row(name)
        assert row["status"].startswith("UP"), f"{name} left {row['status']}"


def inventory_with(cluster, tmp_path, host: str, setting: str) -> str:
    """A copy of the cluster's inventory with one host variable overridden."""
    inv = tmp_path / "inventory"
    shutil.copytree(cluster.inventory, inv)
    (inv / "host_vars").mkdir(exist_ok=True)
    (inv / "host_vars" / f"{host}.yml").write_text(setting + "\n")
    return str(inv)


def deploy(cluster, war, inventory=None, *extra):
    result = run_cli(
        "deploy", "--war", war, "-i", inventory or cluster.inventory, "--state-dir", cluster.state_dir, *extra
    )
    assert "Traceback" not in result.stderr + result.stdout
    return result


def test_admin_socket_that_does_not_answer(cluster, wars, untouched, tmp_path):
    inv = inventory_with(cluster, tmp_path, "lb1", f"haproxy_socket: {tmp_path}/no-such.sock")
    result = deploy(cluster, wars["v2"], inv)
    assert result.returncode == 2, result.stderr
    assert "lb1" in result.stderr and "no-such.sock" in result.stderr and "does not exist" in result.stderr


def test_serial_zero(cluster, wars, untouched):
    result = deploy(cluster, wars["v2"], None, "--serial", "0")
    assert result.returncode == 2
    assert "deploy_serial must be a whole number above 0" in result.stderr


def test_a_strategy_that_is_not_one_of_the_two(cluster, wars, untouched, tmp_path):
    result = deploy(cluster, wars["v2"], None, "--strategy", "purple")
    assert result.returncode == 2
    assert "'purple' is not one of 'rolling', 'bluegreen'" in result.stderr
    # the same in the inventory
    result = deploy(cluster, wars["v2"], inventory_with(cluster, tmp_path, "node1", "deploy_strategy: purple"))
    assert result.returncode == 2
    assert "deploy_strategy is 'purple'; use 'rolling'" in result.stderr
    # and for the other commands that take it
    for command in (["rollback"], ["apply"], ["plan", "--war", str(wars["v2"])]):
        result = run_cli(*command, "--strategy", "purple", "-i", cluster.inventory, "--state-dir", cluster.state_dir)
        assert result.returncode == 2, (command, result.stdout + result.stderr)
        assert "'purple' is not one of 'rolling', 'bluegreen'" in result.stderr, (command, result.stderr)


def test_bluegreen_on_nodes_provisioned_with_one_slot_names_them_and_the_fix(cluster, wars, untouched):
    # Given the cluster provisioned for rolling deploys (one Tomcat per node)
    # When a blue/green deploy is asked for
    result = deploy(cluster, wars["v2"], None, "--strategy", "bluegreen")

    # Then nothing is touched, and the message names the nodes and the fix
    assert result.returncode == 2, result.stdout + result.stderr
    assert "node1, node2 have no blue/green slots" in result.stderr, result.stderr
    assert "the playbook orchestrator.fleet.provision with deploy_strategy set to bluegreen" in result.stderr


@pytest.mark.parametrize(
    "host, setting, message",
    [
        ("node2", "webapp_drain_timeout: -5", "node2: webapp_drain_timeout must be a number of seconds above 0, is -5"),
        ("node1", "tomcat_heap: lots", "node1: tomcat_heap must look like 256m or 1g, is lots"),
        (
            "node2",
            "webapp_bake_seconds: 5\nwebapp_bake_probe: {paths: ['/'], rate: 5000}",
            "node2: webapp_bake_probe.rate must be requests/s above 0 and at most 1000, e.g. 20; is 5000",
        ),
        (
            "node2",
            "webapp_bake_seconds: 1",
            "webapp_bake_seconds (1) is shorter than one HAProxy health-check interval (2.0 s)",
        ),
    ],
)
def test_setting_out_of_range(cluster, wars, untouched, tmp_path, host, setting, message):
    # One rule of each kind, to show the preflight reaches it before any node is touched: a node's
    # webapp setting, its Tomcat setting, the bake's, and the bake against the live load balancer's
    # health-check interval. Every rule is forced in tests/unit/test_preflight.py.
    result = deploy(cluster, wars["v2"], inventory_with(cluster, tmp_path, host, setting))
    assert result.returncode == 2
    assert message in result.stderr


def test_a_probe_of_a_page_the_old_release_does_not_serve_is_refused(cluster, wars, untouched, tmp_path):
    # Given a bake whose probe asks for a page the application does not serve (Tomcat answers
    # 404 for anything under WEB-INF)
    inventory = inventory_with(
        cluster,
        tmp_path,
        "node1",
        "webapp_bake_seconds: 5\nwebapp_bake_probe: {paths: ['/', '/WEB-INF/web.xml'], rate: 10}",
    )
    # When a release is deployed: refused before any node is drained (the fixture checks), with the fix
    result = deploy(cluster, wars["v2"], inventory)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "webapp_bake_probe.paths: /WEB-INF/web.xml answered 404 on the old release" in result.stderr, result.stderr
    assert "Fix the path in webapp_bake_probe" in result.stderr


@pytest.mark.parametrize(
    "ring, message",
    [
        (
            '""',
            "haproxy_request_ring is empty on lb1: set it (the haproxy role default is reqs) or webapp_bake_seconds: 0",
        ),
        # a load balancer whose running configuration predates the ring
        (
            "nosuch",
            "HAProxy has no ring 'nosuch' to read requests from: render its configuration with the haproxy role",
        ),
    ],
)
def test_a_bake_without_haproxys_request_ring(cluster, wars, untouched, tmp_path, ring, message):
    inv = tmp_path / "inventory"
    shutil.copytree(cluster.inventory, inv)
    with open(inv / "group_vars" / "appservers.yml", "a") as f:
        f.write("webapp_bake_seconds: 5\n")
    with open(inv / "group_vars" / "loadbalancers.yml", "a") as f:
        f.write(f"haproxy_request_ring: {ring}\n")
    result = deploy(cluster, wars["v2"], inv)
    assert result.returncode == 2, result.stdout + result.stderr
    assert message in result.stderr


def test_missing_war(cluster, untouched, tmp_path):
    result = deploy(cluster, tmp_path / "nothing.war")
    assert result.returncode == 2
    assert f"WAR file {tmp_path / 'nothing.war'} does not exist" in result.stderr


def test_file_that_is_not_a_zip(cluster, untouched, tmp_path):
    fake = tmp_path / "app.war"
    fake.write_text("<html>not a war</html>")
    result = deploy(cluster, fake)
    assert result.returncode == 2
    assert f"{fake} is not a WAR: it is not a zip archive" in result.stderr


def test_damaged_war(cluster, wars, untouched, tmp_path):
    damaged = tmp_path / "damaged.war"
    data = bytearray(wars["v2"].read_bytes())
    with zipfile.ZipFile(wars["v2"]) as z:
        info = z.getinfo("WEB-INF/web.xml")
    # flip a byte inside the stored entry's data: the zip still opens, its CRC no longer matches
    offset = info.header_offset + 30 + len(info.filename) + len(info.extra) + 5
    data[offset] ^= 0xFF
    damaged.write_bytes(bytes(data))
    result = deploy(cluster, damaged)
    assert result.returncode == 2
    assert f"{damaged} is damaged" in result.stderr, result.stderr


def zip_of(path, entries: dict[str, str]):
    with zipfile.ZipFile(path, "w") as z:
        for name, text in entries.items():
            z.writestr(name, text)
    return path


NOT_A_WEB_APP = {"META-INF/MANIFEST.MF": "Implementation-Version: 6\n", "index.html": "<html>hello</html>"}


@pytest.mark.parametrize("by_hand", [False, True], ids=["orchestrator", "ansible-playbook"])
def test_a_zip_that_is_not_a_web_application_touches_no_node(cluster, untouched, tmp_path, by_hand):
    # Given a zip with a version but no WEB-INF/ (a static site zipped by mistake)
    war = zip_of(tmp_path / "site.war", NOT_A_WEB_APP)
    # When it is deployed, by the orchestrator or by hand
    if by_hand:
        result = ansible_playbook("-i", cluster.inventory, "orchestrator.fleet.deploy", "-e", f"war={war}", timeout=300)
        said = " ".join(result.stdout.split())  # Ansible wraps long messages
    else:
        result = deploy(cluster, war)
        said = result.stderr
    # Then it is refused before any node is drained (the fixture checks), saying why
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr
    assert f"{war} is not a web application: it has no WEB-INF/ directory" in said, said[-2000:]


@pytest.mark.parametrize("by_hand", [False, True], ids=["orchestrator", "ansible-playbook"])
def test_a_malformed_web_xml_is_refused_before_any_drain(cluster, untouched, tmp_path, by_hand):
    # Given a WAR whose web.xml has a tag left open: Tomcat would refuse to start its context
    war = zip_of(
        tmp_path / "app.war",
        {
            "META-INF/MANIFEST.MF": "Implementation-Version: 9\n",
            "WEB-INF/web.xml": "<web-app>\n<servlet>\n</web-app>\n",
        },
    )
    if by_hand:
        result = ansible_playbook("-i", cluster.inventory, "orchestrator.fleet.deploy", "-e", f"war={war}", timeout=300)
        said = " ".join(result.stdout.split())
    else:
        result = deploy(cluster, war)
        said = result.stderr
    # Then it is refused with the parser's line and message, no node drained (the fixture checks)
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr
    assert "WEB-INF/web.xml is not well-formed XML (mismatched tag: line 3, column 2)" in said, said[-2000:]


def test_a_war_without_a_version_is_refused_with_the_fix(cluster, untouched, tmp_path):
    war = zip_of(
        tmp_path / "app.war", {"META-INF/MANIFEST.MF": "Manifest-Version: 1.0\n", "WEB-INF/web.xml": "<web-app/>"}
    )
    result = deploy(cluster, war)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"{war} has no Implementation-Version" in result.stderr
    assert "deploy_allow_unversioned: true" in result.stderr


def test_a_read_only_state_directory_is_named_with_the_fix(cluster, wars, untouched, tmp_path):
    # Given a state directory on a read-only mount (a mount namespace of the command's own: root
    # writes through any permission bits, not through a read-only file system)
    state = tmp_path / "state"
    state.mkdir()
    result = subprocess.run(
        [
            "unshare",
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            'mount -o bind,ro "$0" "$0" && exec "$@"',
            str(state),
            *orchestrator_command("deploy", "--war", wars["v2"], "-i", cluster.inventory, "--state-dir", state),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    # Then exit 2 names the directory and the fix, before any node is touched (the fixture checks)
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"the state directory {state} cannot be written (Read-only file system" in result.stderr
    assert "chown -R" in result.stderr and "--state-dir" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_full_disk_under_a_used_state_directory_is_named_with_the_fix(cluster, wars, untouched, tmp_path):
    # Given a state directory in use (a status ran: history and artifacts) on a small file system
    # of the commands' own (a tmpfs in a mount namespace), which then fills up
    state = tmp_path / "state"
    state.mkdir()
    status = shlex.join(orchestrator_command("status", "-i", cluster.inventory, "--state-dir", state))
    deploy = shlex.join(
        orchestrator_command("deploy", "--war", wars["v2"], "-i", cluster.inventory, "--state-dir", state)
    )
    script = f"""
        mount -t tmpfs -o size=32m tmpfs "$0" || exit 99
        {status} >/dev/null 2>&1 || exit 98
        dd if=/dev/zero of="$0/filler" bs=1M >/dev/null 2>&1
        {deploy}; echo "deploy exit $?"
        {status}; echo "status exit $?"
    """
    result = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, str(state)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    # Then both commands exit 2, name the directory and say to free space (no chown, no traceback),
    # and no node was touched (the fixture checks)
    out = result.stdout + result.stderr
    assert "deploy exit 2" in result.stdout and "status exit 2" in result.stdout, out[-3000:]
    assert result.stderr.count(f"the state directory {state} cannot be written (No space left on device") == 2, out
    assert "Free some space there" in result.stderr and "chown" not in result.stderr
    assert "Traceback" not in out


@pytest.mark.parametrize(
    "groups, missing",
    [
        ("    appservers:\n      hosts:\n        n1:\n", "'loadbalancers'"),
        ("    loadbalancers:\n      hosts:\n        lb1:\n", "'appservers'"),
    ],
)
def test_inventory_without_a_group(wars, tmp_path, groups, missing):
    (tmp_path / "hosts.yml").write_text("all:\n  children:\n" + groups)
    result = run_cli("deploy", "--war", wars["v2"], "-i", tmp_path, "--state-dir", tmp_path / "state")
    assert result.returncode == 2
    assert f"has no hosts in {missing}" in result.stderr
    assert "Traceback" not in result.stderr


def test_inventory_that_does_not_exist(wars, tmp_path):
    result = run_cli("deploy", "--war", wars["v2"], "-i", tmp_path / "nope", "--state-dir", tmp_path / "state")
    assert result.returncode == 2
    assert "does not exist" in result.stderr


def config_with(cluster, tmp_path, old: str, new: str):
    text = cluster.box.config.read_text()
    assert old in text
    path = tmp_path / "orchestrator.toml"
    path.write_text(text.replace(old, new))
    return path


def test_revision_that_does_not_exist(cluster, untouched):
    result = run_cli("deploy", "--rev", "deadbeef1234", "--config", cluster.box.config)
    assert result.returncode == 2
    assert "revision deadbeef1234 does not exist" in result.stderr
    assert "Traceback" not in result.stderr


def test_build_that_produces_no_war(cluster, untouched, tmp_path):
    config = config_with(cluster, tmp_path, 'artifact = "build/*.war"', 'artifact = "build/*.ear"')
    result = run_cli("deploy", "--rev", "default", "--config", config)
    assert result.returncode == 1
    assert "artifact failed: the build produced no file matching 'build/*.ear'" in result.stderr
    assert "Traceback" not in result.stderr


def test_build_that_produces_two_wars(cluster, untouched, tmp_path):
    config = config_with(
        cluster, tmp_path, "--out build/app.war'", "--out build/app.war && cp build/app.war build/copy.war'"
    )
    result = run_cli("deploy", "--rev", "default", "--config", config)
    assert result.returncode == 1
    assert "produced 2 files matching 'build/*.war' (build/app.war, build/copy.war)" in result.stderr


def test_apply_with_an_inventory_file_that_does_not_parse(cluster, untouched, tmp_path):
    # Given the appservers in a file of their own that an editor left broken: its hosts must not
    # look removed (apply would retire them)
    inv = tmp_path / "inventory"
    shutil.copytree(cluster.inventory, inv)
    (inv / "more.yml").write_text("appservers:\n  hosts:\n    node3:\n   broken: [\n")
    result = run_cli("apply", "-i", inv, "--state-dir", cluster.state_dir)
    assert result.returncode == 2, result.stdout + result.stderr
    # in one line that says where: not Ansible's warning from each plugin it tried
    assert (
        f"inventory {inv} does not parse: {inv / 'more.yml'}, line 4, column 4: did not find expected key"
        in result.stderr
    ), result.stderr
    assert "WARNING" not in result.stderr and len(result.stderr.splitlines()) == 1, result.stderr
    assert "Traceback" not in result.stderr


def test_apply_with_a_new_host_and_no_release_to_give_it(cluster, untouched, tmp_path):
    # Given a new host in the inventory and a state directory that has never deployed
    inv = tmp_path / "inventory"
    shutil.copytree(cluster.inventory, inv)
    hosts = inv / "hosts.yml"
    hosts.write_text(with_host(hosts.read_text(), "node3", "127.0.2.3"))
    result = run_cli("apply", "-i", inv, "--state-dir", tmp_path / "state")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "node3 cannot join yet: no release has gone live" in result.stderr
    assert "Traceback" not in result.stderr
    assert "node3" not in cluster.backend()
