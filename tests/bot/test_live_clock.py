"""The twin's clock and the publisher: with a publisher attached a tick only marks incidents with news, the
publisher posts them (once), and a chat platform that hangs never holds the clock up."""

from __future__ import annotations

import io
import threading

from rich.console import Console
from test_conversation import Flaky
from test_conversation_outage import defence, recogniser  # noqa: F401 - fixtures

from bot.conversation import Conversation
from bot.live_clock import Publisher
from bot.surface import Message


class Hanging(Flaky):
    """A platform that hangs on posts while ``hang`` is set (until ``release``), as an API that stopped answering."""

    def __init__(self, console) -> None:
        super().__init__(console)
        self.hang = False
        self.entered, self.release = threading.Event(), threading.Event()

    def post(self, channel, thread, text):
        if self.hang:
            self.entered.set()
            self.release.wait(30)
        return super().post(channel, thread, text)


def conversation(defence, surface, recogniser, *, publisher: bool) -> Conversation:
    chat = Conversation(defence=defence, surfaces={"console": surface}, channels={"console": "term"},
                        approvers={"alice"}, recognise=recogniser.recognise)
    if publisher:
        chat.publisher = Publisher(chat)
    chat.command(Message("console", "alice", "term", "autonomy auto"))  # cycles run without asking
    return chat


def open_one(chat: Conversation) -> str:
    for _ in range(30):
        chat.tick()
        rows = chat.defence.short.incidents(status="open")
        if rows:
            return rows[0]["id"]
    raise AssertionError("no incident opened")


def test_with_a_publisher_a_tick_only_marks_and_the_publisher_posts_each_step_once(defence, recogniser):
    surface = Flaky(Console(file=io.StringIO(), width=200))
    chat = conversation(defence, surface, recogniser, publisher=True)
    incident = open_one(chat)
    assert surface.posts == [] and chat.chat.thread_of(incident, "console") is None  # nothing posted by the clock
    assert chat.publisher.pending() == [incident]
    assert chat.publisher.publish_marked() == 1
    done = [p for p in surface.posts if "Step 0 done" in p]
    assert len(done) == 1 and chat.chat.thread_of(incident, "console") is not None
    chat.tick()
    assert chat.publisher.pending() == [incident]
    chat.publisher.publish_marked()
    chat.publisher.publish_marked()  # nothing new: nothing posted twice
    assert len([p for p in surface.posts if "Step 0 done" in p]) == 1
    assert len([p for p in surface.posts if "Step 1 done" in p]) == 1


def test_a_hanging_platform_holds_up_the_publisher_but_never_the_clock(defence, recogniser):
    surface = Hanging(Console(file=io.StringIO(), width=200))
    chat = conversation(defence, surface, recogniser, publisher=True)
    incident = open_one(chat)
    chat.publisher.publish_marked()
    surface.hang = True
    stop = threading.Event()
    worker = threading.Thread(target=chat.publisher.run, args=(stop,), kwargs={"idle": 0.05}, daemon=True)
    worker.start()
    chat.tick()
    assert surface.entered.wait(30)  # the publisher is stuck in a post
    step = int(defence.sim.t[0])
    ticker = threading.Thread(target=lambda: [chat.tick() for _ in range(3)], daemon=True)
    ticker.start()
    ticker.join(30)
    assert not ticker.is_alive() and int(defence.sim.t[0]) == step + 3  # the clock went on meanwhile
    surface.hang = False
    surface.release.set()
    chat.publisher.mark(incident)
    stop.set()
    worker.join(30)
    assert not worker.is_alive()
    chat.publisher.publish_marked()
    for cycle in range(1, 5):
        assert len([p for p in surface.posts if f"Step {cycle} done" in p]) <= 1  # late, never twice
    assert [p for p in surface.posts if "Step 4 done" in p]


def test_without_a_publisher_a_tick_posts_before_it_returns(defence, recogniser):
    surface = Flaky(Console(file=io.StringIO(), width=200))
    chat = conversation(defence, surface, recogniser, publisher=False)
    open_one(chat)
    assert [p for p in surface.posts if "Step 0 done" in p]
