"""The history's tables, as SQL: version 1 and each version's additions since, applied in order."""

from __future__ import annotations

SCHEMA_VERSION = 7

SCHEMA = """
CREATE TABLE deploys (
    id             INTEGER PRIMARY KEY,
    trigger        TEXT NOT NULL,      -- hg, git, manual, watcher-recovery
    revision       TEXT,
    branch         TEXT,
    release_id     TEXT,
    sha256         TEXT,
    pushed         REAL, claimed REAL, built REAL, tested REAL, deploy_started REAL, finished REAL,
    outcome        TEXT NOT NULL,      -- running, deployed, failed, rejected, interrupted, unchanged
    stage          TEXT,               -- where it ended: export, build, test, artifact, deploy
    message        TEXT,
    output_tail    TEXT,
    flags          INTEGER NOT NULL DEFAULT 0,
    artifacts      TEXT
);
CREATE TABLE node_results (
    deploy_id      INTEGER NOT NULL REFERENCES deploys(id),
    node           TEXT NOT NULL,
    old_release    TEXT,
    new_release    TEXT,
    outcome        TEXT NOT NULL,      -- done, failed, untouched
    phases         TEXT,               -- JSON: phase -> seconds
    PRIMARY KEY (deploy_id, node)
);
"""

# Version 2: the release ledger.
LEDGER = """
CREATE TABLE releases (
    release_id     TEXT PRIMARY KEY,
    version        TEXT,
    sha256         TEXT,
    status         TEXT NOT NULL,      -- deployed, verified, rejected, rolled_back
    changed        REAL NOT NULL,      -- when the status last changed
    deployed       REAL,               -- when it last went live on the whole fleet
    deploy_id      INTEGER,
    reason         TEXT                -- the rule and numbers of a rejection, or why it was rolled back
);
"""


# Version 3: the judge's verdict on each node of each deploy, with every number (the report of
# the haproxy_bake module: each metric's values on both sides, sample sizes, p-values, thresholds).
VERDICTS = """
CREATE TABLE verdicts (
    deploy_id      INTEGER NOT NULL REFERENCES deploys(id),
    node           TEXT NOT NULL,
    release_id     TEXT NOT NULL,
    verdict        TEXT NOT NULL,      -- pass, marginal, fail, inconclusive
    seconds        REAL,               -- bake time at the verdict
    summary        TEXT,               -- one line: the verdict and each metric's numbers
    report         TEXT NOT NULL,      -- JSON
    PRIMARY KEY (deploy_id, node)
);
"""


# Version 4: blue/green - the Tomcat slot each node's new release went into (the other slot kept
# the old release); empty for the rolling strategy.
SLOT_COLUMN = """
ALTER TABLE node_results ADD COLUMN slot TEXT;
"""


# Version 5: schema migrations - the migration stages' times, the schema each release runs with,
# and every contract migration that has run (a rollback to a release from before one is refused).
MIGRATIONS = """
ALTER TABLE deploys ADD COLUMN expand_started REAL;
ALTER TABLE deploys ADD COLUMN expanded REAL;
ALTER TABLE deploys ADD COLUMN rolled REAL;
ALTER TABLE deploys ADD COLUMN contract_started REAL;
ALTER TABLE deploys ADD COLUMN contracted REAL;
ALTER TABLE releases ADD COLUMN schema_expand INTEGER;    -- schema version once its expand ran
ALTER TABLE releases ADD COLUMN schema_contract INTEGER;  -- once its contract ran too
ALTER TABLE releases ADD COLUMN migrations TEXT;          -- JSON: the migration files of its revision
CREATE TABLE contracts (
    migration      TEXT PRIMARY KEY,   -- a contract migration's file name
    release_id     TEXT NOT NULL,      -- the release whose deploy ran it
    deploy_id      INTEGER NOT NULL,
    ran            REAL NOT NULL
);
"""


# Version 6: webhook notifications - each delivery's outcome (the URL without its path: it may
# hold a token).
DELIVERIES = """
CREATE TABLE deliveries (
    id             INTEGER PRIMARY KEY,
    deploy_id      INTEGER,
    event          TEXT NOT NULL,
    url            TEXT NOT NULL,
    outcome        TEXT NOT NULL,      -- delivered, failed, dropped
    attempts       INTEGER NOT NULL,
    status         INTEGER,            -- the receiver's last HTTP status
    error          TEXT,
    queued         REAL NOT NULL,
    finished       REAL NOT NULL
);
CREATE INDEX deliveries_by_deploy ON deliveries (deploy_id);
"""


# Version 7: what the dashboard draws and counts - each node's phases as spans of time (the
# rescue's steps as rescue/<phase>), written as the roll goes so a deploy in progress shows where
# each node is; the strategy of each deploy; and the operators' actions from the dashboard.
DASHBOARD = """
ALTER TABLE node_results ADD COLUMN spans TEXT;       -- JSON: phase -> [start, end], epoch seconds
ALTER TABLE deploys ADD COLUMN strategy TEXT;         -- rolling, bluegreen (empty: before version 7)
ALTER TABLE deploys ADD COLUMN owner TEXT;            -- the process running it, '<pid>:<start time>': a
                                                      -- 'running' deploy whose owner is gone was cut short
CREATE INDEX deploys_by_outcome ON deploys (outcome);
ALTER TABLE verdicts ADD COLUMN results TEXT;         -- 'errors=pass latency=pass tail=fail': each metric's
UPDATE verdicts SET results = (                       -- verdict against the old release, counted by /metrics
    SELECT group_concat(json_extract(m.value, '$.name') || '=' || json_extract(m.value, '$.verdict'), ' ')
    FROM json_each(verdicts.report, '$.metrics') m
    WHERE COALESCE(json_extract(m.value, '$.against'), 'old') = 'old');
CREATE INDEX verdicts_results ON verdicts (results, verdict);  -- counted without reading the reports
CREATE TABLE actions (
    id             INTEGER PRIMARY KEY,
    at             REAL NOT NULL,
    verb           TEXT NOT NULL,      -- pause, resume, abort, promote, rollback, maintenance-on, maintenance-off
    who            TEXT NOT NULL,      -- the name given with the token, and the client's address
    outcome        TEXT NOT NULL,      -- done, refused
    message        TEXT                -- what the orchestrator answered
);
"""


# each version adds to the one before
STEPS = (SCHEMA, LEDGER, VERDICTS, SLOT_COLUMN, MIGRATIONS, DELIVERIES, DASHBOARD)
assert len(STEPS) == SCHEMA_VERSION
