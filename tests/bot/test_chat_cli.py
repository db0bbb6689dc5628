"""``cyberops demo`` (scripted when there is no terminal) and ``cyberops hosts``."""

from __future__ import annotations

import json

from bot.cli import main
from memory.audit import AuditLog
from memory.short_term import ShortTermMemory
from memory.store import open_store


def test_the_demo_plays_a_scripted_session_without_a_terminal(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin.isatty", lambda: False, raising=False)
    db = tmp_path / "demo.db"
    assert main(["demo", "--db", str(db), "--steps", "8"]) == 0
    out = capsys.readouterr().out
    assert "scripted operator" in out and "operator> status" in out and "Demo over" in out
    store = open_store(db)
    incidents = ShortTermMemory(store).incidents()
    assert incidents and AuditLog(store).verify() is None
    assert any(e["event"] == "executed" for e in AuditLog(store).entries())
    store.close()


def test_hosts_lists_every_host_of_the_twin_as_json(capsys):
    assert main(["hosts", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == 450 and {"name", "subnet", "role", "entry", "high_value"} <= set(rows[0])
    assert sum(r["high_value"] for r in rows) > 0 and {r["subnet"] for r in rows} >= {"servers", "rnd"}


def test_bad_demo_arguments_are_one_clear_line(capsys):
    assert main(["demo", "--tick", "-1"]) == 2
    assert "--tick: must be 0 or more" in capsys.readouterr().err
    assert main(["hosts", "--scenario", "nowhere"]) == 2
