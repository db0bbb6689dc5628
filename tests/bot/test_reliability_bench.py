"""``cyberops bench reliability`` at tiny sizes: every part runs, the summary's figures agree with the parts'
own results, and a missed target (or a bad ``--only``) changes the exit status."""

from __future__ import annotations

import json

from bench.reliability import PARTS, summary_rows, targets_met
from bot.cli import EXIT_BAD_INPUT, main

TINY = ["--kill-trials", "2", "--kill-live-trials", "1", "--requests", "20", "--clients", "4", "--incidents", "3", "--ticks", "1"]


def _run(capsys, *args: str) -> tuple[int, dict]:
    code = main(["bench", "reliability", *args, "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_a_tiny_run_of_every_part_gives_consistent_figures_and_meets_the_targets(capsys):
    code, out = _run(capsys, *TINY)
    parts = out["parts"]
    assert set(parts) == set(PARTS) and not any("error" in r for r in parts.values()), parts
    kill, live, slack, hostile, incidents = (parts[p] for p in PARTS)
    assert kill["trials"] == 2 and kill["survived"] <= kill["killed"] <= kill["trials"]
    assert live["trials"] == 1 and live["survived"] <= live["killed"] <= 1
    assert slack["requests"] == 20 and slack["clients"] == 4
    assert 0 <= slack["acked_within_3s"] <= slack["requests"] and slack["ack_p50_ms"] <= slack["ack_p99_ms"]
    assert 0 < hostile["rejected"] <= hostile["tried"]
    assert incidents["incidents"] == 3 and len(incidents["tick_s"]) == 1
    for key in ("lost_actions", "duplicated_actions"):
        assert isinstance(kill[key], int) and kill[key] >= 0 and isinstance(hostile[key], int) and hostile[key] >= 0
    assert isinstance(slack["lost_actions"], int) and slack["lost_actions"] >= 0

    rows = {r["figure"]: r for r in out["summary"]}
    assert rows["kill points survived / tried"]["result"].startswith(f"{kill['survived']} / {kill['killed']} ")
    assert rows["Slack requests served / sent"]["result"].startswith(f"{slack['acked_within_3s']} / 20;")
    assert f"p99 {slack['ack_p99_ms']} ms" in rows["Slack requests served / sent"]["result"]
    assert rows["hostile inputs rejected / tried"]["result"] == f"{hostile['rejected']} / {hostile['tried']}"
    assert rows["kill points survived / tried (live twin)"]["result"].startswith(
        f"{live['survived']} / {live['killed']} (1 trials;")
    lost = kill["lost_actions"] + live["lost_actions"] + slack["lost_actions"] + hostile["lost_actions"]
    assert rows["actions lost, all parts"]["result"].startswith(f"{lost} (")
    assert all(r["verdict"] in ("PASS", "MISS") for r in out["summary"])
    # the control: at these sizes every target is met, and the exit status says so
    assert out["targets_met"] and code == 0, out["summary"]

    # the same figures against an impossible tick target: one MISS, and the status flips
    strict = summary_rows(parts, tick_target_s=0.0)
    assert [r["verdict"] for r in strict if r["verdict"] == "MISS"] == ["MISS"] and not targets_met(strict)


def test_an_impossible_target_is_a_miss_and_a_nonzero_exit_status(capsys):
    code, out = _run(capsys, "--only", "incidents", "--incidents", "1", "--ticks", "1", "--tick-target", "0")
    assert code == 1 and not out["targets_met"] and set(out["parts"]) == {"incidents"}
    tick = next(r for r in out["summary"] if r["figure"].startswith("tick with 1 incidents open"))
    assert tick["verdict"] == "MISS" and tick["target"] == "<= 0 s"
    # no part of this run counts lost or duplicated actions: said so, not passed
    assert [r["verdict"] for r in out["summary"] if r["figure"].startswith("actions ")] == ["n/a", "n/a"]


def test_only_names_known_parts(capsys):
    assert main(["bench", "reliability", "--only", "kill,nope"]) == EXIT_BAD_INPUT
    assert "unknown part 'nope'" in capsys.readouterr().err
