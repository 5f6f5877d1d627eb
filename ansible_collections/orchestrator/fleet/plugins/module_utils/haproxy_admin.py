"""Talk to HAProxy's runtime API (the admin stats socket).

Standard library only (see plugins/module_utils/__init__.py): Ansible modules import
this same file as ``haproxy_admin`` on hosts where the orchestrator
package is not installed.

Facts this code is built on (HAProxy 2.6):

* A socket without ``level admin`` answers state changes with "Permission denied" as
  text; nothing signals an error otherwise. Every reply to a command that should be
  silent is therefore checked, and any text in it is an error.
* ``show stat`` columns are read by the header's names, never by position.
* Right after leaving maint the status reads ``UP 1/3`` until the next check, so a
  server counts as up when its status *starts with* ``UP``.
* States set here (drain, maint, weight) live in the running worker only. A reload - whoever
  does it, even a bare ``kill -USR2`` of the master - starts a worker that reads them from the
  ``server-state-file``; so whoever changes a state saves that file at once
  (``save_server_states``), and a reload never puts a drained node back in rotation.
"""

from __future__ import annotations

import csv
import html
import io
import os
import re
import socket
import time
import urllib.parse
from dataclasses import dataclass

DEFAULT_TIMEOUT = 5.0


class HAProxyAdminError(Exception):
    """The admin socket could not be reached or refused a command."""


def send(socket_path: str, line: str, *, timeout: float = DEFAULT_TIMEOUT) -> socket.socket:
    """Connect and send one command; the caller reads the reply and closes the socket."""
    if "\n" in line or ";" in line:
        raise HAProxyAdminError(f"refusing to send a command with a newline or ';': {line!r}")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect(socket_path)
        sock.sendall(line.encode() + b"\n")
    except BaseException as exc:
        sock.close()
        raise _unreachable(socket_path, exc) from None
    return sock


def _unreachable(socket_path: str, exc: BaseException) -> BaseException:
    if isinstance(exc, FileNotFoundError):
        return HAProxyAdminError(f"HAProxy admin socket {socket_path} does not exist")
    if isinstance(exc, OSError):  # refused, timed out, ...
        return HAProxyAdminError(f"HAProxy admin socket {socket_path} does not answer: {exc}")
    return exc


def command(socket_path: str, line: str, *, timeout: float = DEFAULT_TIMEOUT) -> str:
    """Send one command, return the whole reply (the socket closes after it)."""
    with send(socket_path, line, timeout=timeout) as sock:
        chunks = []
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
        except OSError as exc:
            raise _unreachable(socket_path, exc) from None
    return b"".join(chunks).decode(errors="replace")


def silent_command(socket_path: str, line: str, *, timeout: float = DEFAULT_TIMEOUT) -> None:
    """Send a command whose success is an empty reply; any text in the reply is an error."""
    reply = command(socket_path, line, timeout=timeout).strip()
    if reply:
        hint = ""
        if "Permission denied" in reply:
            hint = " (the stats socket needs 'level admin' in haproxy.cfg)"
        raise HAProxyAdminError(f"HAProxy refused '{line}': {reply}{hint}")


def parse_stat_csv(text: str) -> list[dict[str, str]]:
    """Parse ``show stat`` output into one dict per row, keyed by the header's column names."""
    lines = text.splitlines()
    if not lines or not lines[0].startswith("# "):
        raise HAProxyAdminError(f"unexpected 'show stat' reply: {text[:200]!r}")
    header = lines[0][2:]
    body = "\n".join(line for line in lines[1:] if line.strip())
    reader = csv.DictReader(io.StringIO(header + "\n" + body))
    return [dict(row) for row in reader]


def show_stat(socket_path: str, *, timeout: float = DEFAULT_TIMEOUT) -> list[dict[str, str]]:
    return parse_stat_csv(command(socket_path, "show stat", timeout=timeout))


def server_stat(socket_path: str, backend: str, server: str, *, timeout: float = DEFAULT_TIMEOUT) -> dict[str, str]:
    """The ``show stat`` row of one server; an error naming what exists when it is not there."""
    rows = show_stat(socket_path, timeout=timeout)
    for row in rows:
        if row.get("pxname") == backend and row.get("svname") == server:
            return row
    known = sorted(
        r["svname"] for r in rows if r.get("pxname") == backend and r.get("svname") not in ("FRONTEND", "BACKEND")
    )
    if not known and not any(r.get("pxname") == backend for r in rows):
        raise HAProxyAdminError(f"HAProxy has no backend '{backend}'")
    raise HAProxyAdminError(
        f"HAProxy backend '{backend}' has no server '{server}' (it has: {', '.join(known) or 'none'})"
    )


def backend_servers(socket_path: str, backend: str, *, timeout: float = DEFAULT_TIMEOUT) -> dict[str, dict[str, str]]:
    """Every server of ``backend``, by name; an error when HAProxy has no such backend."""
    rows = [r for r in show_stat(socket_path, timeout=timeout) if r.get("pxname") == backend]
    if not rows:
        raise HAProxyAdminError(f"HAProxy has no backend '{backend}'")
    return {r["svname"]: r for r in rows if r.get("svname") not in ("FRONTEND", "BACKEND")}


def server_statuses(servers: dict[str, dict[str, str]]) -> dict[str, dict]:
    """name -> status, whether its last health check passed (or it was never checked), and that
    check's words: what the deploy's modules return as ``backend_status``."""
    return {
        name: {
            "status": r.get("status", ""),
            "check_passed": check_passed(r),
            "never_checked": never_checked(r),
            "check": " ".join(filter(None, (r.get("check_status", "").lstrip("* "), r.get("check_desc", "")))),
        }
        for name, r in servers.items()
    }


def worker_pid(socket_path: str, *, timeout: float = DEFAULT_TIMEOUT) -> int:
    """PID of the worker that answered: after a reload, a new PID means the new config is live."""
    for line in command(socket_path, "show info", timeout=timeout).splitlines():
        if line.startswith("Pid:"):
            return int(line.split(":", 1)[1])
    raise HAProxyAdminError(f"'show info' on {socket_path} did not name a Pid")


def check_passed(row: dict[str, str]) -> bool:
    """The server's last health check succeeded (L4OK, L6OK, L7OK...); INI before the first one."""
    return row.get("check_status", "").lstrip("* ").startswith(("L4OK", "L6OK", "L7OK", "L7OKC"))


def never_checked(row: dict[str, str]) -> bool:
    """HAProxy started (not reloaded: a reload keeps check results) and has not checked it yet.

    Such a server reads UP whether or not anything answers on it.
    """
    return row.get("check_status", "").lstrip("* ") == "INI"  # (a server in maint reads "": not checked now)


def serving(row: dict[str, str]) -> bool:
    """UP and its last health check passed: capacity that can be counted on ("UP 2/3", a
    server whose checks started failing, and one never checked, are not)."""
    return is_up(row) and check_passed(row)


def is_up(row: dict[str, str]) -> bool:
    return row.get("status", "").startswith("UP")


def in_flight(row: dict[str, str]) -> int:
    """Sessions the server is still serving plus requests queued for it."""
    return int(row.get("scur") or 0) + int(row.get("qcur") or 0)


def admin_state(row: dict[str, str]) -> str:
    """'maint', 'drain' or 'ready', as ``set server ... state`` names them."""
    status = row.get("status", "")
    if status.startswith("MAINT"):
        return "maint"
    if status.startswith("DRAIN"):
        return "drain"
    return "ready"


def set_state(socket_path: str, backend: str, server: str, state: str, *, timeout: float = DEFAULT_TIMEOUT) -> None:
    if state not in ("ready", "drain", "maint"):
        raise HAProxyAdminError(f"unknown server state {state!r}")
    silent_command(socket_path, f"set server {backend}/{server} state {state}", timeout=timeout)


def save_server_states(socket_path: str, path: str, *, timeout: float = DEFAULT_TIMEOUT) -> int:
    """Write ``show servers state`` to ``path`` (the config's server-state-file); returns the servers saved.

    Through a temp file in the same directory and a rename: a reload never reads half a file.
    """
    text = command(socket_path, "show servers state", timeout=timeout)
    if text.lstrip().split("\n", 1)[0].strip() != "1":  # the file format's version line
        raise HAProxyAdminError(f"'show servers state' on {socket_path} answered: {text.strip()[:200]}")
    directory = os.path.dirname(path) or "."
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{os.getpid()}")
    with open(tmp, "w") as out:
        out.write(text)
    os.replace(tmp, path)
    return sum(1 for line in text.splitlines()[2:] if line.strip() and not line.startswith("#"))


def save_or_warn(socket_path: str, path: str | None, warn) -> None:
    """Save the server states to ``path`` (when given), calling ``warn(message)`` if that fails.

    Never fatal: failing a drain or an enable over it would leave a node half-way, which is
    worse than a reload that might lose the states before the next save.
    """
    if not path:
        return
    try:
        save_server_states(socket_path, path)
    except (OSError, HAProxyAdminError) as exc:
        warn(
            f"the server states could not be saved to {path} ({exc}): "
            "an HAProxy reload before the next save would put them back as they were"
        )


def wait_for(predicate, socket_path: str, backend: str, server: str, *, timeout: float, interval: float = 0.05):
    """Poll the server's row until ``predicate(row)`` holds or ``timeout`` passes.

    Returns ``(row, satisfied)``: the last row read and whether the predicate held.
    """
    deadline = time.monotonic() + timeout
    while True:
        row = server_stat(socket_path, backend, server)
        if predicate(row):
            return row, True
        if time.monotonic() >= deadline:
            return row, False
        time.sleep(interval)


# --- maintenance mode ----------------------------------------------------------------------------
# The frontend answers every request itself with a 503 while the maintenance map holds the key
# `on` (haproxy.cfg: `http-request return ... if { str(on),map(<map>) -m found }`); `message`
# (the page's text) and `retry_after` (seconds, the Retry-After header) come from the same map.
# The map is changed through the admin socket (at once, no reload) and written to its file (a
# reload reads the file). Map values travel percent-encoded (the CLI splits on spaces and ';'),
# and the template decodes them with url_dec; the text is HTML-escaped first.

MAINTENANCE_KEYS = ("message", "retry_after", "on")


def maintenance_map_text(message: str, retry_after: int) -> str:
    """The map file's content while maintenance is on."""
    encoded = urllib.parse.quote(html.escape(message), safe="")
    return f"message {encoded}\nretry_after {int(retry_after)}\non 1\n"


def parse_maintenance_map(text: str) -> dict | None:
    """{'message', 'retry_after'} from a map file's or `show map`'s text; None when it is off."""
    entries = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 2 and fields[0].startswith("0x"):  # `show map`: <ref> <key> <value>
            fields = fields[1:]
        if len(fields) == 2 and fields[0] in MAINTENANCE_KEYS:
            entries[fields[0]] = fields[1]
    if "on" not in entries:
        return None
    try:
        retry_after = int(entries.get("retry_after", "0"))
    except ValueError:
        retry_after = 0
    return {"message": html.unescape(urllib.parse.unquote(entries.get("message", ""))), "retry_after": retry_after}


def maintenance(socket_path: str, map_path: str, *, timeout: float = DEFAULT_TIMEOUT) -> dict | None:
    """What the running HAProxy answers with now: {'message', 'retry_after'}, or None (serving)."""
    reply = command(socket_path, f"show map {map_path}", timeout=timeout)
    if reply.startswith("Unknown map") or "Unknown" in reply.split("\n", 1)[0]:
        raise HAProxyAdminError(
            f"HAProxy does not know the map {map_path}: its haproxy.cfg has no maintenance "
            "rule (render it again with the haproxy role, then reload)"
        )
    return parse_maintenance_map(reply)


def set_maintenance(socket_path: str, map_path: str, text: str, *, timeout: float = DEFAULT_TIMEOUT) -> None:
    """Make the running HAProxy's map hold what ``text`` (a map file's content) holds.

    The page's entries change before `on` is added, and `on` goes first when it is turned off:
    no request sees the page without its message.
    """
    wanted = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) == 2:
            wanted[fields[0]] = fields[1]
    if "on" not in wanted:
        for key in ("on", "message", "retry_after"):
            reply = command(socket_path, f"del map {map_path} {key}", timeout=timeout).strip()
            if reply and "not found" not in reply.lower():
                raise HAProxyAdminError(f"HAProxy refused 'del map {map_path} {key}': {reply}")
        return
    for key in ("message", "retry_after", "on"):
        # set changes an entry in place (no moment without it); add makes a missing one
        reply = command(socket_path, f"set map {map_path} {key} {wanted[key]}", timeout=timeout).strip()
        if reply:
            silent_command(socket_path, f"add map {map_path} {key} {wanted[key]}", timeout=timeout)


# --- per-request evidence ----------------------------------------------------------------------
# The frontend logs every request to a ring buffer (as well as to syslog, in HAProxy's own
# httplog format), and the admin socket reads it back: `show events <ring>` prints what the ring
# holds, `show events <ring> -w -n` follows new requests as they end. Nothing beyond HAProxy.
# A line: 127.0.0.1:45678 [27/Nov/2026:16:00:00.123] web app/node1 0/0/0/12/13 200 536 - - ...
#         client          accepted                  fe  backend/server TR/Tw/Tc/Tr/Ta status

_REQUEST_LINE = re.compile(
    r"^\S+ \[(\d\d)/(\w{3})/(\d{4}):(\d\d):(\d\d):(\d\d)\.(\d{3})\] \S+ ([^/\s]+)/(\S+) "
    r"-?\d+/-?\d+/-?\d+/(-?\d+)/\+?-?\d+ (-?\d+) "
)
# captured request headers, between the counters and the request line: {a|b}; the haproxy
# role's frontend captures X-Orchestrator-Probe first (the server a bake's probe asks for)
_CAPTURED = re.compile(r" \{([^}]*)\} ")
_MONTHS = {
    m: i
    for i, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), start=1)
}


@dataclass(frozen=True)
class Request:
    """One request HAProxy answered: when it was accepted (epoch seconds, the load balancer's
    clock), the backend and server that answered, the status and the server's response time
    (``Tr``, ms; -1 when the server never answered)."""

    accepted: float
    backend: str
    server: str
    status: int
    response_ms: int
    probe: bool = False  # sent by a bake's probe (its X-Orchestrator-Probe header, captured)


def parse_request(line: str) -> Request | None:
    """A request from an httplog line, or None for any other line."""
    m = _REQUEST_LINE.match(line)
    if not m or m.group(2) not in _MONTHS:
        return None
    day, month, year, hh, mm, ss, ms = (
        m.group(1),
        _MONTHS[m.group(2)],
        m.group(3),
        m.group(4),
        m.group(5),
        m.group(6),
        m.group(7),
    )
    accepted = time.mktime((int(year), month, int(day), int(hh), int(mm), int(ss), 0, 0, -1)) + int(ms) / 1000
    captured = _CAPTURED.search(line, m.end())
    probe = captured is not None and captured.group(1).split("|")[0] != ""
    return Request(accepted, m.group(8), m.group(9), int(m.group(11)), int(m.group(10)), probe)


def _ring_error(reply: str, ring: str) -> None:
    if reply.startswith("No such event sink"):
        raise HAProxyAdminError(
            f"HAProxy has no ring '{ring}' to read requests from: render its configuration "
            f"with the haproxy role (orchestrator apply, or the playbook orchestrator.fleet.provision)"
        )


def recent_requests(socket_path: str, ring: str, *, timeout: float = DEFAULT_TIMEOUT) -> list[Request]:
    """Every request the ring still holds, oldest first."""
    reply = command(socket_path, f"show events {ring}", timeout=timeout)
    _ring_error(reply, ring)
    return [r for r in map(parse_request, reply.splitlines()) if r is not None]


class RequestStream:
    """Follow the requests logged to ``ring`` from now on (``show events <ring> -w -n``).

    ``read(seconds)`` returns the requests that ended meanwhile. A connection the CLI closes
    (its idle timeout, a reload) is opened again; the requests in between are missed, which a
    sample can afford.
    """

    def __init__(self, socket_path: str, ring: str):
        self.socket_path, self.ring = socket_path, ring
        self.sock: socket.socket | None = None
        self.pending = b""

    def _open(self) -> socket.socket:
        self.sock, self.pending = send(self.socket_path, f"show events {self.ring} -w -n"), b""
        return self.sock

    def read(self, seconds: float) -> list[Request]:
        deadline = time.monotonic() + seconds
        found: list[Request] = []
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return found
            sock = self.sock if self.sock is not None else self._open()
            sock.settimeout(min(left, 1.0))
            try:
                chunk = sock.recv(262144)
            except socket.timeout:  # TimeoutError only from Python 3.10 on
                continue
            except OSError:
                chunk = b""
            if not chunk:
                self.close()
                time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))
                continue
            lines = (self.pending + chunk).split(b"\n")
            self.pending = lines.pop()
            for raw in lines:
                line = raw.decode(errors="replace")
                _ring_error(line, self.ring)
                request = parse_request(line)
                if request is not None:
                    found.append(request)

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def __enter__(self) -> RequestStream:
        self._open()
        return self

    def __exit__(self, *exc) -> None:
        self.close()
