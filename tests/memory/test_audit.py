"""The audit log: append-only, hash-chained, and ``verify`` names the first broken row."""

from __future__ import annotations

import sqlite3
import threading
from datetime import UTC, datetime

import pytest

from memory.audit import EVENTS, GENESIS, AuditLog, row_hash
from memory.store import open_store

T0 = datetime(2026, 12, 4, 17, 0, 0, tzinfo=UTC)


@pytest.fixture
def store():
    s = open_store(":memory:", clock=lambda: T0)
    yield s
    s.close()


@pytest.fixture
def log(store):
    audit = AuditLog(store)
    life = [("proposed", "bot"), ("approved", "amy"), ("executed", "bot"), ("proposed", "bot"), ("rejected", "bob")]
    for n, (event, who) in enumerate(life):
        audit.append(event, who=who, incident="inc-1" if n < 3 else "inc-2", action_id=f"act-{n // 3}",
                     targets=["web-1", "app-2"], why=f"step {n}", result={"ok": True} if event == "executed" else None)
    return audit


def drop_triggers(store):
    """What an attacker with write access to the file can do first."""
    store.db.execute("DROP TRIGGER audit_log_no_update")
    store.db.execute("DROP TRIGGER audit_log_no_delete")


def test_each_row_chains_to_the_previous_one_by_hash(log):
    rows = log.entries()
    assert [r["id"] for r in rows] == [1, 2, 3, 4, 5]
    assert rows[0]["prev_hash"] == GENESIS
    for before, row in zip(rows, rows[1:]):
        assert row["prev_hash"] == before["hash"]
    assert len({r["hash"] for r in rows}) == 5
    assert log.verify() is None


def test_a_row_keeps_who_when_why_targets_and_result(log):
    row = log.entries()[2]
    assert {k: row[k] for k in ("event", "who", "at", "why", "incident", "action_id", "targets", "result")} == {
        "event": "executed", "who": "bot", "at": "2026-12-04T17:00:00Z", "why": "step 2", "incident": "inc-1",
        "action_id": "act-0", "targets": ["web-1", "app-2"], "result": {"ok": True}}


def test_many_entries_at_once_chain_like_single_ones_and_skip_what_is_logged_already(log):
    batch = [{"event": "executed", "who": "bot", "incident": "inc-2", "action_id": "act-1", "targets": ["db-1"],
              "why": "step 5", "result": {"ok": True}},
             {"event": "proposed", "who": "bot", "incident": "inc-2", "action_id": "act-1", "targets": ["db-1"]},
             {"event": "approved", "who": "amy", "incident": "inc-3", "action_id": "act-2", "targets": ["web-1"]},
             {"event": "approved", "who": "amy", "incident": "inc-3", "action_id": "act-2", "targets": ["web-1"]}]
    assert log.append_once_all(batch) == 2  # act-1 was proposed already; act-2's approval comes twice
    rows = log.entries()
    assert [(r["event"], r["action_id"]) for r in rows[5:]] == [("executed", "act-1"), ("approved", "act-2")]
    assert rows[5]["prev_hash"] == rows[4]["hash"] and rows[5]["result"] == {"ok": True}
    assert log.verify() is None
    assert log.append_once_all(batch) == 0 and len(log.entries()) == 7
    with pytest.raises(ValueError, match="unknown audit event"):
        log.append_once_all([{"event": "deleted", "who": "x", "incident": "i", "action_id": "a", "targets": []}])


def test_the_hash_covers_every_field_and_the_previous_hash(log):
    stored = log.store.db["audit_log"].get(2)
    assert row_hash(stored, stored["prev_hash"]) == stored["hash"]
    assert row_hash(stored | {"who": "mallory"}, stored["prev_hash"]) != stored["hash"]
    assert row_hash(stored, GENESIS) != stored["hash"]


def test_entries_can_be_filtered_by_incident(log):
    assert [r["event"] for r in log.entries(incident="inc-2")] == ["proposed", "rejected"]
    assert log.entries(incident="inc-9") == []


def test_an_unknown_event_is_refused_and_nothing_is_written(log):
    with pytest.raises(ValueError, match="unknown audit event 'deleted'"):
        log.append("deleted", who="bot", incident="inc-1", action_id="a", targets=[])
    assert len(log) == 5


@pytest.mark.parametrize("event", EVENTS)
def test_every_documented_event_is_accepted(store, event):
    AuditLog(store).append(event, who="bot", incident="inc-1", action_id="a", targets=["h"])
    assert AuditLog(store).entries()[0]["event"] == event


@pytest.mark.parametrize("sql", ["UPDATE audit_log SET why = 'nothing to see' WHERE id = 2",
                                 "DELETE FROM audit_log WHERE id = 2"])
def test_triggers_stop_a_plain_update_or_delete(log, sql):
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        log.store.db.execute(sql)
    assert len(log) == 5 and log.verify() is None


def test_verify_names_an_edited_row(log):
    drop_triggers(log.store)
    log.store.db.execute("UPDATE audit_log SET who = 'mallory' WHERE id = 2")
    broken = log.verify()
    assert (broken.id, broken.reason) == (2, "edited")


def test_verify_names_an_edited_row_even_when_its_hash_was_recomputed(log):
    drop_triggers(log.store)
    row = log.store.db["audit_log"].get(2) | {"why": "forged"}
    log.store.db.execute("UPDATE audit_log SET why = ?, hash = ? WHERE id = 2", ["forged", row_hash(row, row["prev_hash"])])
    assert (log.verify().id, log.verify().reason) == (3, "deleted")  # row 3 no longer follows its parent


@pytest.mark.parametrize(("deleted", "first_broken"), [(3, 4), (1, 2)])
def test_verify_names_the_row_after_a_deleted_one(log, deleted, first_broken):
    drop_triggers(log.store)
    log.store.db.execute("DELETE FROM audit_log WHERE id = ?", [deleted])
    broken = log.verify()
    assert (broken.id, broken.reason) == (first_broken, "deleted")


def test_verify_names_a_gap_in_the_ids_even_when_the_chain_links(log):
    drop_triggers(log.store)
    log.store.db.execute("UPDATE audit_log SET id = 9 WHERE id = 5")
    assert (log.verify().id, log.verify().reason) == (9, "deleted")


def test_verify_names_a_reordered_row(log):
    drop_triggers(log.store)
    for sql in ("UPDATE audit_log SET id = 100 WHERE id = 2", "UPDATE audit_log SET id = 2 WHERE id = 3",
                "UPDATE audit_log SET id = 3 WHERE id = 100"):
        log.store.db.execute(sql)
    broken = log.verify()
    assert (broken.id, broken.reason) == (2, "reordered")


def test_the_chain_continues_across_reopening_the_file(tmp_path):
    path = tmp_path / "a.db"
    first = open_store(path, clock=lambda: T0)
    AuditLog(first).append("proposed", who="bot", incident="i", action_id="a", targets=["h"])
    first.close()
    second = open_store(path, clock=lambda: T0)
    log = AuditLog(second)
    log.append("approved", who="amy", incident="i", action_id="a", targets=["h"])
    rows = log.entries()
    assert rows[1]["prev_hash"] == rows[0]["hash"] and log.verify() is None
    second.close()


def test_concurrent_writers_on_one_file_keep_a_single_unbroken_chain(tmp_path):
    """Threads share one store (the process lock); a second store stands in for another process
    (the file's write lock): no two rows may claim the same predecessor."""
    path = tmp_path / "busy.db"
    shared, other = open_store(path, clock=lambda: T0), open_store(path, clock=lambda: T0)

    def append_many(store, who):
        for n in range(40):
            AuditLog(store).append("proposed", who=who, incident="i", action_id=f"{who}-{n}", targets=["h"])

    threads = [threading.Thread(target=append_many, args=(s, w))
               for s, w in ((shared, "t1"), (shared, "t2"), (other, "p2"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    log = AuditLog(shared)
    assert len(log) == 120 and log.verify() is None
    shared.close()
    other.close()
