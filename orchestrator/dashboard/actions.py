"""What the dashboard lets an operator do, and who may: pause, resume, abort, promote, rollback,
maintenance on and off.

Only with the token ([dashboard] token_file). A script sends it as ``Authorization: Bearer
<token>`` (and its name in ``X-Orchestrator-User``); a browser signs in once with it and a name,
and gets a session cookie (HttpOnly, SameSite=Strict) holding the name and an HMAC of it under
the token, never the token. A browser's POST must also carry the page's CSRF value (a form
field, or the ``X-CSRF-Token`` header), an HMAC of its session: another site can make a browser
send the cookie, not read the value. No credentials: 401; wrong ones, or no CSRF value: 403.
Every action asked, done or refused, is kept in the history with who asked.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from orchestrator.control import gatekeeper as control
from orchestrator.control import maintenance as maintenance_lib
from orchestrator.errors import OrchestratorError

VERBS = ("pause", "resume", "abort", "promote", "rollback", "maintenance-on", "maintenance-off")
COOKIE = "orchestrator_session"
MAX_NAME = 60


class Refused(Exception):
    """The request may not act: ``status`` 401 (no credentials) or 403 (wrong ones, no CSRF value)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Gatekeeper:
    """Checks credentials against the token (None: actions are off, the dashboard is read-only)."""

    token: str | None

    @property
    def enabled(self) -> bool:
        return self.token is not None

    def _mac(self, purpose: str, value: str) -> str:
        assert self.token is not None
        return hmac.new(self.token.encode(), f"{purpose}:{value}".encode(), hashlib.sha256).hexdigest()

    # --- a browser's session ---

    def session_for(self, token: str, name: str) -> str:
        """The cookie value for someone who gave the token and a name; Refused(403) for a wrong token."""
        if self.token is None:
            raise Refused(403, "actions are off: set [dashboard] token_file in orchestrator.toml")
        if not hmac.compare_digest(token.strip().encode(), self.token.encode()):
            raise Refused(403, "wrong token")
        name = " ".join(name.split())[:MAX_NAME] or "someone"
        encoded = base64.urlsafe_b64encode(name.encode()).decode()
        return f"{encoded}.{self._mac('session', encoded)}"

    def session_name(self, cookie: str | None) -> str | None:
        """The name in a valid session cookie, else None."""
        if not self.enabled or not cookie or "." not in cookie:
            return None
        encoded, mac = cookie.rsplit(".", 1)
        if not hmac.compare_digest(mac, self._mac("session", encoded)):
            return None
        try:
            return base64.urlsafe_b64decode(encoded.encode()).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None

    def csrf_for(self, cookie: str | None) -> str:
        return self._mac("csrf", cookie or "")[:40] if self.enabled and cookie else ""

    # --- a request to act ---

    def who(self, *, authorization: str | None, cookie: str | None, csrf: str | None, user: str | None) -> str:
        """The name of who asks, if the request may act; Refused otherwise."""
        if self.token is None:
            raise Refused(403, "actions are off: set [dashboard] token_file in orchestrator.toml to allow them")
        if authorization:
            scheme, _, given = authorization.partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), self.token.encode()):
                raise Refused(403, "wrong token")
            return " ".join((user or "a script").split())[:MAX_NAME]
        name = self.session_name(cookie)
        if name is None:
            if cookie:
                raise Refused(403, "the session is not valid (the token changed?): sign in again")
            raise Refused(401, "sign in with the token first (or send Authorization: Bearer <token>)")
        if not csrf or not hmac.compare_digest(csrf.encode(), self.csrf_for(cookie).encode()):
            raise Refused(403, "the form's CSRF value is missing or wrong: reload the page and try again")
        return name


@dataclass(frozen=True)
class Fleet:
    """What the actions act on."""

    inventory: Path
    state_dir: Path
    config_path: Path | None


def act(verb: str, fleet: Fleet, by: str, params: dict[str, str]) -> str:
    """Do ``verb``; returns what the orchestrator answers (OrchestratorError when it refuses)."""
    if verb == "pause":
        return control.pause(fleet.state_dir, by)
    if verb == "resume":
        return control.resume(fleet.state_dir, by)
    if verb == "abort":
        return control.abort(fleet.state_dir, by)
    if verb == "promote":
        return control.promote(fleet.state_dir, by)
    if verb == "maintenance-on":
        message = params.get("message") or "Down for maintenance. Back soon."
        try:
            retry_after = int(params.get("retry_after") or 300)
        except ValueError:
            raise OrchestratorError("retry_after must be a whole number of seconds") from None
        maintenance_lib.turn(fleet.inventory, fleet.state_dir, on=True, message=message, retry_after=retry_after, by=by)
        return f"maintenance on: every request gets a 503 with {message!r} (Retry-After {retry_after})"
    if verb == "maintenance-off":
        maintenance_lib.turn(fleet.inventory, fleet.state_dir, on=False, by=by)
        return "maintenance off: serving again"
    if verb == "rollback":
        return start_rollback(fleet, by, params.get("to") or None)
    raise ValueError(verb)


def start_rollback(fleet: Fleet, by: str, to: str | None) -> str:
    """A rollback runs as long as a deploy: started as `orchestrator rollback --no-wait` in a
    process of its own (it takes the deploy lock, records itself in the history, outlives a
    restart of the dashboard); its output goes to <state dir>/dashboard/rollback-<time>.log."""
    if to is not None and not all(c.isalnum() or c in "-._" for c in to):
        raise OrchestratorError(f"{to!r} is not a release id (e.g. 2-4bae3fd96280)")
    logs = fleet.state_dir / "dashboard"
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"rollback-{time.strftime('%Y%m%dT%H%M%S')}.log"
    command = [sys.executable, "-m", "orchestrator", "rollback", "--no-wait"]
    command += ["--inventory", str(fleet.inventory), "--state-dir", str(fleet.state_dir)]
    if fleet.config_path is not None:
        command += ["--config", str(fleet.config_path)]
    if to:
        command += ["--to", to]
    with open(log, "ab") as out:
        out.write(f"rollback asked by {by} from the dashboard\n".encode())
        out.flush()
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    # reaped when it ends (the dashboard outlives it; no zombie left behind)
    threading.Thread(target=process.wait, name=f"rollback-{process.pid}", daemon=True).start()
    return f"rollback started (pid {process.pid}{', to ' + to if to else ''}): it shows on /deploys; its output is in {log}"
