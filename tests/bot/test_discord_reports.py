"""Posture reports on Discord: the real discord.py against the local fake REST API posts one message with the
report's embed (the map as its picture) and both PNGs attached, on request and from a schedule; a big report
stays within Discord's embed limits."""

from __future__ import annotations

import test_discord
from discord_fake_api import CHANNEL_ID, command_interaction
from test_discord import APPROVER
from test_slack_reports import PNG, SCORES, big_report

from bot.discord_views import report_embed
from bot.report_view import post_report
from bot.schedules import ReportScheduler
from graph.posture import build_report
from memory.chat import ChatMemory

# the fake Discord, the bot on its own loop and a live twin, as in test_discord.py
loop, defence, discord_env = test_discord.loop, test_discord.defence, test_discord.discord_env
recogniser = test_discord.recogniser


def report_message(env, count: int = 1):
    """The ``count``-th message posted to the channel with files, once it arrived."""
    return env.fake.wait_for("POST", rf"/channels/{CHANNEL_ID}/messages", count=count)[count - 1]


def assert_report_message(call, expected) -> None:
    [embed] = call.json["embeds"]
    assert embed["title"] == "Posture report" and expected.summary in embed["description"]
    scores = embed["fields"][:5]
    assert [f["name"].split()[0] for f in scores] == SCORES and all(f["inline"] for f in scores)
    for field, score in zip(scores, expected.scorecard):
        assert field["name"].startswith(f"{score.name} {score.value}/100") and field["value"] == score.figure
    names = [f["name"] for f in embed["fields"][5:]]
    assert names[0].startswith("Open incidents") and names[1].startswith("Actions in the period")
    assert names[2:] == ["Top risks", "Recommendations"]
    assert expected.recommendations[0] in embed["fields"][-1]["value"]
    assert embed["image"]["url"] == "attachment://map.png"  # the map is the embed's picture
    assert [name for name, _ in call.files] == ["map.png", "trend.png"]
    assert all(data.startswith(PNG) for _, data in call.files)
    assert [a["filename"] for a in call.json["attachments"]] == ["map.png", "trend.png"]


def test_report_now_posts_one_message_with_the_embed_and_both_pictures_attached(discord_env, defence):
    for _ in range(4):
        discord_env.conversation.tick()
    posted_before = len(discord_env.fake.find("POST", rf"/channels/{CHANNEL_ID}/messages"))
    sent = discord_env.inject(command_interaction("report", who=APPROVER))
    [followup] = discord_env.followups(sent)
    assert "Posted the posture report" in followup.json["content"]
    call = report_message(discord_env, posted_before + 1)
    assert_report_message(call, build_report(defence, scope="expected"))
    assert not call.json.get("content")  # everything is in the embed
    threads = discord_env.fake.find("POST", rf"/channels/{CHANNEL_ID}/messages/\d+/threads")
    assert len(threads) == posted_before  # only incidents open threads


def test_a_scheduled_run_posts_the_report_from_the_schedulers_thread(discord_env, defence):
    scheduler = ReportScheduler(
        reports=defence.reports, chat=ChatMemory(defence.store), timezone="UTC",
        post=lambda s: post_report(defence, discord_env.conversation.surfaces[s.surface], s.channel))
    discord_env.conversation.scheduler = scheduler
    sent = discord_env.inject(command_interaction("report", {"what": "every day at 07:30"}, who=APPROVER))
    reply = discord_env.followups(sent, count=2)[1].json["content"]
    assert "Scheduled posture report #1" in reply and "07:30 UTC" in reply
    assert scheduler.run_due(1) and not scheduler.run_due(1)  # once per due minute
    assert_report_message(report_message(discord_env), build_report(defence, scope="expected"))


def test_a_big_report_stays_within_discords_embed_limits():
    embed = report_embed(big_report())
    data = embed.to_dict()
    assert len(embed) <= 6000 and len(data["fields"]) <= 25
    assert len(data["title"]) <= 256 and len(data["description"]) <= 4096
    assert all(len(f["name"]) <= 256 and len(f["value"]) <= 1024 for f in data["fields"])
    assert [f["name"].split()[0] for f in data["fields"][:5]] == SCORES
    names = [f["name"] for f in data["fields"][5:]]
    assert names[0] == "Open incidents (60)" and names[1] == "Actions in the period (30, newest 5 shown)"
    recommendations = [f["value"] for f in data["fields"] if f["name"] == "Recommendations"]
    assert recommendations and recommendations[0].startswith("• Recommendation 0: <patch> &")
    assert recommendations[-1].endswith("…")  # what did not fit is marked, not silently dropped
