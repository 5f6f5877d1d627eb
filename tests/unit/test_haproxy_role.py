"""The haproxy role's systemd drop-in: haproxy.service's reload saves the server states first,
then does what Debian's own unit does."""

from __future__ import annotations

from pathlib import Path

import jinja2
import yaml

ROOT = Path(__file__).resolve().parents[2]
COLLECTION = ROOT / "ansible_collections" / "orchestrator" / "fleet"
UNIT = Path("/lib/systemd/system/haproxy.service")  # from Debian's haproxy package


def exec_reload(text: str) -> list[str]:
    return [line.split("=", 1)[1] for line in text.splitlines() if line.startswith("ExecReload=")]


def test_the_drop_in_saves_states_then_reloads_as_debians_unit_does():
    defaults = yaml.safe_load((COLLECTION / "roles/haproxy/defaults/main.yml").read_text())
    template = jinja2.Template((COLLECTION / "roles/haproxy/templates/haproxy-server-state.conf.j2").read_text())
    rendered = template.render(ansible_managed="managed", **defaults)
    reload = exec_reload(rendered)
    # the package's ExecReload lines are reset, the save comes first (a failed save, '-', never
    # refuses the reload), then the package's own check and signal, unchanged
    assert reload[0] == ""
    assert reload[1] == (
        f"-{defaults['haproxy_save_state_command']} {defaults['haproxy_socket']} "
        f"{defaults['haproxy_server_state_file']}"
    )
    assert reload[2:] == exec_reload(UNIT.read_text())
    assert (COLLECTION / "roles/haproxy/files/haproxy-save-server-state").stat().st_mode & 0o111
