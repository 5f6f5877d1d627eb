"""Reading a release's migrations and checking its commands: pure file-system logic."""

import os
from pathlib import Path

import pytest

from orchestrator.config import Migrate
from orchestrator.errors import InputError
from orchestrator.pipeline import migrations
from tests.unit.test_config import GOOD, MIGRATE


def tree(tmp_path: Path, *names: str) -> Path:
    directory = tmp_path / "db" / "migrations"
    directory.mkdir(parents=True)
    for name in names:
        (directory / name).write_text("SELECT 1;\n")
    return directory


def test_migrations_are_ordered_by_number_and_split_by_phase(tmp_path):
    schema = migrations.read(
        tree(tmp_path, "10-drop-old.contract.sql", "2-add-b.expand.sql", "001-create.expand.sql", "README.md")
    )
    assert schema.files == ["001-create.expand.sql", "2-add-b.expand.sql", "10-drop-old.contract.sql"]
    assert [m.file for m in schema.of("contract")] == ["10-drop-old.contract.sql"]
    assert (schema.expand_version, schema.version) == (2, 10)


def test_no_migrations_is_schema_zero(tmp_path):
    schema = migrations.read(tree(tmp_path))
    assert (schema.files, schema.expand_version, schema.version) == ([], 0, 0)


@pytest.mark.parametrize("name", ["003-add-note.sql", "003-add-note.migrate.sql", "add-note.expand.sql"])
def test_a_file_marked_neither_expand_nor_contract_is_refused_by_name(tmp_path, name):
    directory = tree(tmp_path, "001-create.expand.sql", name)
    with pytest.raises(InputError) as exc:
        migrations.read(directory)
    assert f"{directory / name}: a migration's name says its number and its phase" in str(exc.value)
    assert "NNN-what-it-does.expand.sql" in str(exc.value)


def test_two_migrations_with_one_number(tmp_path):
    with pytest.raises(InputError, match="migration number 2 is also 002-a.expand.sql"):
        migrations.read(tree(tmp_path, "002-a.expand.sql", "2-b.contract.sql"))


def test_a_missing_directory(tmp_path):
    with pytest.raises(InputError, match="is not a directory of migrations"):
        migrations.read(tmp_path / "nope")


def test_commands_are_looked_up_in_the_tree_or_on_path(tmp_path):
    script = tmp_path / "db" / "migrate"
    script.parent.mkdir()
    script.write_text("#!/bin/sh\n")
    with pytest.raises(InputError, match="is not executable; chmod"):
        migrations.check_command("db/migrate expand", tmp_path, field="[migrate] expand")
    script.chmod(0o755)
    migrations.check_command("FOO=1 db/migrate expand", tmp_path, field="[migrate] expand")
    migrations.check_command("sh -c 'exit 0'", tmp_path, field="[migrate] expand")
    with pytest.raises(InputError, match=r"\[migrate\] expand = 'flyway-nope migrate': flyway-nope is not on PATH"):
        migrations.check_command("flyway-nope migrate", tmp_path, field="[migrate] expand")
    with pytest.raises(InputError, match="does not exist; fix the command"):
        migrations.check_command("db/other expand", tmp_path, field="[migrate] expand")


def test_the_environment_file(tmp_path):
    env = tmp_path / "db.env"
    env.write_text("# the database\nPGHOST=db1\nexport PGUSER='app'\n\nPGPASSFILE=\"/etc/pgpass\"\n")
    assert migrations.read_environment(env) == {"PGHOST": "db1", "PGUSER": "app", "PGPASSFILE": "/etc/pgpass"}
    env.write_text("PGHOST db1\n")
    with pytest.raises(InputError, match=r"db.env, line 1: not a KEY=VALUE line"):
        migrations.read_environment(env)


def test_a_plan_checks_the_tree_and_hands_the_commands_their_environment(tmp_path):
    tree(tmp_path, "001-create.expand.sql")
    env = tmp_path / "db.env"
    env.write_text("PGHOST=db1\n")
    settings = Migrate("db/migrations", "true expand", "true contract", 60, env)
    plan = migrations.plan(settings, tmp_path)
    command_env = plan.command_env(dict(os.environ), "expand")
    assert command_env["PGHOST"] == "db1" and command_env["ORCHESTRATOR_MIGRATE_PHASE"] == "expand"
    assert command_env["ORCHESTRATOR_MIGRATIONS"] == str(tmp_path / "db" / "migrations")
    with pytest.raises(InputError, match="--migrations .* is not a directory"):
        migrations.plan(settings, tmp_path / "nope")


def test_a_pushed_revision_with_an_unplaceable_migration_is_refused_before_its_build(tmp_path):
    # Given a repository whose revision holds a migration marked neither expand nor contract
    import subprocess

    from orchestrator import config as config_lib
    from orchestrator import pipeline
    from orchestrator.records.history import History

    repo = tmp_path / "repo"
    (repo / "db" / "migrations").mkdir(parents=True)
    (repo / "db" / "migrations" / "001-create.expand.sql").write_text("SELECT 1;\n")
    (repo / "db" / "migrations" / "002-oops.sql").write_text("SELECT 1;\n")
    (repo / "db" / "migrate").write_text("#!/bin/sh\n")
    (repo / "db" / "migrate").chmod(0o755)
    subprocess.run(["hg", "init", str(repo)], check=True)
    subprocess.run(["hg", "commit", "-q", "-A", "-m", "a migration without a phase", "-u", "t"], cwd=repo, check=True)
    # the unit tests' good configuration, building nothing but a mark that the build ran
    (tmp_path / "orchestrator.toml").write_text(
        GOOD.format(repo=repo).replace('command = "./build.sh"', f'command = "touch {tmp_path}/built"') + MIGRATE
    )
    config = config_lib.load(tmp_path / "orchestrator.toml")
    history = History(config.state_dir)
    try:
        # When the pipeline takes it
        with pytest.raises(pipeline.StageFailed) as exc:
            pipeline.run(config, pipeline.Trigger("manual", revision="tip"), history=history)
        # Then it is refused at stage migrate (exit 2), naming the file, and nothing was built
        assert exc.value.exit_code == 2 and "002-oops.sql" in str(exc.value)
        record = history.list(1)[0]
        assert (record.outcome, record.stage, record.times["built"]) == ("rejected", "migrate", None)
        assert not (tmp_path / "built").exists()
    finally:
        history.close()
