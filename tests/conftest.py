"""Shared fixtures: the sample WARs, built once per test session with the JDK."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# the Ansible content: roles, modules and playbooks (the collection orchestrator.fleet)
COLLECTION = ROOT / "ansible_collections" / "orchestrator" / "fleet"
sys.path.insert(0, str(ROOT))  # tests.support, shared with the benchmarks

from tests.support.cli import orchestrator_command  # noqa: E402

BUILD = ROOT / "examples" / "webapp" / "build.sh"


INTEGRATION = Path(__file__).resolve().parent / "integration"


def pytest_collection_modifyitems(config, items):
    """Everything under tests/integration/ needs the real servers: marked so, ``-m "not
    integration"`` runs the unit tests alone (about half a minute)."""
    for item in items:
        if INTEGRATION in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.integration)


def pytest_configure(config):
    # SIGTERM (a CI timeout, a stopped job) unwinds like Ctrl-C, so fixtures stop the servers
    # they started instead of leaving them running.
    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupt)


# Every test build is stamped with one time, as the pipeline stamps a revision's build with its
# commit's: the same version built twice is the same release, so a test that finds the fleet
# already on it does not roll it again.
BUILT_AT = "1790000000"


def build_war(out: Path, version: str, *flags: str) -> Path:
    env = dict(os.environ, SOURCE_DATE_EPOCH=os.environ.get("SOURCE_DATE_EPOCH", BUILT_AT))
    subprocess.run(
        [str(BUILD), "--version", version, "--out", str(out), *flags], check=True, stdout=subprocess.DEVNULL, env=env
    )
    return out


@pytest.fixture(scope="session")
def wars(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("wars")
    # javac is most of a build and uses one core: two at a time take half as long on two cores
    with ThreadPoolExecutor(max_workers=2) as pool:
        building = {
            "v1": pool.submit(build_war, d / "app-1.war", "1"),
            "v2": pool.submit(build_war, d / "app-2.war", "2"),
            "broken": pool.submit(build_war, d / "app-3-broken.war", "3", "--health-fail"),
            # pass their health check, then misbehave under real traffic
            "errors": pool.submit(build_war, d / "app-4-errors.war", "4", "--error-every", "5"),
            "slow": pool.submit(build_war, d / "app-5-slow.war", "5", "--delay-ms", "300"),
            "all500": pool.submit(build_war, d / "app-8-all500.war", "8", "--error-every", "1"),
        }
        return {name: future.result() for name, future in building.items()}


def run_cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """The real console entry point, in a child process, as an operator runs it."""
    return subprocess.run(orchestrator_command(*args), capture_output=True, text=True, timeout=timeout)
