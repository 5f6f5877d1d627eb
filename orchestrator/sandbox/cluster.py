"""The local sandbox: HAProxy and N Tomcat nodes on loopback addresses, set up by the real roles.

Node i listens on 127.0.<net>.i, the load balancer on 127.0.<net>.100: every node uses the
same port on an address of its own, as on real hosts. The sandbox writes an ordinary
inventory, so `orchestrator deploy` and a manual `ansible-playbook` run treat it like any
other fleet.
"""

from __future__ import annotations

import getpass
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

from ansible_collections.orchestrator.fleet.plugins.module_utils import haproxy_admin
from ansible_collections.orchestrator.fleet.plugins.module_utils.fsutil import write_atomic
from ansible_collections.orchestrator.fleet.plugins.module_utils.processes import (
    cmdline,
    owned_pid,
    pids_on_tcp,
    terminate,
)
from orchestrator.errors import InputError, SandboxError
from orchestrator.fleet.runner import run_playbook
from orchestrator.project import playbook, project_dir
from orchestrator.rollout.bluegreen import PROMOTE_MARKER, PROMOTE_PID
from orchestrator.sandbox import database as sandbox_db

MAX_NODES = 99
LB_HOST_OCTET = 100
PORT = 8080
DASHBOARD_PORT = 8088  # on the load balancer's address: `orchestrator dashboard` with the sandbox's config
# sshd of each node in --ssh mode, on the node's own address (not 22: a system sshd on 0.0.0.0:22
# would take it)
SSH_PORT = 2222
SSHD = "/usr/sbin/sshd"
TOMCAT_HOME = Path("/usr/share/tomcat10")
STRATEGIES = ("rolling", "bluegreen")
# bluegreen: each node's two Tomcat slots and their ports (the roles' tomcat_slot_ports default)
SLOT_PORTS = {"blue": PORT, "green": PORT + 1}


@dataclass(frozen=True)
class Sandbox:
    """Where a sandbox lives and what it holds; saved as sandbox.json in its directory."""

    directory: Path
    inventory: Path
    nodes: int
    net: int
    # seconds each new node bakes under real traffic (webapp_bake_seconds); 0: no bake
    bake_seconds: float = 0
    # reach the app servers over SSH (an sshd per node) instead of a local connection
    ssh: bool = False
    # deploy_strategy: rolling (one Tomcat per node) or bluegreen (two slots per node)
    strategy: str = "rolling"
    # a PostgreSQL of its own on 127.0.<net>.200 that the sample application writes to, and
    # schema migrations in the pipeline ([migrate] in orchestrator.toml)
    database: bool = False

    def __post_init__(self) -> None:
        if not 1 <= self.nodes <= MAX_NODES:
            raise InputError(f"--nodes must be 1 to {MAX_NODES}, got {self.nodes}")
        if self.bake_seconds < 0:
            raise InputError(f"--bake-seconds must be 0 or more, got {self.bake_seconds}")
        if self.strategy not in STRATEGIES:
            raise InputError(f"--strategy must be rolling or bluegreen, got {self.strategy!r}")
        if not 1 <= self.net <= 254:
            raise InputError(f"--net must be 1 to 254 (nodes use 127.0.<net>.N), got {self.net}")

    @property
    def node_names(self) -> list[str]:
        return [f"node{i}" for i in range(1, self.nodes + 1)]

    def node_address(self, i: int) -> str:
        return f"127.0.{self.net}.{i}"

    @property
    def lb_address(self) -> str:
        return f"127.0.{self.net}.{LB_HOST_OCTET}"

    @property
    def url(self) -> str:
        return f"http://{self.lb_address}:{PORT}/"

    @property
    def central(self) -> Path:
        """The central Mercurial repository, with the push hook."""
        return self.directory / "central"

    @property
    def clone(self) -> Path:
        """A working clone to edit, commit and push from."""
        return self.directory / "clone"

    @property
    def spool(self) -> Path:
        return self.directory / "spool"

    @property
    def config(self) -> Path:
        return self.directory / "orchestrator.toml"

    @property
    def dashboard_token(self) -> Path:
        return self.directory / "dashboard.token"

    @property
    def db(self) -> sandbox_db.Database | None:
        return sandbox_db.Database(self.directory, self.net) if self.database else None

    @property
    def ssh_dir(self) -> Path:
        return self.directory / "ssh"

    @property
    def haproxy_dir(self) -> Path:
        return self.directory / "haproxy"

    @property
    def socket(self) -> Path:
        return self.haproxy_dir / "admin.sock"

    def node_dir(self, name: str) -> Path:
        return self.directory / "nodes" / name

    def tomcat_base(self, name: str, slot: str = "") -> Path:
        """A node's CATALINA_BASE; with bluegreen, a slot's (the tomcat role's <tomcat_base>-<slot>)."""
        return self.node_dir(name) / (f"tomcat-{slot}" if slot else "tomcat")

    @property
    def slots(self) -> tuple[str, ...]:
        """The Tomcat slots of each node: ("",) for one instance, ("blue", "green") for bluegreen."""
        return tuple(SLOT_PORTS) if self.strategy == "bluegreen" else ("",)

    def slot_port(self, slot: str) -> int:
        return SLOT_PORTS[slot] if slot else PORT

    def tomcat_pid(self, name: str, slot: str = "") -> int | None:
        base = self.tomcat_base(name, slot)
        return owned_pid(base / "temp" / "catalina.pid", f"-Dcatalina.base={base}")

    def save(self) -> None:
        data = {k: str(v) if isinstance(v, Path) else v for k, v in asdict(self).items()}
        write_atomic(self.directory / "sandbox.json", json.dumps(data, indent=2) + "\n")

    @classmethod
    def load(cls, directory: Path) -> Sandbox:
        path = Path(directory) / "sandbox.json"
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise SandboxError(
                f"no sandbox in {directory} ({path} is missing): run 'orchestrator sandbox up' first"
            ) from None
        except ValueError as exc:
            raise SandboxError(
                f"{path} is not valid JSON ({exc}): run 'orchestrator sandbox up' to rewrite it"
            ) from None
        return cls(
            directory=Path(data["directory"]),
            inventory=Path(data["inventory"]),
            nodes=int(data["nodes"]),
            net=int(data["net"]),
            bake_seconds=float(data.get("bake_seconds", 0)),
            ssh=bool(data.get("ssh", False)),
            strategy=str(data.get("strategy", "rolling")),
            database=bool(data.get("database", False)),
        )


def check_prerequisites() -> None:
    missing = []
    if shutil.which("haproxy") is None:
        missing.append("haproxy")
    if not (TOMCAT_HOME / "bin" / "catalina.sh").is_file():
        missing.append("tomcat10")
    if shutil.which("hg") is None:
        missing.append("mercurial")
    if shutil.which("java") is None:
        missing.append("a Java runtime (default-jre-headless)")
    if missing:
        raise SandboxError(
            f"the sandbox needs {', '.join(missing)}: install with "
            "'apt-get install haproxy tomcat10 mercurial default-jdk-headless' (or run ./scripts/setup)"
        )


def render_inventory(box: Sandbox) -> dict[str, str]:
    """The inventory files of a sandbox, by relative path."""
    python = sys.executable
    hosts = [
        "# Written by 'orchestrator sandbox up'. Every host is this machine (connection local),",
        "# each on a loopback address of its own.",
        "all:",
        "  vars:",
        "    ansible_connection: local",
        f"    ansible_python_interpreter: {python}",
        f"    deploy_strategy: {box.strategy}",
        "  children:",
        "    loadbalancers:",
        "      hosts:",
        "        lb1:",
        f"          ansible_host: {box.lb_address}",
        "    appservers:",
        "      hosts:",
    ]
    for i, name in enumerate(box.node_names, start=1):
        hosts += [f"        {name}:", f"          ansible_host: {box.node_address(i)}"]
    if box.db is not None:
        # where playbooks/migrate.yml runs the migration commands (once, on the group's first host)
        hosts[hosts.index("    appservers:") : hosts.index("    appservers:")] = [
            "    migrators:",
            "      hosts:",
            "        db1:",
            f"          ansible_host: {box.db.address}",
        ]
    if box.ssh:
        hosts += [
            "      vars:",
            "        # over SSH, to an sshd of its own on each node's address",
            "        ansible_connection: ssh",
            f"        ansible_port: {SSH_PORT}",
            f"        ansible_user: {getpass.getuser()}",
            f"        ansible_ssh_private_key_file: {box.ssh_dir / 'id_ed25519'}",
            f"        ansible_ssh_common_args: -o UserKnownHostsFile={box.ssh_dir / 'known_hosts'} "
            "-o StrictHostKeyChecking=yes -o IdentitiesOnly=yes -o ConnectTimeout=5",
        ]
    loadbalancers = f"""# Sandbox HAProxy: a master-worker process of our own, all state under the sandbox directory.
haproxy_service_manager: sandbox
haproxy_config_path: {box.haproxy_dir}/haproxy.cfg
haproxy_run_dir: {box.haproxy_dir}
haproxy_socket: {box.socket}
haproxy_server_state_file: {box.haproxy_dir}/server-state
haproxy_frontend_address: {box.lb_address}
haproxy_frontend_port: {PORT}
haproxy_backend_port: {PORT}
"""
    appservers = f"""# Sandbox Tomcat: one CATALINA_BASE per node, started with catalina.sh.
tomcat_service_manager: catalina
tomcat_base: "{box.directory}/nodes/{{{{ inventory_hostname }}}}/tomcat"
tomcat_port: {PORT}
tomcat_heap: 128m
# Start-up speed over peak throughput, and no jar scanning (the sample app needs none).
tomcat_java_opts: "-XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xshare:auto -Dtomcat.util.scan.StandardJarScanFilter.jarsToSkip=*.jar"
webapp_root: "{box.directory}/nodes/{{{{ inventory_hostname }}}}"
# The sample app starts in about 1.5 s; a release that is not healthy in 20 s never will be.
webapp_health_timeout: 20
# The immune system: seconds each new node is watched under real traffic (0: off); the judge
# looks every second, and a verdict still open goes on for up to two minutes.
webapp_bake_seconds: {box.bake_seconds:g}
webapp_bake_interval: 1
webapp_bake_max_seconds: 120
webapp_bake_warmup_seconds: 1
# A sandbox is often idle: while its users' requests are few, the bake asks / itself, in turn of
# the new release and the old one, so a deploy by hand is judged (and passes) in seconds.
webapp_bake_probe:
  paths: ["/"]
  rate: 100
"""
    if box.db is not None:
        db = box.db
        appservers = appservers.replace(
            '-Dtomcat.util.scan.StandardJarScanFilter.jarsToSkip=*.jar"',
            (
                "-Dtomcat.util.scan.StandardJarScanFilter.jarsToSkip=*.jar"
                f" -Dsample.db.url={db.jdbc_url} -Dsample.db.user={sandbox_db.USER}"
                f' -Dsample.db.passwordFile={db.password_file} -Dsample.node={{{{ inventory_hostname }}}}"'
            ),
        )
    return {
        "hosts.yml": "\n".join(hosts) + "\n",
        "group_vars/loadbalancers.yml": loadbalancers,
        "group_vars/appservers.yml": appservers,
    }


def render_config(box: Sandbox) -> str:
    return f"""# Written by 'orchestrator sandbox up': how the sandbox gets a WAR and when.
[source]
repository = "{box.central}"
branch = "default"

[spool]
directory = "{box.spool}"

[build]
command = './build.sh --version "$(cat VERSION)"{" --with-jdbc" if box.database else ""} --out build/app.war'
timeout = 300
artifact = "build/*.war"

[test]
command = "./test.sh build/app.war"
timeout = 300

[deploy]
inventory = "{box.inventory}"
state_directory = "{box.directory / "state"}"
rescan_seconds = 5

[dashboard]
listen = "{box.lb_address}:{DASHBOARD_PORT}"
token_file = "{box.dashboard_token}"
""" + (
        ""
        if box.db is None
        else f"""
[migrate]
directory = "db/migrations"
expand = "db/migrate expand"
contract = "db/migrate contract"
timeout = 120
environment = "{box.db.env_file}"
"""
    )


def make_dashboard_token(box: Sandbox) -> None:
    """The sandbox dashboard's token (mode 600, kept across `sandbox up`): actions need it."""
    if not box.dashboard_token.exists():
        write_atomic(box.dashboard_token, secrets.token_urlsafe(32) + "\n", mode=0o600)


def _hg(*args: str, cwd: Path) -> None:
    done = subprocess.run(["hg", *args], cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        raise SandboxError(f"hg {' '.join(args)} failed in {cwd}: {done.stderr.strip()}")


def make_repository(box: Sandbox) -> None:
    """The sample application in a central hg repository (hook installed) and a working clone."""
    from orchestrator.push import hooks
    from orchestrator.push.watcher import ensure_spool

    ensure_spool(box.spool)
    if not (box.central / ".hg").is_dir():
        box.central.mkdir(parents=True, exist_ok=True)
        _hg("init", cwd=box.central)
    hooks.install_hg(box.central, box.spool)
    if (box.clone / ".hg").is_dir():
        return
    _hg("clone", "-q", str(box.central), str(box.clone), cwd=box.directory)
    write_atomic(
        box.clone / ".hg" / "hgrc", f"[paths]\ndefault = {box.central}\n[ui]\nusername = sandbox <sandbox@localhost>\n"
    )
    app = project_dir() / "examples" / "webapp"
    for item in ("src", "web", *(("db",) if box.database else ())):
        shutil.copytree(app / item, box.clone / item)
    for item in ("build.sh", "test.sh"):
        shutil.copy2(app / item, box.clone / item)
    (box.clone / "VERSION").write_text("1\n")
    (box.clone / ".hgignore").write_text("syntax: glob\nbuild/\n")
    _hg("add", "-q", cwd=box.clone)
    _hg("commit", "-q", "-m", "The sample application, version 1", cwd=box.clone)
    _hg("push", "-q", cwd=box.clone)


def _keygen(path: Path) -> None:
    if not path.exists():
        done = subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "orchestrator-sandbox", "-f", str(path)],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise SandboxError(f"ssh-keygen failed: {done.stderr.strip()}")


def sshd_marker(box: Sandbox, name: str) -> str:
    return str(box.ssh_dir / f"sshd-{name}.conf")


def start_sshd(box: Sandbox) -> None:
    """One sshd per node on the node's address, keys and known_hosts of the sandbox's own (idempotent)."""
    if not Path(SSHD).is_file():
        raise SandboxError(f"--ssh needs {SSHD}: install with 'apt-get install openssh-server'")
    box.ssh_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege-separation directory
    _keygen(box.ssh_dir / "id_ed25519")
    write_atomic(box.ssh_dir / "authorized_keys", (box.ssh_dir / "id_ed25519.pub").read_text(), mode=0o600)
    known = []
    for i, name in enumerate(box.node_names, start=1):
        host_key = box.ssh_dir / f"host-{name}"
        _keygen(host_key)
        known.append(
            f"[{box.node_address(i)}]:{SSH_PORT} {' '.join(host_key.with_suffix('.pub').read_text().split()[:2])}"
        )
        config = Path(sshd_marker(box, name))
        write_atomic(
            config,
            f"""# sshd of sandbox node {name}
ListenAddress {box.node_address(i)}:{SSH_PORT}
HostKey {host_key}
PidFile {box.ssh_dir / f"sshd-{name}.pid"}
AuthorizedKeysFile {box.ssh_dir / "authorized_keys"}
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
Subsystem sftp internal-sftp
""",
            mode=0o600,
        )
        if owned_pid(box.ssh_dir / f"sshd-{name}.pid", str(config)) is None:
            done = subprocess.run([SSHD, "-f", str(config)], capture_output=True, text=True)
            if done.returncode != 0:
                raise SandboxError(f"sshd for {name} did not start: {done.stderr.strip()}")
    write_atomic(box.ssh_dir / "known_hosts", "\n".join(known) + "\n")
    for i, name in enumerate(box.node_names, start=1):
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection((box.node_address(i), SSH_PORT), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SandboxError(f"sshd of {name} does not answer on {box.node_address(i)}:{SSH_PORT}") from None
                time.sleep(0.05)


def stop_sshd(box: Sandbox, name: str) -> list[int]:
    """Stop a node's sshd and every session it serves (as if the host were lost); returns the PIDs."""
    i = box.node_names.index(name) + 1 if name in box.node_names else int(name.removeprefix("node"))
    pids = set(pids_on_tcp(box.node_address(i), SSH_PORT))
    listener = owned_pid(box.ssh_dir / f"sshd-{name}.pid", sshd_marker(box, name))
    if listener is not None:
        pids.add(listener)
    for pid in sorted(pids):
        if "sshd" in cmdline(pid):
            terminate(pid, timeout=5)
    return sorted(pids)


def up(box: Sandbox, *, on_event=None) -> Sandbox:
    """Provision (or re-provision) the sandbox; safe to run again."""
    check_prerequisites()
    box.directory.mkdir(parents=True, exist_ok=True)
    if box.ssh:
        start_sshd(box)
    if box.db is not None:
        sandbox_db.up(box.db)
    for rel, text in render_inventory(box).items():
        write_atomic(box.inventory / rel, text)
    make_dashboard_token(box)
    write_atomic(box.config, render_config(box))
    box.save()
    make_repository(box)
    result = run_playbook(
        playbook("provision.yml"),
        inventory=box.inventory,
        run_dir=box.directory / "runs" / "provision",
        on_event=on_event,
    )
    if not result.ok:
        detail = "; ".join(f"{e.host}: {e.task}: {e.message}" for e in result.failures) or result.status
        raise SandboxError(f"provisioning the sandbox failed: {detail} (artifacts in {result.artifacts})")
    return box


def _pid_files(box: Sandbox) -> list[tuple[str, Path, str]]:
    """(what, PID file, a string only our process has on its command line)."""
    files = [("haproxy", box.haproxy_dir / "haproxy.pid", str(box.haproxy_dir / "haproxy.cfg"))]
    nodes_dir = box.directory / "nodes"
    if nodes_dir.is_dir():
        for node in sorted(p.name for p in nodes_dir.iterdir()):
            for base in sorted(box.node_dir(node).glob("tomcat*")):
                what = node + base.name[len("tomcat") :]  # node1, node1-blue
                files.append((what, base / "temp" / "catalina.pid", f"-Dcatalina.base={base}"))
    if box.ssh_dir.is_dir():
        for config in sorted(box.ssh_dir.glob("sshd-*.conf")):
            name = config.stem[len("sshd-") :]
            files.append((f"sshd of {name}", box.ssh_dir / f"sshd-{name}.pid", str(config)))
    # blue/green: the process a deploy leaves to stop the old slots when their window ends
    # (last here: down() stops it first)
    files.append(("old slots' timer", box.directory / "state" / PROMOTE_PID, PROMOTE_MARKER))
    return files


def down(box: Sandbox) -> list[str]:
    """Stop every process the sandbox started, by PID. Returns what was stopped."""
    stopped = []
    # Nodes first: HAProxy stays up while they go, so nothing waits on a dead front.
    for name, pid_file, marker in reversed(_pid_files(box)):
        if name.startswith("sshd of "):
            pids = stop_sshd(box, name[len("sshd of ") :])
            if pids:
                stopped.append(f"{name} (pids {', '.join(map(str, pids))})")
            continue
        pid = owned_pid(pid_file, marker)
        if pid is not None:
            killed = terminate(pid)
            stopped.append(f"{name} (pid {pid}{', killed' if killed else ''})")
    # the database last: the nodes that write to it are gone
    db = sandbox_db.Database(box.directory, box.net)
    pid = sandbox_db.down(db)
    if pid is not None:
        stopped.append(f"database (pid {pid})")
    return stopped


@dataclass(frozen=True)
class NodeStatus:
    name: str  # the node, or with bluegreen its slot's server (node1-blue)
    address: str
    pid: int | None
    release: str
    health: str
    haproxy: str
    live: bool = True  # bluegreen: the slot the node records as live


def _health(url: str) -> str:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return f"{resp.status} {resp.read(200).decode(errors='replace').strip()}"
    except urllib.error.HTTPError as exc:
        return f"{exc.code}"
    except OSError as exc:
        return f"no answer ({getattr(exc, 'reason', exc)})"


def _link(path: Path) -> str:
    return Path(os.readlink(path)).name if path.is_symlink() else ""


def status(box: Sandbox) -> tuple[int | None, list[NodeStatus]]:
    """HAProxy's PID and a row per Tomcat instance (per slot with bluegreen)."""
    lb_pid = owned_pid(box.haproxy_dir / "haproxy.pid", str(box.haproxy_dir / "haproxy.cfg"))
    rows = {}
    if lb_pid is not None:
        try:
            rows = {r["svname"]: r for r in haproxy_admin.show_stat(str(box.socket)) if r.get("pxname") == "app"}
        except haproxy_admin.HAProxyAdminError:
            rows = {}
    nodes = []
    for i, name in enumerate(box.node_names, start=1):
        live_slot = _link(box.node_dir(name) / "live-slot") or "blue"
        for slot in box.slots:
            pid = box.tomcat_pid(name, slot)
            held = box.node_dir(name) / ("slots/" + slot if slot else "current")
            release = _link(held) or "-"
            health = _health(f"http://{box.node_address(i)}:{box.slot_port(slot)}/health") if pid else "stopped"
            server = f"{name}-{slot}" if slot else name
            row = rows.get(server)
            nodes.append(
                NodeStatus(
                    server,
                    box.node_address(i),
                    pid,
                    release,
                    health,
                    row["status"] if row else "-",
                    live=not slot or slot == live_slot,
                )
            )
    return lb_pid, nodes
