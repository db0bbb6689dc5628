"""``cyberops audit``: prints the log, filters by incident, emits JSON, verifies the chain."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.cli import main
from memory.audit import AuditLog
from memory.store import open_store

REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 12, 4, 17, 0, 0, tzinfo=UTC)


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "ops.db"
    store = open_store(path, clock=lambda: T0)
    log = AuditLog(store)
    log.append("proposed", who="bot", incident="inc-1", action_id="a1", targets=["web-1"], why="web-1 seen compromised")
    log.append("approved", who="amy", incident="inc-1", action_id="a1", targets=["web-1"], why="operator approve")
    log.append("proposed", who="bot", incident="inc-2", action_id="a2", targets=["db-1"], why="patch db")
    log.append("executed", who="bot", incident="inc-1", action_id="a1", targets=["web-1"], result={"isolated": 1})
    store.close()
    return path


def tamper(path: Path, *sql: str) -> None:
    """Edit the file as an attacker would: drop the append-only triggers, then change rows."""
    conn = sqlite3.connect(path)
    conn.executescript("DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete;" + ";".join(sql))
    conn.commit()
    conn.close()


def test_verify_on_an_intact_log_says_ok_with_the_count_and_exits_0(db):
    done = subprocess.run([sys.executable, "-m", "bot.cli", "audit", "--verify", "--db", str(db)],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "audit chain OK: 4 entries"


def test_verify_on_a_tampered_log_exits_1_naming_the_first_broken_row(db, capsys):
    tamper(db, "UPDATE audit_log SET why = 'nothing happened' WHERE id = 2")
    assert main(["audit", "--verify", "--db", str(db)]) == 1
    assert capsys.readouterr().out.startswith("audit chain BROKEN at row 2: edited")


def test_verify_reports_a_deleted_row(db, capsys):
    tamper(db, "DELETE FROM audit_log WHERE id = 3")
    assert main(["audit", "--verify", "--db", str(db)]) == 1
    assert capsys.readouterr().out.startswith("audit chain BROKEN at row 4: deleted")


def test_the_database_comes_from_cyberops_db_when_no_db_is_given(db, capsys, monkeypatch):
    monkeypatch.setenv("CYBEROPS_DB", str(db))
    assert main(["audit", "--verify"]) == 0
    assert "4 entries" in capsys.readouterr().out


def test_a_missing_database_is_one_line_exit_2_and_is_not_created(tmp_path):
    missing = tmp_path / "none.db"
    done = subprocess.run([sys.executable, "-m", "bot.cli", "audit", "--db", str(missing)],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert line.startswith(f"cyberops: error: {missing}: no such database file")
    assert not missing.exists()


def test_a_file_that_is_not_a_database_is_one_line_exit_2(tmp_path, capsys):
    junk = tmp_path / "junk.db"
    junk.write_text("not sqlite at all " * 100)
    assert main(["audit", "--db", str(junk)]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"cyberops: error: {junk}: not a CyberOps memory database")


def test_json_prints_one_parsable_entry_per_line_in_order(db, capsys):
    assert main(["audit", "--db", str(db), "--json"]) == 0
    entries = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [e["id"] for e in entries] == [1, 2, 3, 4]
    assert entries[3]["result"] == {"isolated": 1} and entries[3]["targets"] == ["web-1"]
    assert entries[1]["who"] == "amy" and entries[1]["at"] == "2026-12-04T17:00:00Z"


def test_incident_filter_keeps_only_that_incidents_entries(db, capsys):
    assert main(["audit", "--db", str(db), "--incident", "inc-1", "--json"]) == 0
    entries = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [e["event"] for e in entries] == ["proposed", "approved", "executed"]
    assert {e["incident"] for e in entries} == {"inc-1"}


def test_the_table_shows_each_entry_with_event_who_and_targets(db, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")  # rich wraps cells to the terminal's width
    assert main(["audit", "--db", str(db), "--incident", "inc-2"]) == 0
    out = capsys.readouterr().out
    assert "Audit log (1 entry)" in out
    assert "proposed" in out and "db-1" in out and "patch db" in out and "amy" not in out


def test_verify_with_an_incident_is_refused_because_the_chain_is_global(db, capsys):
    assert main(["audit", "--verify", "--incident", "inc-1", "--db", str(db)]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("cyberops: error: command line: --incident: --verify checks the whole chain")


def test_help_lists_the_audit_options():
    done = subprocess.run([sys.executable, "-m", "bot.cli", "audit", "--help"],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.startswith("usage: cyberops audit")
    for option in ("--db", "--incident", "--json", "--verify"):
        assert option in done.stdout
