"""Posture reports on Slack, through the real Bolt app on 127.0.0.1 and the local fake Web API: Block Kit with
the scorecard, the pictures uploaded into the report's thread, schedules run by a real ReportScheduler, and
Slack's Block Kit limits on a big report."""

from __future__ import annotations

import json
import re

import test_slack
from test_slack import ALICE, CHANNEL, until_ask

from bot.report_view import IMAGE_TITLES, chat_text, post_report
from bot.schedules import ReportScheduler
from bot.slack_blocks import escape, report_blocks
from graph.posture import PostureReport, Score, build_report
from memory.chat import ChatMemory

PNG = b"\x89PNG\r\n\x1a\n"
SCORES = ["Identify", "Protect", "Detect", "Respond", "Recover"]

# the Bolt app, the fake Web API and a live twin, as in test_slack.py
rig, recogniser = test_slack.rig, test_slack.recogniser


def report_post(rig) -> dict:
    """The chat.postMessage that carried a report's blocks, with the ts the fake gave it."""
    call = rig.api.wait_for("chat.postMessage", where=lambda c: (c.body.get("blocks") or [{}])[0].get("type")
                            == "header")[0]
    return call.body | {"ts": call.answer["ts"]}


def texts(blocks: list[dict]) -> list[str]:
    """Every text in the blocks: headers, sections, their fields, context elements."""
    out = []
    for block in blocks:
        if "text" in block:
            out.append(block["text"]["text"])
        out += [f["text"] for f in block.get("fields", [])]
        out += [e["text"] for e in block.get("elements", []) if "text" in e]
    return out


def assert_pictures_in_thread(rig, ts: str) -> None:
    """Both PNGs went up through the three-call flow and were shared in the report's thread."""
    asks = rig.api.wait_for("files.getUploadURLExternal", 2)
    uploads = rig.api.wait_for("upload", 2)
    [complete] = rig.api.wait_for("files.completeUploadExternal")
    assert [a.body["filename"] for a in asks] == ["map.png", "trend.png"]
    assert all(u.raw.startswith(PNG) and len(u.raw) == int(a.body["length"]) for a, u in zip(asks, uploads))
    assert complete.body["channel_id"] == CHANNEL and complete.body["thread_ts"] == ts
    files = json.loads(complete.body["files"])
    assert [f["id"] for f in files] == [a.answer["file_id"] for a in asks]
    assert [f["title"] for f in files] == [IMAGE_TITLES["map"], IMAGE_TITLES["trend"]]


# ---------------------------------------------------------------- report now
def test_report_now_posts_block_kit_with_the_scorecard_then_both_pictures_in_its_thread(rig):
    incident, pending, _ = until_ask(rig)  # an open incident waiting for a decision, for the report to name
    assert rig.slack.command("report now") == 200
    assert "Posted the posture report" in rig.api.wait_for("response")[0].body["text"]
    post = report_post(rig)
    blocks = post["blocks"]
    expected = build_report(rig.defence, scope="expected")  # the same twin and memory: the same figures
    assert post["channel"] == CHANNEL and "thread_ts" not in post
    assert blocks[0] == {"type": "header", "text": {"type": "plain_text", "text": "Posture report"}}
    assert blocks[1]["type"] == "context" and expected.summary in blocks[1]["elements"][0]["text"]
    fields = [f["text"] for f in blocks[2]["fields"]]
    assert len(fields) == 5
    for text, score in zip(fields, expected.scorecard):
        assert text.startswith(f"*{score.name}* {score.value}/100") and escape(score.figure) in text
    assert [re.match(r"\*(\w+)\*", t)[1] for t in fields] == SCORES
    all_text = "\n".join(texts(blocks))
    assert f"`{incident}`" in all_text and "waiting for approval" in all_text
    assert "*Recommendations*" in all_text and expected.recommendations
    assert all(escape(r) in all_text for r in expected.recommendations)
    assert post["text"].split("\n", 1)[1] == chat_text(expected).split("\n", 1)[1]  # the fallback, past its time
    assert_pictures_in_thread(rig, post["ts"])


def test_a_surface_without_its_own_layout_gets_the_text_and_two_uploads(rig):
    class Plain:
        name = "plain"

        def __init__(self) -> None:
            self.calls: list[tuple] = []

        def open_thread(self, channel: str, text: str) -> str:
            self.calls.append(("open_thread", channel, text))
            return "t1"

        def upload(self, channel: str, thread: str, filename: str, data: bytes, title: str) -> None:
            self.calls.append(("upload", thread, filename, data[:8], title))

    plain = Plain()
    assert post_report(rig.defence, plain, "here") == "t1"
    assert plain.calls[0][0] == "open_thread" and plain.calls[0][2].startswith("*Posture report*")
    assert plain.calls[1:] == [("upload", "t1", "map.png", PNG, "Map of the twin"),
                               ("upload", "t1", "trend.png", PNG, "Availability and compromises")]


# ---------------------------------------------------------------- schedules
def test_a_schedule_made_in_slack_is_listed_and_its_run_posts_a_report_to_the_channel(rig):
    defence = rig.defence
    scheduler = ReportScheduler(
        reports=defence.reports, chat=ChatMemory(defence.store), timezone="UTC",
        post=lambda schedule: post_report(defence, rig.conversation.surfaces[schedule.surface], schedule.channel))
    rig.conversation.scheduler = scheduler  # as bot/serve.py wires it (not started: run_due is called below)
    assert rig.slack.command("report schedule every weekday at 09:00") == 200
    reply = rig.api.wait_for("response")[0].body
    assert reply["response_type"] == "in_channel"
    made = re.search(r"Scheduled posture report #(\d+): (.+)\(UTC\); next on (\w{3}) \S+ 09:00 UTC", reply["text"])
    assert made, reply["text"]
    schedule_id = int(made[1])
    assert made[3] in ("Mon", "Tue", "Wed", "Thu", "Fri")
    [saved] = defence.reports.schedules(surface="slack", channel=CHANNEL)
    assert (saved.id, saved.cron, saved.created_by) == (schedule_id, "0 9 * * 1-5", f"slack:{ALICE}")

    assert rig.slack.command("report list") == 200
    listed = rig.api.wait_for("response", 2)[1].body["text"]
    assert f"#{schedule_id}:" in listed and "09:00 UTC" in listed
    assert not rig.api.calls("files.completeUploadExternal")  # nothing posted until the schedule runs

    assert scheduler.run_due(schedule_id)
    post = report_post(rig)
    assert post["channel"] == CHANNEL and [f["text"].split("*")[1] for f in post["blocks"][2]["fields"]] == SCORES
    assert_pictures_in_thread(rig, post["ts"])


# ---------------------------------------------------------------- limits
def big_report() -> PostureReport:
    """A report past every chat limit: many incidents and actions, long paths, long recommendations."""
    long = "a long explanation of why " * 80  # about 2,000 characters
    return PostureReport(
        at="2026-12-04T09:00:00Z", since="2026-12-03T09:00:00Z", summary="Busy day. " * 500,
        scorecard=[Score(name, 50, "a figure " * 300, "↓") for name in SCORES],
        open_incidents=[{"id": f"inc-{i:04d}", "title": f"Compromise in subnet {i} " * 10, "opened_at": "",
                         "waiting_for": "int-1" if i % 2 else None} for i in range(60)],
        actions=[{"at": "2026-12-04T08:00:00Z", "incident": f"inc-{i:04d}", "action": f"act-{i}", "kind": "isolate",
                  "targets": [f"host-{i}-{j}" for j in range(40)], "why": long, "approved_by": "U0ALICE"}
                 for i in range(30)],
        paths=[[f"node-{i}-{j}" for j in range(60)] for i in range(3)],
        vulnerable=[{"host": f"web-{i}", "subnet": "dmz", "role": "web", "vulnerability": 0.95, "entry": True,
                     "hops_to_high_value": 2} for i in range(5)],
        recommendations=[f"Recommendation {i}: <patch> & {long}" for i in range(40)])


def test_a_big_report_stays_within_slacks_block_kit_limits(rig):
    blocks = report_blocks(big_report())
    assert len(blocks) <= 50
    assert blocks[0]["text"]["text"] == "Posture report" and len(blocks[0]["text"]["text"]) <= 150
    assert all(len(t) <= 3000 for t in texts(blocks))
    assert all(len(b.get("fields", [])) <= 10 and all(len(f["text"]) <= 2000 for f in b.get("fields", []))
               for b in blocks)
    everything = "\n".join(texts(blocks))
    assert "Recommendation 0: &lt;patch&gt; &amp;" in everything  # mrkdwn's control characters escaped
    assert "more_" in everything  # what did not fit is counted, not silently dropped
    assert "newest 5 shown" in everything and "host-29-0" in everything and "host-0-0" not in everything
    # and Slack takes it, through the real client
    ts = rig.surface.post_report(CHANNEL, big_report(), {"map": PNG + b"map", "trend": PNG + b"trend"})
    assert report_post(rig)["ts"] == ts and len(rig.api.wait_for("upload", 2)) == 2
