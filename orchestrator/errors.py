"""The orchestrator's exceptions. Library code raises these; only the CLI prints them."""

from typing import Any


class OrchestratorError(Exception):
    """Something went wrong; the message says what and what to do. Exit code 1."""

    exit_code = 1
    # a roll that failed part-way: its rollout.roll.RolloutResult, for the caller's report
    result: Any = None


class InputError(OrchestratorError):
    """Bad input found before anything was changed: a file, a setting, an inventory. Exit code 2."""

    exit_code = 2


class DeployFailed(OrchestratorError):
    """A deploy started and failed on a node; the message names the node and the task."""


class MixedFleet(DeployFailed):
    """A deploy or rollback failed and the fleet is left on more than one release. Exit code 5."""

    exit_code = 5


class SandboxError(OrchestratorError):
    """The local sandbox could not be set up, reached or stopped."""


class FleetShort(DeployFailed):
    """A deploy failed and a node's rescue could not bring its previous release back: it is out
    of rotation with nothing serving. Exit code 5, like a mixed fleet: the fleet needs hands."""

    exit_code = 5
