"""Schema changes under load, on a real PostgreSQL: expand before the roll, contract after it.

A sandbox of its own (127.0.12.x, its database on 127.0.12.200) whose sample application
writes a visit on every page. The releases:

    1  writes node              001-create-visits.expand.sql
    2  writes node and version  002-add-version.expand.sql      (release 1 keeps serving on it)
    3  writes version           003-drop-node.contract.sql      (only once no release 2 serves)
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import pytest

from orchestrator.records.history import History
from orchestrator.sandbox import cluster as sandbox
from tests.conftest import run_cli
from tests.integration.conftest import Cluster
from tests.integration.test_push_to_live import WatcherProcess, hg
from tests.support.cli import ansible_playbook
from tests.support.load import wait_until

NET = 12
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "webapp"
MIGRATIONS = {
    "002-add-version.expand.sql": "ALTER TABLE visits ADD COLUMN version text;\n",
    "003-drop-node.contract.sql": "ALTER TABLE visits DROP COLUMN node;\n",
}
# release 4's contract: wrong at first (a typo in the column's name), fixed in release 5
DROP_AT = "004-drop-at.contract.sql"
DROP_AT_WRONG, DROP_AT_FIXED = "ALTER TABLE visits DROP COLUMN att;\n", "ALTER TABLE visits DROP COLUMN at;\n"
DEPLOY_TIMEOUT = 180


@pytest.fixture(scope="module")
def db_cluster():
    # PostgreSQL runs as the postgres user (it refuses root): its directory must be reachable,
    # which pytest's private tmp is not
    root = Path(tempfile.mkdtemp(prefix="orchestrator-migrations-"))
    root.chmod(0o711)
    box = sandbox.Sandbox(
        directory=root / "sandbox", inventory=root / "inventory", nodes=2, net=NET, bake_seconds=0, database=True
    )
    try:
        sandbox.up(box)
        yield Cluster(box, box.directory / "state")
    finally:
        sandbox.down(box)
        shutil.rmtree(root, ignore_errors=True)


def release_tree(base: Path, version: str, migrations: list[str], columns: str, schema: int) -> tuple[Path, Path]:
    """A release's source tree (the sample, its db/migrate and these migrations) and its WAR."""
    tree = base / f"tree-{version}"
    if not tree.exists():
        shutil.copytree(EXAMPLE, tree)
        for name in migrations:
            (tree / "db" / "migrations" / name).write_text(MIGRATIONS[name])
        (tree / "db" / "columns").write_text(columns + "\n")
    war = base / f"app-{version}.war"
    if not war.exists():
        subprocess.run(
            [str(tree / "build.sh"), "--version", version, "--with-jdbc", "--schema", str(schema), "--out", str(war)],
            check=True,
            capture_output=True,
        )
    return tree, war


def orchestrator(cluster: Cluster, *args: str) -> subprocess.CompletedProcess:
    return run_cli(*args, "--config", cluster.box.config, timeout=DEPLOY_TIMEOUT)


def deploy(cluster: Cluster, war: Path, tree: Path, *extra: str) -> subprocess.CompletedProcess:
    return orchestrator(cluster, "deploy", "--war", str(war), "--migrations", str(tree), *extra)


def baking(cluster: Cluster, base: Path) -> str:
    """A copy of the cluster's inventory in which each new node bakes for 2 s under real traffic."""
    inventory = base / "baking-inventory"
    if not inventory.exists():
        shutil.copytree(cluster.inventory, inventory)
        with open(inventory / "group_vars" / "appservers.yml", "a") as f:
            f.write("webapp_bake_seconds: 2\n")
    return str(inventory)


def applied(cluster: Cluster) -> list[str]:
    return cluster.box.db.psql("SELECT version || ' ' || file FROM schema_migrations ORDER BY version").splitlines()


def columns(cluster: Cluster) -> list[str]:
    return cluster.box.db.psql(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'visits' ORDER BY ordinal_position"
    ).splitlines()


def newest(cluster: Cluster):
    history = History(cluster.state_dir)
    try:
        return history.list(1)[0], {r.release_id: r for r in history.releases()}
    finally:
        history.close()


def pids(cluster: Cluster) -> dict[str, int | None]:
    return {n: cluster.tomcat_pid(n) for n in cluster.nodes}


def db_load(cluster: Cluster):
    """About 400 pages a second through HAProxy, each writing a visit and reading one."""
    return cluster.paced_load(connections=8, delay_ms=15)


def test_release_2_expands_under_release_1_and_release_3_contracts_after_the_last_bake_under_load(
    db_cluster, tmp_path_factory
):
    base = tmp_path_factory.mktemp("releases")
    # Given release 1 live, its table made by its expand migration
    tree1, war1 = release_tree(base, "1", [], "node", 1)
    done = deploy(db_cluster, war1, tree1)
    assert done.returncode == 0, done.stdout + done.stderr
    assert applied(db_cluster) == ["1 001-create-visits.expand.sql"]
    assert "visit" in db_cluster.served_through_haproxy()

    # When release 2, which adds a column in expand and writes it, is deployed under load
    tree2, war2 = release_tree(base, "2", ["002-add-version.expand.sql"], "node,version", 2)
    with db_load(db_cluster) as load:
        done = deploy(db_cluster, war2, tree2)
    # Then release 1 kept serving on the expanded schema while release 2 rolled in: nothing failed
    assert done.returncode == 0, done.stdout + done.stderr
    assert load.report.failed == 0 and load.report.requests > 1000, load.report.line()
    assert columns(db_cluster) == ["id", "at", "node", "version"]
    assert int(db_cluster.box.db.psql("SELECT count(*) FROM visits WHERE version = '2'")) > 0

    # When release 3, which stops writing node and drops it in contract, is deployed under load
    tree3, war3 = release_tree(base, "3", [*MIGRATIONS], "version", 2)
    with db_load(db_cluster) as load:
        done = deploy(db_cluster, war3, tree3, "-i", baking(db_cluster, base))
    assert done.returncode == 0, done.stdout + done.stderr
    assert load.report.failed == 0 and load.report.requests > 1000, load.report.line()
    assert columns(db_cluster) == ["id", "at", "version"]
    assert applied(db_cluster) == [
        "1 001-create-visits.expand.sql",
        "2 002-add-version.expand.sql",
        "3 003-drop-node.contract.sql",
    ]
    # and the history's stage times show the order: expand, then the roll with every node's bake,
    # then contract
    record, ledger = newest(db_cluster)
    t = record.times
    assert (
        t["expand_started"]
        <= t["expanded"]
        <= t["deploy_started"]
        <= t["rolled"]
        <= t["contract_started"]
        <= t["contracted"]
        <= t["finished"]
    ), t
    assert {v["node"] for v in record.verdicts} == set(db_cluster.nodes)  # each node was baked in the roll
    dropped_at = float(
        db_cluster.box.db.psql("SELECT extract(epoch FROM applied_at) FROM schema_migrations WHERE version = 3")
    )
    assert dropped_at >= t["rolled"]  # the database's own clock agrees
    release3 = ledger[record.release_id]
    assert (release3.schema_expand, release3.schema_contract) == (2, 3)
    assert "3 (visit" in db_cluster.served_through_haproxy()


def test_a_failing_expand_deploys_nothing(db_cluster, tmp_path_factory):
    # Given the fleet on release 3, and release 4 whose expand migration fails
    base = tmp_path_factory.mktemp("broken")
    tree, war = release_tree(base, "4", [*MIGRATIONS], "version", 4)
    (tree / "db" / "migrations" / "004-broken.expand.sql").write_text("ALTER TABLE no_such_table ADD COLUMN x int;\n")
    before = pids(db_cluster)
    # When it is deployed
    done = deploy(db_cluster, war, tree)
    # Then it exits 1 naming the stage, and no node was touched
    assert done.returncode == 1, done.stdout + done.stderr
    assert "expand failed" in done.stderr, done.stderr
    assert pids(db_cluster) == before
    assert {db_cluster.node_health(n)["version"] for n in db_cluster.nodes} == {"3"}
    record, _ = newest(db_cluster)
    assert (record.outcome, record.stage) == ("rejected", "expand")
    assert "no_such_table" in record.output_tail
    assert "4 004-broken.expand.sql" not in applied(db_cluster)


def test_a_failing_contract_leaves_the_fleet_on_the_release_and_says_so(db_cluster, tmp_path):
    # Given release 4, whose contract migration fails
    tree, war = release_tree(tmp_path, "4", [*MIGRATIONS], "version", 2)
    (tree / "db" / "migrations" / DROP_AT).write_text(DROP_AT_WRONG)
    # When it is deployed
    done = deploy(db_cluster, war, tree)
    # Then every node is on it, the exit is 1, and the output and the history say what is left to do
    assert done.returncode == 1, done.stdout + done.stderr
    assert "contract failed" in done.stderr and "is live on every node" in done.stderr, done.stderr
    assert "The next deploy runs the contract phase again" in done.stderr, done.stderr
    assert {db_cluster.node_health(n)["version"] for n in db_cluster.nodes} == {"4"}
    db_cluster.assert_all_in_rotation()
    record, ledger = newest(db_cluster)
    assert (record.outcome, record.stage) == ("deployed", "contract") and 'column "att"' in record.output_tail
    assert record.times["contract_started"] and not record.times["contracted"]
    assert (ledger[record.release_id].schema_expand, ledger[record.release_id].schema_contract) == (2, None)
    assert f"4 {DROP_AT}" not in applied(db_cluster)


def _no_script(tree: Path, config: Path) -> str:
    (tree / "db" / "migrate").unlink()
    return "db/migrate does not exist"


def _unmarked_file(tree: Path, config: Path) -> str:
    (tree / "db" / "migrations" / "004-add-note.sql").write_text("ALTER TABLE visits ADD COLUMN note text;\n")
    return "004-add-note.sql: a migration's name says its number and its phase"


def _timeout_out_of_range(tree: Path, config: Path) -> str:
    config.write_text(config.read_text().replace("timeout = 120", "timeout = 0"))
    return "[migrate] timeout is 0.0; give a number of seconds above 0"


def _unknown_program(tree: Path, config: Path) -> str:
    config.write_text(config.read_text().replace('expand = "db/migrate expand"', 'expand = "flyway-not-here migrate"'))
    return "flyway-not-here is not on PATH"


@pytest.mark.parametrize("spoil", [_no_script, _unmarked_file, _timeout_out_of_range, _unknown_program])
def test_bad_migration_input_exits_2_before_anything_runs(db_cluster, tmp_path, spoil):
    # Given a release whose tree, or whose [migrate] settings, are wrong
    tree, war = release_tree(tmp_path, "6", [*MIGRATIONS], "version", 2)
    config = tmp_path / "orchestrator.toml"
    config.write_text(db_cluster.box.config.read_text())
    message = spoil(tree, config)
    before, (last, _) = pids(db_cluster), newest(db_cluster)
    # When it is deployed
    done = run_cli("deploy", "--war", war, "--migrations", tree, "--config", config, timeout=60)
    # Then it exits 2 naming what is wrong, with nothing recorded, run or touched
    assert done.returncode == 2, done.stdout + done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert newest(db_cluster)[0].id == last.id and pids(db_cluster) == before
    assert "6" not in {db_cluster.node_health(n)["version"] for n in db_cluster.nodes}


def _expand_commands(cluster: Cluster) -> list[int]:
    """PIDs of migration commands the watcher runs in its work directory."""
    work = str(cluster.state_dir / "work")
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and os.readlink(entry / "cwd").startswith(work):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def test_a_watcher_killed_during_expand_and_the_next_run_apply_each_migration_once(db_cluster, tmp_path):
    # Given a push whose expand migration takes a few seconds, and the watcher running it, under
    # load; the push also fixes release 4's contract migration, still pending
    clone = db_cluster.box.clone
    for name, sql in {**MIGRATIONS, DROP_AT: DROP_AT_FIXED}.items():
        (clone / "db" / "migrations" / name).write_text(sql)
    (clone / "db" / "migrations" / "005-add-note.expand.sql").write_text(
        "SELECT pg_sleep(3);\nALTER TABLE visits ADD COLUMN note text;\n"
    )
    (clone / "db" / "columns").write_text("version\n")
    (clone / "VERSION").write_text("5\n")
    hg(clone, "add", "-q")
    hg(clone, "commit", "-q", "-m", "version 5: a note on every visit")
    hg(clone, "push", "-q")
    load = db_load(db_cluster)
    watcher = WatcherProcess(db_cluster.box.config, tmp_path / "watch-1.log").start()
    restarted = None
    try:

        def expanding():
            record, _ = newest(db_cluster)
            return (
                record
                if record.times["expand_started"] and record.outcome == "running" and _expand_commands(db_cluster)
                else None
            )

        interrupted = wait_until(expanding, timeout=DEPLOY_TIMEOUT, interval=0.1, what="the watcher's expand")
        # When the watcher dies with everything it started (as systemd stops a unit's cgroup)
        commands = _expand_commands(db_cluster)
        watcher.stop(signal.SIGKILL)
        for pid in commands:
            try:
                os.killpg(os.getpgid(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass
        assert "5 005-add-note.expand.sql" not in applied(db_cluster)
        restarted = WatcherProcess(db_cluster.box.config, tmp_path / "watch-2.log").start()

        # Then the next run records the deploy interrupted, applies what is pending (the expand
        # killed midway, and the contract that failed before) and goes on
        def recovered():
            history = History(db_cluster.state_dir)
            try:
                new = [r for r in history.list(10) if r.id > interrupted.id]
                return (new[-1], history.get(interrupted.id)) if new and new[-1].outcome != "running" else None
            finally:
                history.close()

        redo, before = wait_until(recovered, timeout=DEPLOY_TIMEOUT, interval=0.5, what="the recovery deploy")
        assert (before.outcome, before.stage) == ("interrupted", "expand"), before
        assert (redo.trigger, redo.outcome) == ("recovery", "deployed"), redo
        assert applied(db_cluster) == [
            "1 001-create-visits.expand.sql",
            "2 002-add-version.expand.sql",
            "3 003-drop-node.contract.sql",
            f"4 {DROP_AT}",
            "5 005-add-note.expand.sql",
        ]
        assert columns(db_cluster) == ["id", "version", "note"]
        assert {db_cluster.node_health(n)["version"] for n in db_cluster.nodes} == {"5"}
        assert "5 (visit" in db_cluster.served_through_haproxy()
        load.stop()
        assert load.report.failed == 0, load.report.line()
    finally:
        if load.proc.poll() is None:
            load.proc.kill()
            load.proc.wait(timeout=10)
        for w in (watcher, restarted):
            if w is not None and w.proc.poll() is None:
                w.stop()
        print(watcher.output()[-2000:], restarted.output()[-3000:] if restarted else "")


def test_a_rollback_past_a_contract_is_refused_unless_forced(db_cluster):
    # Given release 5 live, and release 2 from before the contract that dropped the column it writes
    before = pids(db_cluster)
    _, ledger = newest(db_cluster)
    [release2] = [r.release_id for r in ledger.values() if r.version == "2"]
    # When a rollback to release 2 is asked for
    refused = orchestrator(db_cluster, "rollback", "--to", release2)
    # Then it is refused before anything is touched, naming the migration in the way
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "003-drop-node.contract.sql (and 004-drop-at.contract.sql)" in refused.stderr, refused.stderr
    assert "--force" in refused.stderr, refused.stderr
    assert pids(db_cluster) == before
    # and with --force it proceeds: release 2 is back, and shows why it was refused
    forced = orchestrator(db_cluster, "rollback", "--to", release2, "--force")
    assert forced.returncode == 0, forced.stdout + forced.stderr
    assert {db_cluster.node_health(n)["version"] for n in db_cluster.nodes} == {"2"}
    with pytest.raises(Exception, match="500"):
        db_cluster.served_through_haproxy()  # it writes a column that is gone


def test_the_migrate_playbook_runs_a_phase_once_on_the_first_migrator(db_cluster, tmp_path):
    # Given a tree with one more expand migration, and the database's settings as Ansible variables
    tree, _ = release_tree(tmp_path, "9", [*MIGRATIONS], "version", 2)
    (tree / "db" / "migrations" / "009-add-referrer.expand.sql").write_text(
        "ALTER TABLE visits ADD COLUMN referrer text;\n"
    )
    db = db_cluster.box.db
    extra = {
        "migrate_phase": "expand",
        "migrate_chdir": str(tree),
        "migrate_environment": {k: v for k, v in db.environment().items()},
    }

    def run() -> str:
        done = ansible_playbook(
            "-i", db_cluster.inventory, "orchestrator.fleet.migrate", "-e", json.dumps(extra), timeout=120
        )
        assert done.returncode == 0, done.stdout[-3000:]
        return done.stdout

    # When the playbook runs the phase, and runs it again
    first, again = run(), run()
    # Then the migration is applied once, by db1 alone, and the rerun changes nothing
    assert "9 009-add-referrer.expand.sql" in applied(db_cluster)
    assert "referrer" in columns(db_cluster)
    assert "changed: [db1]" in first and "changed=1" in first.split("PLAY RECAP")[1]
    assert "changed=0" in again.split("PLAY RECAP")[1]
