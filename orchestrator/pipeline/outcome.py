"""How a deploy's record ends: rejected at a stage, refused, failed or deployed, then told."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from orchestrator.errors import OrchestratorError
from orchestrator.pipeline.report import Reporter
from orchestrator.records.history import History
from orchestrator.records.lock import LockBusy


class StageFailed(OrchestratorError):
    """A pipeline stage failed; nothing was deployed."""

    def __init__(self, stage: str, message: str, tail: str = "", *, exit_code: int = 1):
        super().__init__(f"{stage} failed: {message}")
        self.stage, self.tail, self.exit_code = stage, tail, exit_code


class ContractFailed(OrchestratorError):
    """The release is live on every node, but its contract migrations failed (recorded; exit 1).

    The next deploy runs the contract phase again: the migrations still pending are applied then.
    """

    tail = ""  # the contract command's output, as a StageFailed's


@dataclass
class Stage:
    """Where the work inside ``recorded`` has got to: a failure is recorded at this stage."""

    name: str = "start"

    def reach(self, name: str) -> None:
        self.name = name


@contextmanager
def recorded(history: History, deploy_id: int, report: Reporter | None = None) -> Iterator[Stage]:
    """Record how the work inside ends: rejected at a stage, refused, failed, or deployed; then tell
    it (``report``'s deploy_finished notification). The work says which stage it is at on the
    Stage it is given."""
    where = Stage()
    try:
        yield where
    except StageFailed as exc:
        finish(history, deploy_id, "rejected", exc.stage, str(exc), exc.tail)
        raise
    except LockBusy as exc:
        finish(history, deploy_id, "refused", "lock", str(exc), "")
        raise
    except ContractFailed:
        raise  # the deploy went through and said so
    except OrchestratorError as exc:
        finish(history, deploy_id, "failed", where.name, str(exc), "")
        raise
    except BaseException as exc:
        finish(history, deploy_id, "failed", where.name, f"{type(exc).__name__}: {exc}", "")
        raise
    finally:
        if report is not None:
            report.tell_finished(history, deploy_id)


def finish(history: History, deploy_id: int, outcome: str, stage: str, message: str, output_tail: str) -> None:
    history.update(deploy_id, outcome=outcome, stage=stage, message=message, output_tail=output_tail)
    history.mark(deploy_id, "finished")
