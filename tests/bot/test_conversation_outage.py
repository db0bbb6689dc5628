"""The conversation core across outages and races: incidents whose posts failed are re-published by a
restarted bot, and two threads publishing a new incident at once post one root message."""

from __future__ import annotations

import io
import threading
import time

import pytest
from rich.console import Console
from test_conversation import SCENARIO, Flaky, recogniser, until_incident  # noqa: F401 - recogniser: a fixture

from bot import replies
from bot.console import ConsoleSurface
from bot.conversation import Conversation
from bot.surface import Message
from graph.runtime import Defence
from memory.outbox import Outbox
from memory.store import open_store
from twin.scenario import scenario_from_dict


@pytest.fixture
def defence(tmp_path, weights):
    store = open_store(tmp_path / "chat.db")
    d = Defence(scenario=scenario_from_dict(SCENARIO), store=store, agents=weights, tick_on_act=False, restore=False)
    yield d
    d.close_connections()
    store.close()


def conversation(defence: Defence, surface, recogniser) -> Conversation:
    return Conversation(defence=defence, surfaces={"console": surface}, channels={"console": "term"},
                        approvers={"alice"}, recognise=recogniser.recognise)


def test_a_restarted_bot_still_posts_the_close_of_an_incident_that_closed_while_the_platform_was_down(
        defence, recogniser):
    flaky = Flaky(Console(file=io.StringIO(), width=200))
    first = conversation(defence, flaky, recogniser)
    first.command(Message("console", "alice", "term", "autonomy auto"))  # cycles run without asking
    incident = until_incident(first)
    flaky.down = True
    for _ in range(40):
        first.tick()
        if defence.short.incident(incident)["status"] == "closed":
            break
    else:
        raise AssertionError("the incident did not close")
    assert Outbox(defence.store).unsent() == {incident}  # its last posts wait, in the store

    out = io.StringIO()
    second = conversation(defence, ConsoleSurface(Console(file=out, width=200)), recogniser)  # the restart
    second.tick()
    closed = replies.closed_text(incident, defence.status(incident).outcome or "closed").replace("*", "")
    assert closed in out.getvalue()
    assert incident not in Outbox(defence.store).unsent()
    second.tick()
    assert out.getvalue().count(closed) == 1


def test_a_paused_bot_still_delivers_the_posts_held_through_an_outage(defence, recogniser):
    flaky = Flaky(Console(file=io.StringIO(), width=200))
    chat = conversation(defence, flaky, recogniser)
    incident = until_incident(chat)
    flaky.down = True
    pending = defence.status(incident).pending
    chat.message(Message("console", "alice", "term", "approve", thread=chat.chat.thread_of(incident, "console")[1]))
    chat.tick()  # down: the results wait
    assert incident in Outbox(defence.store).unsent()
    chat.command(Message("console", "alice", "term", "stop"))  # an operator pauses the bot meanwhile
    assert chat.paused
    flaky.down = False
    chat.tick()
    assert incident not in Outbox(defence.store).unsent()
    done = [p for p in flaky.posts if f"Step {pending['cycle']} done" in p]
    assert len(done) == 1


class SlowConsole(ConsoleSurface):
    """A console whose platform takes a while to open a thread (long enough for two publishers to overlap)."""

    def __init__(self, console: Console) -> None:
        super().__init__(console)
        self.roots: list[str] = []
        self.asks: list[str] = []

    def open_thread(self, channel, text):
        time.sleep(0.3)
        self.roots.append(text)
        return super().open_thread(channel, text)

    def ask(self, channel, thread, ask):
        self.asks.append(ask.interrupt)
        return super().ask(channel, thread, ask)


def test_two_threads_publishing_a_new_incident_at_once_post_one_root_message_and_one_ask(defence, recogniser):
    slow = SlowConsole(Console(file=io.StringIO(), width=200))
    chat = conversation(defence, slow, recogniser)
    while defence.tick_twin()["seen"] == 0:
        pass
    incident = defence.open_incident(title="a race").incident  # opened, not yet published
    results: list[bool] = []
    racers = [threading.Thread(target=lambda: results.append(chat.publish(incident))) for _ in range(2)]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join(10)
    assert results == [True, True]
    assert len(slow.roots) == 1 and incident in slow.roots[0]
    assert len(slow.asks) == 1 and chat.chat.thread_of(incident, "console") is not None
