"""The durable outbox: held replies come due, are claimed by one drain, back off when they fail, and survive
a restart; so do the incidents whose thread posts failed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hand_clock import HandClock

from memory.outbox import BACKOFF_CAP, Outbox, backoff
from memory.store import open_store



@pytest.fixture
def clock() -> HandClock:
    return HandClock()


@pytest.fixture
def outbox(clock) -> Outbox:
    return Outbox(open_store(":memory:", clock=clock))


def hold(outbox: Outbox, text: str = "the answer", **kw) -> int:
    args = {"surface": "slack", "kind": "response", "destination": {"url": "https://hooks.example/r/1"},
            "text": text, "ephemeral": True, "expires_in": timedelta(minutes=30), "error": "HTTP 503"} | kw
    return outbox.hold(**args)


def test_a_held_reply_is_due_at_once_with_where_it_goes_and_until_when(outbox):
    reply_id = hold(outbox)
    [due] = outbox.due()
    assert (due.id, due.surface, due.kind, due.text, due.ephemeral) == \
        (reply_id, "slack", "response", "the answer", True)
    assert due.destination == {"url": "https://hooks.example/r/1"}
    assert (due.created_at, due.expires_at, due.attempts) == ("2026-12-04T09:00:00Z", "2026-12-04T09:30:00Z", 1)
    assert due.last_error == "HTTP 503"


def test_only_one_of_two_drains_claims_a_due_reply(outbox):
    hold(outbox)
    [first], [second] = outbox.due(), outbox.due()
    assert outbox.claim(first) is True
    assert outbox.claim(second) is False  # the same entry, read before the claim: it is taken
    assert outbox.due() == []  # claimed: not due until its lease runs out


def test_a_claimed_reply_whose_drain_died_comes_due_again_after_its_lease(outbox, clock):
    hold(outbox)
    assert outbox.claim(outbox.due()[0])
    clock.advance(seconds=59)
    assert outbox.due() == []
    clock.advance(seconds=2)
    assert [r.attempts for r in outbox.due()] == [2]


def test_failed_tries_back_off_exponentially_up_to_a_minute(outbox, clock):
    assert [backoff(n).total_seconds() for n in range(1, 9)] == [2, 4, 8, 16, 32, 60, 60, 60]
    reply_id = hold(outbox)
    waits = []
    for _ in range(7):
        [due] = outbox.due()
        assert outbox.claim(due)
        next_at = outbox.failed(reply_id, "HTTP 503")
        waits.append((datetime.strptime(next_at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC) - clock.now).seconds)
        assert outbox.due() == []
        clock.advance(seconds=waits[-1])
    assert waits == [4, 8, 16, 32, 60, 60, 60] and max(waits) == BACKOFF_CAP.seconds


def test_delivered_and_dropped_replies_are_never_due_again(outbox, clock):
    sent, given_up, waiting = hold(outbox, "a"), hold(outbox, "b"), hold(outbox, "c")
    outbox.delivered(sent)
    outbox.drop(given_up, "expired")
    clock.advance(hours=2)
    assert [r.id for r in outbox.due()] == [waiting] == [r.id for r in outbox.pending()]
    assert (outbox.status(sent), outbox.status(given_up), outbox.status(waiting)) == ("delivered", "dropped", "pending")
    assert outbox.get(given_up).last_error == "expired"
    assert outbox.get(sent).destination == outbox.get(given_up).destination == {}  # no URL or token kept
    assert outbox.get(waiting).destination == {"url": "https://hooks.example/r/1"}


def test_due_replies_come_oldest_first_and_only_for_the_surfaces_asked_for(outbox):
    a = hold(outbox, "a")
    d = hold(outbox, "d", surface="discord", kind="followup")
    b = hold(outbox, "b")
    assert [r.id for r in outbox.due()] == [a, d, b]
    assert [r.id for r in outbox.due(surfaces=["slack"])] == [a, b]
    assert [r.id for r in outbox.due(surfaces=[])] == []


def test_a_rerouted_reply_keeps_its_text_and_takes_the_new_way_and_expiry(outbox):
    reply_id = hold(outbox)
    moved = outbox.reroute(reply_id, kind="ephemeral", destination={"channel": "C1", "user": "U1"},
                           expires_at="2026-12-04T10:00:00Z")
    assert (moved.kind, moved.destination, moved.expires_at, moved.text) == \
        ("ephemeral", {"channel": "C1", "user": "U1"}, "2026-12-04T10:00:00Z", "the answer")


def test_held_replies_and_unsent_incidents_survive_reopening_the_store(tmp_path, clock):
    store = open_store(tmp_path / "outbox.db", clock=clock)
    outbox = Outbox(store)
    reply_id = hold(outbox)
    outbox.mark_unsent("INC-1")
    outbox.mark_unsent("INC-2")
    outbox.mark_unsent("INC-1")  # twice: still one
    outbox.mark_sent("INC-2")
    store.close()
    again = Outbox(open_store(tmp_path / "outbox.db", clock=clock))
    assert again.unsent() == {"INC-1"}
    assert [r.id for r in again.due()] == [reply_id]
