"""The memory's schema as numbered migrations, applied in order and recorded once each.

A migration is SQL or a function of the database (for what sqlite-utils builds better than
hand-written SQL, such as FTS5 indexes with their sync triggers). Never edit a shipped one:
add the next number.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlite_utils import Database


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    apply: str | Callable[[Database], None]


SHORT_TERM = """
CREATE TABLE incidents (
    id TEXT PRIMARY KEY, opened_at TEXT NOT NULL, status TEXT NOT NULL, title TEXT NOT NULL
);
CREATE TABLE observations (
    id INTEGER PRIMARY KEY, incident TEXT NOT NULL REFERENCES incidents(id),
    step INTEGER NOT NULL, json TEXT NOT NULL, at TEXT NOT NULL
);
CREATE INDEX observations_by_incident ON observations(incident, step);
CREATE TABLE attack_chain (
    id INTEGER PRIMARY KEY, incident TEXT NOT NULL REFERENCES incidents(id),
    host TEXT NOT NULL, seen_at TEXT NOT NULL, UNIQUE (incident, host)
);
CREATE TABLE actions (
    key TEXT PRIMARY KEY, incident TEXT NOT NULL REFERENCES incidents(id), kind TEXT NOT NULL,
    targets TEXT NOT NULL, status TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL
);
CREATE INDEX actions_by_incident ON actions(incident, status);
CREATE TABLE turns (
    id INTEGER PRIMARY KEY, incident TEXT NOT NULL REFERENCES incidents(id),
    who TEXT NOT NULL, text TEXT NOT NULL, at TEXT NOT NULL
);
"""

LONG_TERM = """
CREATE TABLE incident_records (
    incident TEXT PRIMARY KEY REFERENCES incidents(id), closed_at TEXT NOT NULL,
    title TEXT NOT NULL, summary TEXT NOT NULL, outcome TEXT NOT NULL
);
CREATE TABLE lessons (
    id INTEGER PRIMARY KEY, incident TEXT REFERENCES incidents(id), text TEXT NOT NULL,
    tags TEXT NOT NULL DEFAULT '', written_at TEXT NOT NULL
);
CREATE TABLE policies (key TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at TEXT NOT NULL);
"""


def _full_text_indexes(db: Database) -> None:
    # create_triggers keeps each FTS5 index in step with its table on every insert/update/delete
    db["lessons"].enable_fts(["text", "tags"], fts_version="FTS5", create_triggers=True)
    db["incident_records"].enable_fts(["title", "summary", "outcome"], fts_version="FTS5", create_triggers=True)


AUDIT = """
CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT, event TEXT NOT NULL, at TEXT NOT NULL, who TEXT NOT NULL,
    incident TEXT NOT NULL, action_id TEXT NOT NULL, targets TEXT NOT NULL, why TEXT NOT NULL,
    result TEXT, prev_hash TEXT NOT NULL, hash TEXT NOT NULL UNIQUE
);
CREATE INDEX audit_by_incident ON audit_log(incident);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit log is append-only: no UPDATE'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit log is append-only: no DELETE'); END;
"""

TWIN_SNAPSHOTS = """
CREATE TABLE twin_snapshots (
    id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, step INTEGER NOT NULL, at TEXT NOT NULL, state BLOB NOT NULL
);
"""

CONVERSATIONS = """
CREATE TABLE operator_requests (
    id INTEGER PRIMARY KEY, incident TEXT NOT NULL REFERENCES incidents(id), action TEXT NOT NULL,
    who TEXT NOT NULL, at TEXT NOT NULL, taken_in TEXT
);
CREATE INDEX operator_requests_open ON operator_requests(incident, taken_in);
CREATE TABLE chat_threads (
    incident TEXT NOT NULL REFERENCES incidents(id), surface TEXT NOT NULL, channel TEXT NOT NULL,
    thread TEXT NOT NULL, at TEXT NOT NULL, PRIMARY KEY (incident, surface)
);
CREATE UNIQUE INDEX chat_threads_by_thread ON chat_threads(surface, channel, thread);
CREATE TABLE chat_asks (
    interrupt TEXT NOT NULL, surface TEXT NOT NULL, channel TEXT NOT NULL, message TEXT NOT NULL,
    at TEXT NOT NULL, PRIMARY KEY (interrupt, surface)
);
CREATE TABLE seen_deliveries (key TEXT PRIMARY KEY, at TEXT NOT NULL);
CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL, updated_at TEXT NOT NULL);
"""

REPORTS = """
CREATE TABLE twin_metrics (
    id INTEGER PRIMARY KEY, at TEXT NOT NULL, step INTEGER NOT NULL, availability REAL NOT NULL,
    seen INTEGER NOT NULL, isolated INTEGER NOT NULL
);
CREATE INDEX twin_metrics_by_time ON twin_metrics(at);
CREATE TABLE report_schedules (
    id INTEGER PRIMARY KEY, surface TEXT NOT NULL, channel TEXT NOT NULL, cron TEXT NOT NULL,
    timezone TEXT NOT NULL, text TEXT NOT NULL, created_by TEXT NOT NULL, created_at TEXT NOT NULL,
    active INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE reports (
    id INTEGER PRIMARY KEY, at TEXT NOT NULL, scope TEXT NOT NULL, scorecard TEXT NOT NULL
);
"""

AUDIT_BY_ACTION = "CREATE INDEX audit_by_action ON audit_log(action_id, event);"

OUTBOX = """
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY, surface TEXT NOT NULL, kind TEXT NOT NULL, destination TEXT NOT NULL,
    text TEXT NOT NULL, ephemeral INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
    next_at TEXT NOT NULL, expires_at TEXT NOT NULL, created_at TEXT NOT NULL,
    last_error TEXT NOT NULL DEFAULT '', delivered_at TEXT, dropped_at TEXT
);
CREATE INDEX outbox_due ON outbox(next_at) WHERE delivered_at IS NULL AND dropped_at IS NULL;
CREATE TABLE unsent_posts (incident TEXT PRIMARY KEY, since TEXT NOT NULL);
"""

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "short-term memory", SHORT_TERM),
    Migration(2, "long-term memory", LONG_TERM),
    Migration(3, "full-text indexes", _full_text_indexes),
    Migration(4, "audit log", AUDIT),
    Migration(5, "twin snapshots", TWIN_SNAPSHOTS),
    Migration(6, "operator requests and chat threads", CONVERSATIONS),
    Migration(7, "twin metrics, report schedules and reports", REPORTS),
    Migration(8, "audit entries by action", AUDIT_BY_ACTION),
    Migration(9, "outbox of undelivered replies, incidents with unsent posts", OUTBOX),
)


def apply_migrations(db: Database, *, now: str, migrations: tuple[Migration, ...] = MIGRATIONS) -> list[int]:
    """Apply the migrations not yet recorded in ``schema_migrations``, in order; return their versions."""
    db.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )
    done = {row[0] for row in db.execute("SELECT version FROM schema_migrations")}
    applied = []
    for migration in sorted(migrations, key=lambda m: m.version):
        if migration.version in done:
            continue
        if isinstance(migration.apply, str):
            db.executescript(migration.apply)
        else:
            migration.apply(db)
        with db.conn:
            db.execute("INSERT INTO schema_migrations VALUES (?, ?, ?)", [migration.version, migration.name, now])
        applied.append(migration.version)
    return applied
