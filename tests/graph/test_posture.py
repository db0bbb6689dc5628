"""The posture report from a seeded twin: scorecard figures, trends, actions with approvers, risks,
recommendations; ``cyberops report --out`` and ``report`` in chat."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from rich.console import Console

from bot.cli import main
from bot.console import ConsoleSurface
from bot.conversation import Conversation
from bot.report_view import make_report
from bot.surface import Message
from graph.posture import build_report, markdown
from graph.runtime import Defence
from memory.store import open_store
from twin.scenario import load_scenario

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture
def defence(tmp_path, weights):
    store = open_store(tmp_path / "r.db")
    d = Defence(scenario=load_scenario("demo"), store=store, agents=weights, restore=False)
    yield d
    d.close_connections()
    store.close()


def test_a_quiet_twin_scores_full_detect_respond_and_recover(defence):
    report = build_report(defence, scope="t")
    scores = report.scores()
    assert set(scores) == {"Identify", "Protect", "Detect", "Respond", "Recover"}
    assert scores["Detect"] == 100 and scores["Respond"] == 100 and scores["Recover"] == 100
    vuln = defence.sim.vulnerability[0]
    assert scores["Protect"] == round(100 * float((vuln < 0.8).mean()))
    assert all(s.trend == "" for s in report.scorecard)  # no previous report


def test_the_scorecard_follows_the_twin_and_trends_against_the_previous_report(defence):
    first = build_report(defence, scope="t")
    net = defence.sim.network
    hvn = int(np.flatnonzero(net.high_value)[0])
    neighbour = int(net.csr_indices[net.csr_indptr[hvn]])
    defence.sim.visible[0, neighbour] = defence.sim.compromised[0, neighbour] = True
    defence.sim.isolated[0, 400:440] = True  # in ops, away from the servers' jewel
    defence.sim.availability_cache.mark_dirty(np.array([[0]]), np.arange(net.n_subnets)[None, :])
    second = build_report(defence, scope="t", previous={"at": first.at, "scorecard": first.scores()})
    by_name = {s.name: s for s in second.scorecard}
    assert by_name["Detect"].value == 20 and by_name["Detect"].trend == "↓"
    assert by_name["Recover"].value < 100 and by_name["Recover"].trend == "↓"
    assert second.paths and second.paths[0][-1] == net.names[hvn]  # the compromise's path to the jewel
    assert any(net.names[hvn] in r for r in second.recommendations)


def test_actions_in_the_period_name_who_approved_them(defence):
    status = defence.open_incident(max_cycles=2)
    defence.run(status.incident, lambda p: ("approve", []), by="alice")
    report = build_report(defence, scope="t")
    assert report.actions and {a["approved_by"] for a in report.actions} == {"alice"}
    assert all(a["kind"] in ("isolate", "patch", "reset", "recover") for a in report.actions)
    assert report.metrics and report.metrics[-1]["step"] == 2  # the twin's steps were recorded
    text = markdown(report, images={"map": "map.png", "trend": "trend.png"})
    assert "## IPDRR scorecard" in text and "approved by alice" in text and "![Map of the twin](map.png)" in text


def test_make_report_renders_both_pictures_and_remembers_the_scorecard(defence):
    report, images = make_report(defence, scope="chan")
    assert set(images) == {"map", "trend"} and all(data.startswith(PNG) for data in images.values())
    assert defence.reports.last_report("chan")["scorecard"] == report.scores()


def test_cyberops_report_writes_markdown_and_pngs(tmp_path, capsys):
    out = tmp_path / "report"
    assert main(["report", "--db", str(tmp_path / "x.db"), "--out", str(out), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["files"] == ["report.md", "map.png", "trend.png"]
    assert (out / "map.png").read_bytes().startswith(PNG) and "# Posture report" in (out / "report.md").read_text()


def test_cyberops_report_refuses_an_out_path_that_is_a_file(tmp_path, capsys):
    target = tmp_path / "file.txt"
    target.write_text("x")
    assert main(["report", "--db", str(tmp_path / "x.db"), "--out", str(target)]) == 2
    assert "is not a folder" in capsys.readouterr().err


def test_report_now_in_chat_posts_the_text_and_uploads_the_pictures(defence, tmp_path):
    out = io.StringIO()
    surface = ConsoleSurface(Console(file=out, width=200), image_dir=str(tmp_path / "img"))
    chat = Conversation(defence=defence, surfaces={"console": surface}, channels={"console": "term"},
                        recognise=lambda text: {"intent": "report", "schedule": None, "text": text})
    assert "Posted" in chat.command(Message("console", "a", "term", "report now")).text
    text = out.getvalue()
    assert "Posture report" in text and "Identify" in text and "Recommendations" in text
    saved = sorted(p.name for p in (tmp_path / "img").iterdir())
    assert len(saved) == 2 and saved[0].endswith("map.png") and saved[1].endswith("trend.png")
    assert "need `cyberops serve`" in chat.command(Message("console", "a", "term", "report schedule daily at 9")).text
