"""Where a node keeps its releases, in one place: the webapp_release, webapp_install and
webapp_slot modules build every path from here, and the roles take them from those modules'
results (ship.yml copies the WAR to webapp_release's ``war``).

    <root>/releases/<release>/app.war        the WAR as shipped
    <root>/releases/<release>/release.json   its id, version and sha256
    <root>/current  -> releases/<release>     what the node runs (with slots: its live slot's)
    <root>/previous -> releases/<release>     what it ran before (reconcile.yml goes back to it)
    <root>/slots/<slot> -> ../releases/<release>, <root>/live-slot -> <slot>   (blue/green)

Standard library only (see __init__.py).
"""

from __future__ import annotations

import json
import os

RELEASES = "releases"


def bad_name(release: str) -> str | None:
    """Why ``release`` cannot name a directory of releases/, or None when it can."""
    if "/" in release or release in ("", ".", ".."):
        return f"release id {release!r} is not a plain name"
    return None


def release_dir(root: str, release: str) -> str:
    return os.path.join(root, RELEASES, release)


def war(root: str, release: str) -> str:
    return os.path.join(release_dir(root, release), "app.war")


def description(root: str, release: str) -> str:
    return os.path.join(release_dir(root, release), "release.json")


def read_description(root: str, release: str) -> dict:
    """The release's release.json, or {} when it is missing or unreadable."""
    try:
        with open(description(root, release)) as f:
            data = json.load(f)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def link_target(release: str, *, from_slots: bool = False) -> str:
    """What current/previous (or, from_slots, a slots/<slot> link) point at for ``release``."""
    return os.path.join("..", RELEASES, release) if from_slots else os.path.join(RELEASES, release)
