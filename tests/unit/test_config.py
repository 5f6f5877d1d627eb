import subprocess

import pytest

from orchestrator.config import load
from orchestrator.errors import InputError

GOOD = """
[source]
repository = "{repo}"
branch = "default"
[spool]
directory = "spool"
[build]
command = "./build.sh"
artifact = "build/*.war"
[test]
command = "./test.sh"
[deploy]
inventory = "inventory"
state_directory = "state"
"""


@pytest.fixture
def repo(tmp_path):
    subprocess.run(["hg", "init", str(tmp_path / "repo")], check=True)
    return tmp_path / "repo"


def write(tmp_path, text):
    path = tmp_path / "orchestrator.toml"
    path.write_text(text)
    return path


def test_a_good_config_with_relative_paths(tmp_path, repo):
    config = load(write(tmp_path, GOOD.format(repo=repo)))
    assert config.spool == tmp_path / "spool"
    assert config.build.timeout == 600 and config.rescan_seconds == 5
    assert config.vcs == "hg"


@pytest.mark.parametrize(
    "edit, message",
    [
        (
            lambda t: t.replace('command = "./build.sh"\n', ""),
            '[build] command is missing; add command = "./build.sh" under [build]',
        ),
        (lambda t: t.replace('branch = "default"', "branch = 7"), "[source] branch is 7 (int), not a str"),
        (
            lambda t: t.replace('command = "./test.sh"', 'command = "./test.sh"\ntimeout = -1'),
            "[test] timeout is -1.0; give a number of seconds above 0",
        ),
        (
            lambda t: t.replace('artifact = "build/*.war"', 'artifact = "../*.war"'),
            "give a glob inside the exported revision",
        ),
        (lambda t: t.replace("[deploy]", "[deploy\n"), "is not valid TOML"),
    ],
)
def test_bad_fields_name_file_field_and_fix(tmp_path, repo, edit, message):
    path = write(tmp_path, edit(GOOD.format(repo=repo)))
    with pytest.raises(InputError) as exc:
        load(path)
    assert str(path) in str(exc.value)
    assert message in str(exc.value)


def test_repository_that_is_not_one(tmp_path):
    path = write(tmp_path, GOOD.format(repo=tmp_path))
    with pytest.raises(InputError, match="is not a Mercurial or git repository"):
        load(path)


def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="does not exist: pass --config"):
        load(tmp_path / "none.toml")


MIGRATE = """
[migrate]
directory = "db/migrations"
expand = "db/migrate expand"
contract = "db/migrate contract"
"""


def test_migrate_is_optional_and_read_with_its_defaults(tmp_path, repo):
    assert load(write(tmp_path, GOOD.format(repo=repo))).migrate is None
    migrate = load(write(tmp_path, GOOD.format(repo=repo) + MIGRATE)).migrate
    assert (migrate.directory, migrate.timeout, migrate.environment) == ("db/migrations", 300, None)
    assert migrate.command("contract").command == "db/migrate contract"


@pytest.mark.parametrize(
    "extra, message",
    [
        ("timeout = 0\n", "[migrate] timeout is 0.0; give a number of seconds above 0"),
        ("timeout = 100000\n", "[migrate] timeout is 100000; give at most 86400 seconds"),
        (
            'password = "hunter2"\n',
            "[migrate] password is not a setting of [migrate]; use directory, expand, contract, "
            "timeout, environment; database passwords go in the file named by environment",
        ),
        ('environment = "missing.env"\n', "which does not exist; create it with the database settings"),
    ],
)
def test_bad_migrate_settings_name_the_field_and_the_fix(tmp_path, repo, extra, message):
    path = write(tmp_path, GOOD.format(repo=repo) + MIGRATE + extra)
    with pytest.raises(InputError) as exc:
        load(path)
    assert str(path) in str(exc.value) and message in str(exc.value)


def test_a_migrations_directory_outside_the_revision(tmp_path, repo):
    path = write(tmp_path, GOOD.format(repo=repo) + MIGRATE.replace('"db/migrations"', '"../db"'))
    with pytest.raises(InputError, match=r"\[migrate\] directory is '../db'; give a directory inside the revision"):
        load(path)


NOTIFY = """
[notify]
urls = ["https://chat.example.com/hooks/T0KEN"]
"""


def test_notify_takes_its_defaults_and_names_each_mistake(tmp_path, repo):
    settings = load(write(tmp_path, GOOD.format(repo=repo) + NOTIFY)).notify
    assert settings.urls == ("https://chat.example.com/hooks/T0KEN",) and settings.secret_file is None
    assert settings.events == (
        "deploy_started",
        "node_switched",
        "release_rejected",
        "deploy_finished",
        "rolled_back",
        "paused",
    )
    assert (settings.timeout, settings.retries) == (5, 3)
    for extra, said in [
        ('token = "x"\n', "[notify] token is not a setting of [notify]"),
        ("retries = 11\n", "[notify] retries is 11"),
        ("timeout = 120\n", "[notify] timeout is 120"),
        ('secret_file = "nowhere"\n', "[notify] secret_file is"),
    ]:
        with pytest.raises(InputError, match=None) as raised:
            load(write(tmp_path, GOOD.format(repo=repo) + NOTIFY + extra))
        assert said in str(raised.value), str(raised.value)
    with pytest.raises(InputError, match="urls is empty"):
        load(write(tmp_path, GOOD.format(repo=repo) + "[notify]\nurls = []\n"))
