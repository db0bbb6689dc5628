"""The Discord adapter end to end: the real discord.py 2.7.1 against a local fake REST API
(tests/bot/discord_fake_api.py), over a real conversation core and defence loop.

The bot's event loop runs in a background thread, as in production; the test's own thread
plays the worker threads the core runs in (ticks, and the surface's calls back into the loop).
Gateway events are injected through discord.py's private ``ConnectionState`` parsers.
"""

from __future__ import annotations

import asyncio
import copy
import threading
from collections.abc import Iterator

import discord
import pytest

import discord_fake_api as fake_api
from bot.conversation import SUBCOMMANDS, Conversation
from bot.discord_bot import CyberOpsBot, DiscordSurface, build_discord_bot, sync_commands
from bot.discord_views import custom_id
from bot.settings import Settings
from graph.intent_slots import TwinNames
from graph.intents import IntentRecogniser
from graph.runtime import Defence
from memory.store import open_store
from twin.build import build_network
from twin.scenario import scenario_from_dict

from discord_fake_api import (ALICE, APP_ID, BOT_USER, CHANNEL_ID, EPHEMERAL, MALLORY, FakeDiscord, button_ids,
                              click_interaction, command_interaction, member, text_channel)

SCENARIO = {
    "name": "discord-test", "seed": 7, "horizon": 20,
    "topology": {"subnets": 2, "nodes_per_subnet": 12, "generator": "tree", "entry_nodes": 2, "high_value_nodes": 1},
    "attack": {"mode": "recon", "intensity": 2, "p_detect": 1.0},
    "defender": {"actions_per_step": 3},
}
APPROVER = member(ALICE, approver=True)
OUTSIDER = member(MALLORY, approver=False)
TIMEOUT = 20.0


@pytest.fixture(scope="module")
def recogniser():
    names = TwinNames.from_network(build_network(scenario_from_dict(SCENARIO)))
    return IntentRecogniser(names=names)


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    """The bots' event loop, in its own thread (the test thread is a worker, as in production)."""
    base = discord.http.Route.BASE
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield loop
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()
    discord.http.Route.BASE = base  # build_discord_bot pointed discord.py at the fake


class Harness:
    """A fake Discord, the conversation core over a live twin, and the bot(s) between them."""

    def __init__(self, loop: asyncio.AbstractEventLoop, conversation: Conversation) -> None:
        self.loop, self.conversation = loop, conversation
        self.fake = FakeDiscord([text_channel()])
        self.run(self.fake.start())
        self.bots: list[CyberOpsBot] = []

    def run(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(TIMEOUT)

    @property
    def bot(self) -> CyberOpsBot:
        return self.bots[-1]

    def start_bot(self) -> CyberOpsBot:
        """Log a new bot in (setup_hook runs) and give it the guild, as GUILD_CREATE would."""
        settings = Settings(_env_file=None, discord_api_url=self.fake.url,
                            cyberops_discord_channel=int(CHANNEL_ID))
        bot = build_discord_bot(self.conversation, settings)
        self.run(bot.login("fake-token"))

        async def seed() -> None:
            bot._connection._add_guild_from_data(fake_api.guild([APPROVER, OUTSIDER], [text_channel()]))
        self.run(seed())
        self.bots.append(bot)
        return bot

    def stop_bot(self) -> None:
        self.run(self.bot.close())

    def inject(self, payload: dict) -> dict:
        """An INTERACTION_CREATE from the gateway (parsed on the loop, as discord.py does)."""
        self.loop.call_soon_threadsafe(self.bot._connection.parse_interaction_create, payload)
        return payload

    def gateway(self, event: str, payload: dict) -> None:
        """Any other gateway event, e.g. ``thread_create``, ``message_create``."""
        self.loop.call_soon_threadsafe(getattr(self.bot._connection, f"parse_{event}"), payload)

    def followups(self, interaction: dict, *, count: int = 1) -> list[fake_api.Call]:
        """The follow-up messages of one interaction, once ``count`` arrived (sent after the core answered)."""
        return self.fake.wait_for("POST", rf"/webhooks/{APP_ID}/{interaction['token']}", count=count, timeout=TIMEOUT)

    def callback(self, interaction: dict) -> fake_api.Call:
        return self.fake.wait_for("POST", rf"/interactions/{interaction['id']}/{interaction['token']}/callback",
                                  timeout=TIMEOUT)[0]

    def tick_until_ask(self, *, interrupt_after: str | None = None) -> dict:
        """Let the live twin move (from this worker thread) until a new confirmation is posted; returns it."""
        for _ in range(SCENARIO["horizon"]):
            self.conversation.tick()
            asks = [m for m in self.fake.messages.values() if button_ids(m)]
            if asks and button_ids(asks[-1])[0] != interrupt_after:
                return copy.deepcopy(asks[-1])  # as sent: the fake's copy changes with later edits
        raise AssertionError("no confirmation was posted")

    def close(self) -> None:
        for bot in self.bots:
            if not bot.is_closed():
                self.run(bot.close())
        self.run(self.fake.stop())


@pytest.fixture
def defence(tmp_path, weights):
    store = open_store(tmp_path / "cyberops.db")
    d = Defence(scenario=scenario_from_dict(SCENARIO), store=store, agents=weights, tick_on_act=False, restore=False)
    yield d
    d.close_connections()
    store.close()


@pytest.fixture
def discord_env(loop, defence, recogniser) -> Iterator[Harness]:
    harness = Harness(loop, Conversation(defence=defence, recognise=recogniser.recognise))
    harness.start_bot()
    yield harness
    harness.close()


def executed(defence: Defence, incident: str) -> list[str]:
    return [e["action_id"] for e in defence.audit.entries(incident=incident) if e["event"] == "executed"]


def incident_of(ask: dict) -> tuple[str, str]:
    _, _, incident, interrupt = button_ids(ask)[0].split(":")
    return incident, interrupt


# ---------------------------------------------------------------- slash commands
def test_a_slash_command_is_deferred_at_once_then_answered_in_an_ephemeral_followup(discord_env):
    sent = discord_env.inject(command_interaction("status", who=APPROVER))
    [followup] = discord_env.followups(sent)
    callback = discord_env.callback(sent)
    assert callback.json == {"type": 5, "data": {"flags": EPHEMERAL}}  # deferred, "thinking…", only for them
    assert discord_env.fake.calls.index(callback) < discord_env.fake.calls.index(followup)
    assert followup.json["flags"] == EPHEMERAL
    assert followup.json["content"].startswith("**Network:**")  # the core's status text, bold for Discord


def test_a_public_answer_is_posted_for_everyone_after_a_private_note(discord_env):
    sent = discord_env.inject(command_interaction("stop", who=APPROVER))
    first, second = discord_env.followups(sent, count=2)
    assert first.json["flags"] == EPHEMERAL  # the deferral's own follow-up stays private
    assert not second.json.get("flags") and "Paused" in second.json["content"]
    assert discord_env.conversation.paused


def test_command_options_reach_the_core_as_the_subcommands_words(discord_env):
    sent = discord_env.inject(command_interaction("hosts", {"subnet": "nowhere"}, who=APPROVER))
    [followup] = discord_env.followups(sent)
    assert "No subnet 'nowhere'" in followup.json["content"]


def test_commands_are_published_only_on_request_with_every_subcommand(discord_env):
    assert not discord_env.fake.find("PUT", r"/applications/.*")  # not on login or setup
    names = discord_env.run(sync_commands(discord_env.bot))
    [put] = discord_env.fake.find("PUT", rf"/applications/{APP_ID}/commands")
    assert names == ["cyberops"] and [c["name"] for c in put.json] == ["cyberops"]
    subcommands = {o["name"] for o in put.json[0]["options"]}
    assert set(SUBCOMMANDS) <= subcommands and "ask" in subcommands


# ---------------------------------------------------------------- an incident
def test_an_incident_gets_a_thread_and_an_ask_with_approve_and_reject_buttons(discord_env):
    ask = discord_env.tick_until_ask()
    [opened] = discord_env.fake.find("POST", rf"/channels/{CHANNEL_ID}/messages/\d+/threads")
    thread = opened.path.split("/")[4]  # a thread started from a message takes its id
    incident, interrupt = incident_of(ask)
    assert ask["channel_id"] == thread and incident in opened.json["name"]
    assert button_ids(ask) == [f"cyberops:approve:{incident}:{interrupt}", f"cyberops:reject:{incident}:{interrupt}"]
    assert ask["embeds"][0]["title"] == f"{incident}: confirmation {interrupt}"
    assert discord_env.conversation.defence.status(incident).pending["interrupt_id"] == interrupt


def test_an_approvers_click_closes_the_ask_posts_the_results_and_runs_each_action_once(discord_env):
    defence = discord_env.conversation.defence
    ask = discord_env.tick_until_ask()
    incident, interrupt = incident_of(ask)
    planned = [a["key"] for a in defence.status(incident).pending["actions"]]
    sent = discord_env.inject(click_interaction(button_ids(ask)[0], who=APPROVER, on=ask,
                                                channel=discord_env.fake.channels[ask["channel_id"]]))
    [followup] = discord_env.followups(sent)
    assert followup.json["flags"] == EPHEMERAL and "approve recorded" in followup.json["content"]
    [edit] = discord_env.fake.find("PATCH", rf"/channels/{ask['channel_id']}/messages/{ask['id']}")
    assert edit.json["components"] == []  # the buttons are gone
    assert f"Approved by <@{ALICE['id']}>" in edit.json["embeds"][0]["fields"][0]["value"]
    assert any(m["content"].startswith("**Step 0 done.**") for m in discord_env.fake.in_channel(ask["channel_id"]))
    assert sorted(executed(defence, incident)) == sorted(planned)
    assert all(a.status == "executed" for a in defence.short.actions(incident) if a.key in planned)


def test_a_non_approvers_click_is_refused_privately_audited_and_runs_nothing(discord_env):
    defence = discord_env.conversation.defence
    ask = discord_env.tick_until_ask()
    incident, interrupt = incident_of(ask)
    sent = discord_env.inject(click_interaction(button_ids(ask)[0], who=OUTSIDER, on=ask,
                                                channel=discord_env.fake.channels[ask["channel_id"]]))
    [followup] = discord_env.followups(sent)
    assert followup.json["flags"] == EPHEMERAL and "not an approver" in followup.json["content"]
    assert not discord_env.fake.find("PATCH", r"/channels/.*")  # the buttons stay for an approver
    assert executed(defence, incident) == []
    refused = [e for e in defence.audit.entries(incident=incident) if e["event"] == "refused"]
    assert refused and {e["who"] for e in refused} == {f"discord:{MALLORY['id']}"}
    assert defence.status(incident).pending["interrupt_id"] == interrupt


def test_a_double_click_runs_the_plan_once(discord_env):
    defence = discord_env.conversation.defence
    ask = discord_env.tick_until_ask()
    incident, _ = incident_of(ask)
    planned = [a["key"] for a in defence.status(incident).pending["actions"]]
    thread = discord_env.fake.channels[ask["channel_id"]]
    clicks = [discord_env.inject(click_interaction(button_ids(ask)[0], who=APPROVER, on=ask, channel=thread))
              for _ in range(2)]
    answers = sorted(discord_env.followups(c)[0].json["content"] for c in clicks)
    assert "approve recorded" in answers[0] and "not pending" in answers[1]
    assert sorted(executed(defence, incident)) == sorted(planned)
    assert len(discord_env.fake.find("PATCH", rf"/channels/{ask['channel_id']}/messages/{ask['id']}")) == 1


def test_a_stale_button_from_an_older_confirmation_does_nothing(discord_env):
    defence = discord_env.conversation.defence
    old = discord_env.tick_until_ask()
    thread = discord_env.fake.channels[old["channel_id"]]
    incident, first = incident_of(old)
    reject = discord_env.inject(click_interaction(button_ids(old)[1], who=APPROVER, on=old, channel=thread))
    discord_env.followups(reject)
    new = discord_env.tick_until_ask(interrupt_after=button_ids(old)[0])
    _, second = incident_of(new)
    assert second != first
    before = executed(defence, incident)
    stale = discord_env.inject(click_interaction(button_ids(old)[0], who=APPROVER, on=old, channel=thread))
    [followup] = discord_env.followups(stale)
    assert "not pending" in followup.json["content"]
    assert executed(defence, incident) == before
    assert defence.status(incident).pending["interrupt_id"] == second


def test_buttons_sent_before_a_restart_work_on_the_new_bot(discord_env):
    defence = discord_env.conversation.defence
    ask = discord_env.tick_until_ask()
    incident, _ = incident_of(ask)
    planned = [a["key"] for a in defence.status(incident).pending["actions"]]
    discord_env.stop_bot()
    reborn = discord_env.start_bot()  # knows no view: the buttons come back from their custom_id
    assert isinstance(discord_env.conversation.surfaces["discord"], DiscordSurface)
    assert discord_env.conversation.surfaces["discord"].bot is reborn
    sent = discord_env.inject(click_interaction(button_ids(ask)[0], who=APPROVER, on=ask,
                                                channel=discord_env.fake.channels[ask["channel_id"]]))
    [followup] = discord_env.followups(sent)
    assert "approve recorded" in followup.json["content"]
    assert sorted(executed(defence, incident)) == sorted(planned)
    assert discord_env.fake.find("PATCH", rf"/channels/{ask['channel_id']}/messages/{ask['id']}")


# ---------------------------------------------------------------- the surface
def test_the_surface_splits_long_posts_and_uploads_files_into_the_thread(discord_env):
    surface = discord_env.conversation.surfaces["discord"]
    long = "\n".join(f"line {i}: " + "x" * 90 for i in range(60))  # about 6000 characters
    thread = surface.open_thread(CHANNEL_ID, "*Posture report*\n" + long)
    [opened] = discord_env.fake.find("POST", rf"/channels/{CHANNEL_ID}/messages/\d+/threads")
    assert opened.json["name"] == "Posture report" and opened.path.split("/")[4] == thread
    first = discord_env.fake.find("POST", rf"/channels/{CHANNEL_ID}/messages")[0].json["content"]
    rest = [m["content"] for m in discord_env.fake.in_channel(thread)]
    assert first.startswith("**Posture report**") and len(rest) >= 2
    assert all(len(part) <= 2000 for part in [first, *rest]) and "line 59" in rest[-1]
    surface.upload(CHANNEL_ID, thread, "map.png", b"\x89PNG fake", "Map of the twin")
    [upload] = [c for c in discord_env.fake.find("POST", rf"/channels/{thread}/messages") if c.files]
    assert upload.files == [("map.png", b"\x89PNG fake")] and upload.json["content"] == "Map of the twin"


def test_the_surface_refuses_to_block_the_bots_own_event_loop(discord_env):
    async def on_the_loop():
        discord_env.conversation.surfaces["discord"].post(CHANNEL_ID, CHANNEL_ID, "hello")
    with pytest.raises(RuntimeError, match="worker threads"):
        discord_env.run(on_the_loop())


# ---------------------------------------------------------------- thread messages
def test_words_in_the_incident_thread_reach_the_core_and_are_answered_there(discord_env):
    ask = discord_env.tick_until_ask()
    thread_id = ask["channel_id"]
    discord_env.gateway("thread_create", discord_env.fake.channels[thread_id])
    posted = len(discord_env.fake.find("POST", rf"/channels/{thread_id}/messages"))
    said = fake_api.message(thread_id, ALICE, "status please", with_member=APPROVER)
    discord_env.gateway("message_create", said)
    answer = discord_env.fake.wait_for("POST", rf"/channels/{thread_id}/messages", count=posted + 1,
                                       timeout=TIMEOUT)[-1]
    assert str(answer.json["message_reference"]["message_id"]) == said["id"]
    assert answer.json["content"].startswith("**Network:**")


def test_a_typed_approval_by_a_non_approver_is_refused_also_in_a_thread_the_bot_has_not_cached(discord_env):
    defence = discord_env.conversation.defence
    ask = discord_env.tick_until_ask()
    incident, interrupt = incident_of(ask)
    thread_id = ask["channel_id"]  # no THREAD_CREATE: the bot looks the thread up
    posted = len(discord_env.fake.find("POST", rf"/channels/{thread_id}/messages"))
    discord_env.gateway("message_create", fake_api.message(thread_id, MALLORY, "approve", with_member=OUTSIDER))
    answer = discord_env.fake.wait_for("POST", rf"/channels/{thread_id}/messages", count=posted + 1,
                                       timeout=TIMEOUT)[-1]
    assert discord_env.fake.find("GET", rf"/channels/{thread_id}")
    assert "not an approver" in answer.json["content"]
    assert executed(defence, incident) == []
    assert defence.status(incident).pending["interrupt_id"] == interrupt


def test_the_bots_own_messages_and_other_channels_are_ignored(discord_env):
    discord_env.gateway("message_create", fake_api.message(CHANNEL_ID, BOT_USER, "status"))
    discord_env.gateway("message_create", fake_api.message(CHANNEL_ID, ALICE, "status", with_member=APPROVER))
    marker = discord_env.inject(command_interaction("help", who=APPROVER))
    discord_env.followups(marker)  # events are handled in order: by now both messages were seen
    assert not discord_env.fake.find("POST", r"/channels/\d+/messages")


def test_a_custom_id_carries_incident_and_interrupt_within_discords_100_characters():
    assert custom_id("approve", "INC-0001", "INC-0001/c12") == "cyberops:approve:INC-0001:INC-0001/c12"
    with pytest.raises(ValueError):
        custom_id("approve", "INC-" + "9" * 90, "INC-1/c0")
    with pytest.raises(ValueError):
        custom_id("approve", "INC:0001", "INC-0001/c0")  # a colon would break the template
