"""Replies Slack fails while it is down (the local fake Web API answering 503) are held in the durable outbox
and arrive exactly once from the clock after it recovers; a response URL past its 30 minutes falls back to
an ephemeral post; a reply undelivered for an hour is dropped, with a log line."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import pytest
from hand_clock import HandClock
from slack_fake_api import BOT_USER, FakeSlackAPI
from test_slack import ALICE, CHANNEL, SCENARIO, SECRET, Slack

from bot.conversation import Conversation
from bot.settings import Settings
from bot.slack_app import build_slack_app, slack_web_client, start_slack_http, SlackSurface
from graph.intent_slots import TwinNames
from graph.intents import IntentRecogniser
from graph.runtime import Defence
from memory.outbox import HeldReply
from memory.store import open_store
from twin.build import build_network
from twin.scenario import scenario_from_dict

DOWN = ("response", "chat.postMessage", "chat.postEphemeral")  # every way a reply can go



@pytest.fixture(scope="module")
def recogniser():
    return IntentRecogniser(names=TwinNames.from_network(build_network(scenario_from_dict(SCENARIO))))


@dataclass
class Rig:
    api: FakeSlackAPI
    slack: Slack
    conversation: Conversation
    clock: HandClock


@pytest.fixture
def rig(tmp_path, weights, recogniser):
    clock = HandClock()
    with FakeSlackAPI() as api:
        settings = Settings(_env_file=None, slack_bot_token="xoxb-test-token", slack_signing_secret=SECRET,
                            slack_api_url=api.base_url, cyberops_slack_channel=CHANNEL, cyberops_approvers=ALICE)
        store = open_store(tmp_path / "slack.db", clock=clock)
        defence = Defence(scenario=scenario_from_dict(SCENARIO), store=store, agents=weights, tick_on_act=False,
                          restore=False)
        conversation = Conversation(defence=defence, surfaces={"slack": SlackSurface(slack_web_client(settings))},
                                    channels={"slack": CHANNEL}, approvers=settings.approvers,
                                    recognise=recogniser.recognise)
        server = start_slack_http(build_slack_app(conversation, settings))
        yield Rig(api, Slack(server.port, api), conversation, clock)
        server.stop()
        defence.close_connections()
        store.close()


def held(conversation: Conversation, count: int = 1, timeout: float = 10.0) -> list[HeldReply]:
    """The outbox's undelivered replies, once ``count`` are there (the worker holds them after its try)."""
    deadline = time.monotonic() + timeout
    while len(found := conversation.outbox.entries.pending()) < count:
        assert time.monotonic() < deadline, f"{count} held replies expected, {len(found)} seen"
        time.sleep(0.02)
    return found


def test_a_commands_reply_that_slack_failed_arrives_once_through_its_response_url_after_it_recovers(rig):
    rig.api.fail(*DOWN)
    assert rig.slack.command("help") == 200
    [reply] = held(rig.conversation)
    assert reply.kind == "response" and "/cyberops" in reply.text and reply.destination["user"] == ALICE
    rig.conversation.tick()  # still down: the clock tries again, and keeps it
    assert len(rig.api.calls("response", ok_only=False)) == 2 and not rig.api.calls("response")
    assert rig.conversation.outbox.entries.status(reply.id) == "pending"

    rig.api.recover()
    rig.conversation.tick()  # back, but the reply's next try is not due yet (backoff)
    assert not rig.api.calls("response")
    rig.clock.advance(seconds=61)
    rig.conversation.tick()
    [answer] = rig.api.calls("response")
    assert answer.path == reply.destination["url"].removeprefix(rig.api.url)
    assert answer.body["text"] == reply.text and answer.body["response_type"] == "ephemeral"
    assert rig.conversation.outbox.entries.status(reply.id) == "delivered"
    rig.clock.advance(minutes=5)
    rig.conversation.tick()
    assert len(rig.api.calls("response")) == 1  # exactly once


def test_a_mentions_answer_that_slack_failed_reaches_only_the_asker_in_its_thread_once_back(rig):
    rig.api.fail(*DOWN)
    event = {"type": "app_mention", "channel": CHANNEL, "user": ALICE, "text": f"<@{BOT_USER}> help",
             "ts": "1767000300.000001"}
    assert rig.slack.event(event) == 200
    [reply] = held(rig.conversation)
    assert reply.kind == "ephemeral"
    rig.api.recover()
    rig.conversation.outbox.drain()
    [answer] = rig.api.calls("chat.postEphemeral")
    assert (answer.body["user"], answer.body["channel"], answer.body["thread_ts"]) == (ALICE, CHANNEL, event["ts"])
    assert "/cyberops" in answer.body["text"]
    rig.conversation.outbox.drain()
    assert len(rig.api.calls("chat.postEphemeral")) == 1


def test_a_drain_tries_a_slack_that_is_still_down_once_and_keeps_the_replies_in_order(rig):
    rig.api.fail(*DOWN)
    for n in range(3):
        assert rig.slack.command(f"hosts nowhere-{n}") == 200
        held(rig.conversation, n + 1)  # one at a time, so their order is the commands' order
    before = len(rig.api.calls_made)
    started = time.monotonic()
    done = rig.conversation.outbox.drain()
    assert time.monotonic() - started < 2.0 and (done.failed, done.delivered) == (1, 0)
    assert len(rig.api.calls_made) == before + 1  # one failed try; the other two wait behind it

    rig.api.recover()
    rig.clock.advance(seconds=61)
    assert rig.conversation.outbox.drain().delivered == 3
    assert [("nowhere-0" in t, "nowhere-1" in t, "nowhere-2" in t)
            for t in (c.body["text"] for c in rig.api.calls("response"))] == \
        [(True, False, False), (False, True, False), (False, False, True)]


def test_a_response_url_past_its_30_minutes_falls_back_to_an_ephemeral_post_to_the_asker(rig, caplog):
    rig.api.fail(*DOWN)
    assert rig.slack.command("help") == 200
    [reply] = held(rig.conversation)
    rig.api.recover()
    rig.api.fail("response")  # Slack's back, but this response URL is gone for good
    rig.clock.advance(minutes=31)
    with caplog.at_level(logging.INFO, logger="bot.outbox_delivery"):
        done = rig.conversation.outbox.drain()
    assert (done.rerouted, done.delivered) == (1, 1)
    [answer] = rig.api.calls("chat.postEphemeral")
    assert (answer.body["user"], answer.body["channel"], answer.body["text"]) == (ALICE, CHANNEL, reply.text)
    assert len(rig.api.calls("response", ok_only=False)) == 1  # only the first try: expired URLs aren't tried
    assert "expired; trying ephemeral instead" in caplog.text


def test_a_reply_still_undelivered_after_an_hour_is_dropped_with_a_log_line(rig, caplog):
    rig.api.fail(*DOWN)
    assert rig.slack.command("help") == 200
    [reply] = held(rig.conversation)
    rig.clock.advance(minutes=61)
    with caplog.at_level(logging.WARNING, logger="bot.outbox_delivery"):
        done = rig.conversation.outbox.drain()
    assert done.dropped == 1 and rig.conversation.outbox.entries.status(reply.id) == "dropped"
    assert f"outbox #{reply.id} dropped" in caplog.text and "HTTP 503" in caplog.text
    rig.api.recover()
    rig.conversation.outbox.drain()
    assert not rig.api.calls("response") and not rig.api.calls("chat.postEphemeral")
