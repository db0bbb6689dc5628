"""``cyberops run-incident``: one incident end to end without chat, decisions from --approve."""

from __future__ import annotations

import json

import pytest

from bot.cli import main
from memory.audit import AuditLog
from memory.short_term import ShortTermMemory
from memory.store import open_store


def run_json(capsys, *args: str) -> dict:
    assert main(["run-incident", "--json", *args]) == 0
    return json.loads(capsys.readouterr().out)


def test_approving_all_runs_the_incident_to_its_end_and_records_it(tmp_path, capsys):
    db = str(tmp_path / "ops.db")
    report = run_json(capsys, "--db", db, "--steps", "4")
    assert report["incident"] == "INC-0001" and report["outcome"].startswith("stopped after 4")
    assert report["steps"] == 4 and report["confirmations"] == 4
    assert set(report["actions"]) == {"executed"} and report["audit_chain_ok"] is True
    store = open_store(db)
    assert [i["status"] for i in ShortTermMemory(store).incidents()] == ["closed"]
    assert AuditLog(store).verify() is None
    store.close()


def test_approving_none_rejects_every_action(tmp_path, capsys):
    report = run_json(capsys, "--db", str(tmp_path / "ops.db"), "--steps", "3", "--approve", "none")
    assert set(report["actions"]) == {"rejected"} and report["executed"] == {}


def test_a_decision_script_is_followed_line_by_line_then_the_rest_is_rejected(tmp_path, capsys):
    script = tmp_path / "decisions.txt"
    script.write_text("approve  # first step\n\nreject\n")
    report = run_json(capsys, "--db", str(tmp_path / "ops.db"), "--steps", "3", "--approve", "script", str(script))
    store = open_store(tmp_path / "ops.db")
    by_step = {}
    for a in ShortTermMemory(store).actions(report["incident"]):
        by_step.setdefault(a.key.split("/")[1], set()).add(a.status)
    store.close()
    assert by_step == {"c0": {"executed"}, "c1": {"rejected"}, "c2": {"rejected"}}


@pytest.mark.parametrize(("script", "problem"), [
    ("approve\nmaybe\n", "line 2: 'maybe' is not approve, reject or edit"),
    ("edit web-01\n", "line 1: edit needs hosts to drop"),
    ("reject -web-01\n", "line 1: reject takes no hosts"),
])
def test_a_bad_decision_script_is_one_clear_line(tmp_path, capsys, script, problem):
    path = tmp_path / "decisions.txt"
    path.write_text(script)
    assert main(["run-incident", "--db", str(tmp_path / "ops.db"), "--approve", "script", str(path)]) == 2
    err = capsys.readouterr().err
    assert problem in err and str(path) in err and "Traceback" not in err


@pytest.mark.parametrize(("args", "problem"), [
    (["--steps", "0"], "--steps: must be at least 1"),
    (["--approve", "maybe"], "'maybe' is not all, none or script"),
    (["--approve", "script"], "'script' needs a FILE"),
    (["--approve", "all", "extra"], "give all, none, or script FILE"),
    (["--scenario", "no-such-scenario"], "no-such-scenario"),
])
def test_bad_arguments_are_one_clear_line(tmp_path, capsys, args, problem):
    assert main(["run-incident", "--db", str(tmp_path / "ops.db"), *args]) == 2
    assert problem in capsys.readouterr().err
