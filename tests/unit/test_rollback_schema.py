"""A rollback is refused to a release the schema no longer fits: the ledger's contracts decide."""

import pytest

from orchestrator.pipeline.rollback import SchemaMovedOn, refuse_if_schema_moved_on
from orchestrator.records.history import History


@pytest.fixture
def history(tmp_path):
    h = History(tmp_path)
    yield h
    h.close()


def released(history: History, release_id: str, files: list[str] | None) -> None:
    history.set_release(release_id, "deployed", version=release_id[0])
    if files is not None:
        history.set_schema(release_id, files=files)


def test_a_release_from_before_a_contract_that_ran_is_refused_naming_it(history):
    # Given release 3's deploy ran the contract that release 2's revision did not have
    released(history, "2-b", ["001-a.expand.sql", "002-b.expand.sql"])
    released(history, "3-c", ["001-a.expand.sql", "002-b.expand.sql", "003-drop.contract.sql"])
    history.record_contracts(7, "3-c", ["003-drop.contract.sql"])
    # Then going back to release 2 is refused, naming the migration, who ran it and the way out
    with pytest.raises(SchemaMovedOn) as exc:
        refuse_if_schema_moved_on(history, history.release("2-b"))
    message = str(exc.value)
    assert "rollback to 2-b refused: contract migration 003-drop.contract.sql ran with 3-c (deploy #7)" in message
    assert "--force" in message and exc.value.exit_code == 2
    # and release 3 itself (its revision has the migration) is not
    refuse_if_schema_moved_on(history, history.release("3-c"))


def test_without_contracts_every_rollback_is_allowed(history):
    released(history, "1-a", None)  # deployed before migrations were known
    released(history, "2-b", ["001-a.expand.sql", "002-b.expand.sql"])
    history.record_contracts(3, "2-b", [])  # a contract phase with nothing to do
    refuse_if_schema_moved_on(history, history.release("1-a"))


def test_a_release_whose_migrations_are_unknown_predates_every_contract(history):
    released(history, "1-a", None)
    released(history, "4-d", ["009-x.contract.sql"])
    history.record_contracts(9, "4-d", ["009-x.contract.sql"])
    with pytest.raises(SchemaMovedOn, match="009-x.contract.sql"):
        refuse_if_schema_moved_on(history, history.release("1-a"))
