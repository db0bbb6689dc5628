"""Answers Discord fails while it is down (the local fake REST API answering 503) are held in the durable
outbox and arrive exactly once from the clock after it recovers; past the interaction token's 15 minutes
they go to the channel, mentioning the asker."""

from __future__ import annotations

import time

import pytest
from hand_clock import HandClock
from test_discord import APPROVER, OUTSIDER, SCENARIO, TIMEOUT, Harness, loop  # noqa: F401 - loop: a fixture

import discord_fake_api as fake_api
from bot.conversation import Conversation
from bot.discord_bot import CyberOpsBot, build_discord_bot
from bot.settings import Settings
from graph.intent_slots import TwinNames
from graph.intents import IntentRecogniser
from graph.runtime import Defence
from memory.outbox import HeldReply
from memory.store import open_store
from twin.build import build_network
from twin.scenario import scenario_from_dict

from discord_fake_api import ALICE, APP_ID, CHANNEL_ID, EPHEMERAL, command_interaction, text_channel

FOLLOWUPS = r"POST /webhooks/.*"
TRY_TIMEOUT = 0.5  # seconds per try (discord.py itself would retry a 503 for ~25 s)



class OutageHarness(Harness):
    """test_discord's harness, with answers tried for :data:`TRY_TIMEOUT` at most."""

    def start_bot(self) -> CyberOpsBot:
        settings = Settings(_env_file=None, discord_api_url=self.fake.url, cyberops_discord_channel=int(CHANNEL_ID))
        bot = build_discord_bot(self.conversation, settings, reply_timeout=TRY_TIMEOUT)
        self.run(bot.login("fake-token"))

        async def seed() -> None:
            bot._connection._add_guild_from_data(fake_api.guild([APPROVER, OUTSIDER], [text_channel()]))
        self.run(seed())
        self.bots.append(bot)
        return bot


@pytest.fixture(scope="module")
def recogniser():
    return IntentRecogniser(names=TwinNames.from_network(build_network(scenario_from_dict(SCENARIO))))


@pytest.fixture
def clock() -> HandClock:
    return HandClock()


@pytest.fixture
def env(loop, tmp_path, weights, recogniser, clock):  # noqa: F811 - loop is test_discord's fixture
    store = open_store(tmp_path / "cyberops.db", clock=clock)
    defence = Defence(scenario=scenario_from_dict(SCENARIO), store=store, agents=weights, tick_on_act=False,
                      restore=False)
    harness = OutageHarness(loop, Conversation(defence=defence, recognise=recogniser.recognise))
    harness.start_bot()
    yield harness
    harness.close()
    defence.close_connections()
    store.close()


def held(conversation: Conversation, count: int = 1) -> list[HeldReply]:
    deadline = time.monotonic() + TIMEOUT
    while len(found := conversation.outbox.entries.pending()) < count:
        assert time.monotonic() < deadline, f"{count} held answers expected, {len(found)} seen"
        time.sleep(0.02)
    return found


def followups(env: OutageHarness, interaction: dict, *, ok: bool = True) -> list[fake_api.Call]:
    return [c for c in env.fake.find("POST", rf"/webhooks/{APP_ID}/{interaction['token']}") if (c.status == 200) == ok]


def test_a_commands_answer_that_discord_failed_arrives_once_as_its_followup_after_it_recovers(env, clock):
    env.fake.fail(FOLLOWUPS)
    sent = env.inject(command_interaction("help", who=APPROVER))
    [reply] = held(env.conversation)
    assert reply.kind == "followup" and reply.destination["token"] == sent["token"]
    assert followups(env, sent, ok=False) and not followups(env, sent)
    env.conversation.tick()  # still down: tried again, kept
    assert env.conversation.outbox.entries.status(reply.id) == "pending"

    env.fake.recover()
    clock.advance(seconds=61)
    env.conversation.tick()
    [answer] = followups(env, sent)
    assert answer.json["flags"] == EPHEMERAL and answer.json["content"] == reply.text and "/cyberops" in reply.text
    assert env.conversation.outbox.entries.status(reply.id) == "delivered"
    clock.advance(minutes=5)
    env.conversation.tick()
    assert len(followups(env, sent)) == 1  # exactly once


def test_a_public_answer_held_through_an_outage_still_sends_its_private_note_first(env, clock):
    env.fake.fail(FOLLOWUPS)
    sent = env.inject(command_interaction("stop", who=APPROVER))
    [reply] = held(env.conversation)
    assert reply.destination["note"] is True and not reply.ephemeral
    env.fake.recover()
    env.conversation.outbox.drain()
    note, answer = followups(env, sent)
    assert note.json["flags"] == EPHEMERAL and "Posted for everyone" in note.json["content"]
    assert not answer.json.get("flags") and "Paused" in answer.json["content"]


def test_an_answer_past_its_interaction_tokens_15_minutes_goes_to_the_channel_mentioning_the_asker(env, clock):
    env.fake.fail(FOLLOWUPS)
    sent = env.inject(command_interaction("help", who=APPROVER))
    [reply] = held(env.conversation)
    clock.advance(minutes=15)
    done = env.conversation.outbox.drain()  # follow-ups still fail, but they are no longer tried
    assert (done.rerouted, done.delivered) == (1, 1)
    [posted] = env.fake.find("POST", rf"/channels/{CHANNEL_ID}/messages")
    assert posted.json["content"].startswith(f"<@{ALICE['id']}> ") and "/cyberops" in posted.json["content"]
    assert len(followups(env, sent, ok=False)) == 1  # the first try only
    assert env.conversation.outbox.entries.status(reply.id) == "delivered"
