"""From a revision or a WAR to a release live on the fleet.

revision (export, build, test, then deploy), deploy (one WAR under the deploy lock, migrations
around the roll, the outcome recorded), stages (orchestrator.toml's commands), outcome (how a
deploy's record ends), report (what a pipeline says and notifies), rollback (every way back to
an earlier release: `rollback`, `recover`), migrations (a release's schema changes, checked).

The names below are the part's face: callers use these, the modules use each other directly.
"""

from orchestrator.pipeline.deploy import deploy_given_war, deploy_war
from orchestrator.pipeline.outcome import ContractFailed, StageFailed, recorded
from orchestrator.pipeline.report import Reporter, notifier_for, reporting
from orchestrator.pipeline.revision import Trigger, run

__all__ = [
    "ContractFailed",
    "Reporter",
    "StageFailed",
    "Trigger",
    "deploy_given_war",
    "deploy_war",
    "notifier_for",
    "recorded",
    "reporting",
    "run",
]
