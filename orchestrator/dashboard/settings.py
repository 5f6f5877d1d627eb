"""The dashboard's settings: where it listens, the token that allows actions, how often it reads the fleet."""

from __future__ import annotations

import stat
from dataclasses import dataclass
from pathlib import Path

from orchestrator.errors import InputError

DEFAULT_LISTEN = "127.0.0.1:8088"
DEFAULT_REFRESH_SECONDS = 5.0


@dataclass(frozen=True)
class Listen:
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True)
class Settings:
    """[dashboard] in orchestrator.toml (every key optional)."""

    listen: str = DEFAULT_LISTEN
    token_file: Path | None = None  # actions need the token in it; without it the dashboard is read-only
    refresh_seconds: float = DEFAULT_REFRESH_SECONDS  # the fleet is read this often while someone looks


def parse_listen(text: str, where: str = "--listen") -> Listen:
    """'127.0.0.1:8088', '[::1]:8088' or ':8088' (every address); InputError naming ``where`` otherwise."""
    host, sep, port = text.rpartition(":")
    host = host.strip("[]") if host.startswith("[") else host
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise InputError(f"{where} is {text!r}: give ADDRESS:PORT, e.g. 127.0.0.1:8088 (or :8088 for every address)")
    return Listen(host or "0.0.0.0", int(port))


def read_token(path: Path, where: str = "[dashboard] token_file") -> str:
    """The token in ``path``: the file must be the orchestrator user's alone (mode 600), and not empty."""
    try:
        mode = path.stat().st_mode
        token = path.read_text().strip()
    except OSError as exc:
        raise InputError(
            f"{where} is {path}, which cannot be read ({exc.strerror}): create it with a long random "
            f"token on one line (e.g. python3 -c 'import secrets; print(secrets.token_urlsafe(32))' > {path}; "
            f"chmod 600 {path})"
        ) from None
    if mode & 0o077:
        raise InputError(
            f"{where} is {path}, which other users can read or write (mode {stat.S_IMODE(mode):o}): "
            f"chmod 600 {path}; the token allows pause, abort and rollback"
        )
    if len(token) < 16:
        raise InputError(
            f"{where} is {path}, which holds {'no token' if not token else 'a token shorter than 16 characters'}: "
            "write a long random one (python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
        )
    return token
