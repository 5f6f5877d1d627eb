"""The quick start's demo, run as the README says (on a net and in a directory of its own):
a push goes live, under the light load it promises, judged on real requests."""

from __future__ import annotations

import json
import subprocess

from orchestrator.sandbox import cluster as sandbox
from tests.conftest import ROOT, run_cli
from tests.support.load import LoadReport

DEMO_NET = 13


def test_the_demo_pushes_a_version_live_under_its_light_load_judged_on_real_requests(tmp_path):
    box = tmp_path / "demo"
    try:
        # When the demo runs
        demo = subprocess.run(
            [ROOT / "scripts" / "sandbox-demo", "--dir", box, "--net", str(DEMO_NET), "--no-setup"],
            capture_output=True,
            text=True,
            timeout=600,
        )
        # Then the pushed version is live on every node
        assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
        assert "every node on version 2" in demo.stdout, demo.stdout[-3000:]
        # (the watcher served the dashboard beside it: its /metrics counted the deploy)
        assert 'orchestrator_deploys_total{outcome="deployed",strategy="rolling"}' in demo.stdout, demo.stdout[-2000:]
        # under about 100 requests/s (not wrk's flat-out thousands), none failed
        load = LoadReport.parse((box / "load.log").read_text())
        rate = load.requests / load.duration_s
        assert 50 <= rate <= 150, load.line()
        assert load.failed == 0, load.line()
        # and the release's verdict was a pass on the users' requests, not the probe's alone
        history = run_cli("history", "--config", box / "orchestrator.toml", "--json", "--limit", "1")
        release = json.loads(history.stdout.splitlines()[0])["release_id"]
        shown = run_cli("releases", "show", release, "--json", "--config", box / "orchestrator.toml")
        verdicts = json.loads(shown.stdout)["verdicts"]
        canary = next(v["report"] for v in verdicts if v["report"].get("mode") == "verdict")
        assert canary["verdict"] == "pass", canary["summary"]
        assert canary["new_requests"] > canary["probe_requests"]["new"], canary
    finally:
        if (box / "sandbox.json").exists():
            sandbox.down(sandbox.Sandbox.load(box))
