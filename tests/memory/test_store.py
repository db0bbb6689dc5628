"""The memory store: migrations, WAL, short-term and long-term memory, recall and policies."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime

import pytest

from memory.long_term import LongTermMemory, OperatorPolicy
from memory.schema import MIGRATIONS, Migration, apply_migrations
from memory.short_term import ShortTermMemory
from memory.store import default_db_path, open_store

T0 = datetime(2026, 12, 4, 17, 0, 0, tzinfo=UTC)


def fixed_clock():
    return T0


@pytest.fixture
def store():
    s = open_store(":memory:", clock=fixed_clock)
    yield s
    s.close()


@pytest.fixture
def short(store):
    memory = ShortTermMemory(store)
    memory.open_incident("inc-1", title="ransomware on the web tier")
    return memory


# ------------------------------------------------------------ store and migrations
def test_every_migration_is_applied_once_and_recorded_in_order(tmp_path):
    path = tmp_path / "m.db"
    first = open_store(path, clock=fixed_clock)
    assert first.applied_migrations() == [m.version for m in MIGRATIONS]
    rows = first.db.execute("SELECT version, name, applied_at FROM schema_migrations ORDER BY version").fetchall()
    assert rows[0] == (1, MIGRATIONS[0].name, "2026-12-04T17:00:00Z")
    first.close()
    again = open_store(path, clock=fixed_clock)  # reopening applies nothing twice
    assert again.db.execute("SELECT count(*) FROM schema_migrations").fetchone()[0] == len(MIGRATIONS)
    assert apply_migrations(again.db, now="later") == []
    again.close()


def test_a_new_migration_is_applied_on_an_existing_database_and_only_it(store):
    extra = Migration(len(MIGRATIONS) + 1, "add notes", "CREATE TABLE notes (id INTEGER PRIMARY KEY)")
    assert apply_migrations(store.db, now="x", migrations=(*MIGRATIONS, extra)) == [extra.version]
    assert "notes" in store.db.table_names()
    assert apply_migrations(store.db, now="x", migrations=(*MIGRATIONS, extra)) == []


def test_a_file_database_runs_in_wal_mode_with_foreign_keys_and_a_busy_timeout(tmp_path):
    store = open_store(tmp_path / "w.db")
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.db.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert store.db.execute("PRAGMA busy_timeout").fetchone()[0] >= 1000
    store.close()


def test_the_default_path_comes_from_cyberops_db_or_the_working_folder():
    assert default_db_path({"CYBEROPS_DB": "/data/ops.db"}) == "/data/ops.db"
    assert default_db_path({}) == "cyberops.db"


def test_a_failed_write_is_rolled_back_whole(store, short):
    with pytest.raises(RuntimeError), store.write() as db:
        db.execute("INSERT INTO turns (incident, who, text, at) VALUES ('inc-1', 'amy', 'hi', 'now')")
        raise RuntimeError("boom")
    assert short.turns("inc-1") == []


def test_rows_must_belong_to_a_known_incident(short):
    with pytest.raises(sqlite3.IntegrityError):
        short.add_turn("no-such-incident", who="amy", text="hello")


# ------------------------------------------------------------ short-term memory
def test_an_incident_round_trips_and_reopening_it_changes_nothing(short):
    short.open_incident("inc-1", title="another title")
    assert short.incident("inc-1") == {"id": "inc-1", "opened_at": "2026-12-04T17:00:00Z", "status": "open",
                                       "title": "ransomware on the web tier"}
    short.set_incident_status("inc-1", "closed")
    assert short.incidents(status="closed")[0]["id"] == "inc-1" and short.incidents(status="open") == []
    with pytest.raises(ValueError):
        short.set_incident_status("inc-1", "sleeping")


def test_recent_observations_are_the_last_ones_oldest_first(short):
    for step in range(5):
        short.add_observation("inc-1", step=step, observation={"compromised": step, "hosts": ["web-1"]})
    recent = short.recent_observations("inc-1", limit=3)
    assert [o["step"] for o in recent] == [2, 3, 4]
    assert recent[-1]["observation"] == {"compromised": 4, "hosts": ["web-1"]}


def test_the_attack_chain_keeps_first_sightings_in_order_without_repeats(short):
    assert short.note_compromise("inc-1", "web-1") is True
    assert short.note_compromise("inc-1", "app-2") is True
    assert short.note_compromise("inc-1", "web-1") is False
    assert short.attack_chain("inc-1") == ["web-1", "app-2"]


def test_actions_round_trip_by_idempotency_key_and_execute_exactly_once(short):
    assert short.propose_action("inc-1", key="inc-1/isolate/web-1", kind="isolate", targets=["web-1"]) is True
    assert short.propose_action("inc-1", key="inc-1/isolate/web-1", kind="isolate", targets=["x"]) is False
    short.propose_action("inc-1", key="inc-1/patch/db-1", kind="patch", targets=["db-1", "db-2"])
    assert [a.key for a in short.actions("inc-1", status="pending")] == ["inc-1/isolate/web-1", "inc-1/patch/db-1"]
    assert short.claim_execution("inc-1/isolate/web-1") is False  # not approved yet
    short.set_action_status("inc-1/isolate/web-1", "approved")
    assert short.claim_execution("inc-1/isolate/web-1") is True
    assert short.claim_execution("inc-1/isolate/web-1") is False  # a retry does not run it again
    action = short.action("inc-1/isolate/web-1")
    assert (action.status, action.targets, action.kind) == ("executed", ("web-1",), "isolate")
    with pytest.raises(ValueError, match="executed already"):
        short.set_action_status("inc-1/isolate/web-1", "rejected")
    with pytest.raises(KeyError):
        short.set_action_status("no-such-key", "approved")


def test_operator_turns_round_trip_in_order(short):
    short.add_turn("inc-1", who="amy", text="isolate web-1 but not the database")
    short.add_turn("inc-1", who="bot", text="Proposed: isolate web-1. Approve?")
    short.add_turn("inc-1", who="amy", text="approve")
    assert [t["text"] for t in short.turns("inc-1", limit=2)] == ["Proposed: isolate web-1. Approve?", "approve"]
    assert short.turns("inc-1")[0] == {"who": "amy", "text": "isolate web-1 but not the database",
                                       "at": "2026-12-04T17:00:00Z"}


# ------------------------------------------------------------ long-term memory
def test_recall_finds_lessons_and_outcomes_by_full_text_search_best_first(store, short):
    long = LongTermMemory(store)
    long.add_lesson("Patch the database hosts before the weekend.", tags=["patch"])
    long.add_lesson("Isolate the web gateway first; isolating the web tier stopped lateral movement.",
                           incident="inc-1", tags=["isolate", "web"])
    long.add_lesson("Quiet hours delayed the reset of workstations.")
    long.record_outcome("inc-1", title="ransomware on the web tier", summary="web-1 and app-2 compromised",
                        outcome="contained by isolating web-1")
    hits = long.recall("web isolate", limit=5)
    assert hits[0].kind == "lesson" and hits[0].incident == "inc-1" and "gateway" in hits[0].text
    assert {h.kind for h in hits} == {"lesson", "incident"}
    assert all("workstations" not in h.text for h in hits)
    assert [h.rank for h in hits] == sorted(h.rank for h in hits)
    assert len(long.recall("web isolate", limit=1)) == 1
    assert long.recall("kubernetes") == [] and long.recall("  ?! ") == []


def test_recall_tolerates_fts_syntax_in_the_query(store):
    long = LongTermMemory(store)
    long.add_lesson("reset db-1 after isolating it")
    assert [h.text for h in long.recall('db-1 AND "reset*')] == ["reset db-1 after isolating it"]


def test_an_incident_record_is_rewritten_not_duplicated(store, short):
    long = LongTermMemory(store)
    long.record_outcome("inc-1", title="t", summary="s", outcome="open")
    long.record_outcome("inc-1", title="t", summary="s", outcome="contained")
    assert long.incident_record("inc-1")["outcome"] == "contained"
    assert [h.text for h in long.recall("contained")] == ["t: s Outcome: contained"]


def test_the_default_policy_confirms_every_action_and_protects_nothing(store):
    policy = LongTermMemory(store).policy()
    assert policy == OperatorPolicy() and policy.autonomy_for("isolate") == "confirm"


def test_operator_policies_round_trip(store):
    long = LongTermMemory(store)
    policy = OperatorPolicy(protected_assets=("db-1", "dc-1"), autonomy={"patch": "auto", "isolate": "never"},
                            quiet_hours=("22:00", "07:00"))
    long.save_policy(policy)
    assert long.policy() == policy
    assert long.policy().autonomy_for("patch") == "auto" and long.policy().autonomy_for("reset") == "confirm"
    with pytest.raises(ValueError, match="autonomy for 'reset'"):
        long.save_policy(OperatorPolicy(autonomy={"reset": "sometimes"}))


def test_threads_reading_and_writing_while_another_connection_commits_never_see_locked(tmp_path):
    """Readers on one thread, writers on another and a second connection (as LangGraph's checkpointer
    is) committing at the same time: every write waits its turn instead of failing "database is locked"."""
    import threading
    import time as _time

    path = tmp_path / "busy.db"
    store = open_store(path, clock=fixed_clock)
    short = ShortTermMemory(store)
    short.open_incident("inc-1", title="busy")
    other = sqlite3.connect(path, check_same_thread=False)
    other.execute("CREATE TABLE IF NOT EXISTS side (x INTEGER)")
    other.commit()
    errors: list[Exception] = []
    stop = _time.monotonic() + 1.5

    def guarded(work):
        def run():
            try:
                while _time.monotonic() < stop:
                    work()
            except Exception as exc:  # noqa: BLE001 - the test reports any failure
                errors.append(exc)
        return run

    def read():
        short.incidents()
        short.actions("inc-1")

    counter = iter(range(10**9))

    def write():
        short.add_turn("inc-1", who="t", text=f"turn {next(counter)}")

    def commit_elsewhere():
        other.execute("INSERT INTO side VALUES (1)")
        other.commit()

    threads = [threading.Thread(target=guarded(f)) for f in (read, read, write, commit_elsewhere)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    other.close()
    assert errors == []
    assert len(short.turns("inc-1")) > 10
    store.close()
