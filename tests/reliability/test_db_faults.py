"""SQLite faults under a running bot: the file locked by another process past the busy timeout, read-only,
full, failing at commit, unreadable, or no database at all.  Each must end in a clear answer (a chat reply or
one CLI line naming the file), nothing half done (no action executed without its audit entry, no twin step
that memory did not keep, no lost confirmation), an intact audit chain, and status still answering; once the
fault clears, the incident carries on and every approved action runs exactly once."""

from __future__ import annotations

import io
import shutil
import sqlite3
import threading
import time
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from bot.cli import main
from bot.console import ConsoleSurface
from bot.conversation import Conversation
from bot.surface import Click, Message
from graph.runtime import Defence
from memory.store import MemoryUnavailable, open_store
from twin.scenario import scenario_from_dict
from twin.snapshot import STATE_ARRAYS

SCENARIO = {
    "name": "faults", "seed": 3, "horizon": 40,
    "topology": {"subnets": 2, "nodes_per_subnet": 12, "generator": "tree", "entry_nodes": 2, "high_value_nodes": 1},
    "attack": {"mode": "recon", "intensity": 2, "p_detect": 1.0},
    "defender": {"actions_per_step": 3},
}
BUSY_MS = 300  # the bot's busy timeout in these tests (the default, 5 s, is what the CLI test waits out)


def _bot(path: Path, weights, *, restore: bool = False, busy_ms: int = BUSY_MS) -> Conversation:
    store = open_store(path, busy_timeout_ms=busy_ms)
    defence = Defence(scenario=scenario_from_dict(SCENARIO), store=store, agents=weights, tick_on_act=False,
                      restore=restore)
    out = io.StringIO()
    surface = ConsoleSurface(Console(file=out, width=200), image_dir=str(path.parent / "images"))
    conversation = Conversation(defence=defence, surfaces={"console": surface}, channels={"console": "term"},
                                approvers={"alice"}, recognise=_recognise)
    conversation.out = out
    return conversation


def _recognise(text: str) -> dict:
    """Enough of the intent model for these tests (status and approve), without loading it."""
    word = text.strip().lower()
    intent = {"status": "status", "approve": "confirm", "approved": "confirm"}.get(word, "unknown")
    empty = {"hosts": [], "subnets": [], "roles": []}
    return {"intent": intent, "confidence": 1.0, "targets": empty, "exclude": dict(empty), "schedule": None,
            "text": text, "clarify": None}


@pytest.fixture
def bot(tmp_path, weights):
    conversation = _bot(tmp_path / "bot.db", weights)
    yield conversation
    conversation.defence.close_connections()
    conversation.defence.store.close()


@pytest.fixture(scope="module")
def pending_db(tmp_path_factory, weights) -> Path:
    """A memory file with one incident waiting for its first confirmation (copied for each trial)."""
    path = tmp_path_factory.mktemp("base") / "base.db"
    conversation = _bot(path, weights)
    until_incident(conversation)
    conversation.defence.close_connections()
    conversation.defence.store.close()
    with sqlite3.connect(path) as conn:  # fold the WAL into the file, so copying the file copies everything
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path


def _bot_from(base: Path, path: Path, weights) -> Conversation:
    shutil.copy(base, path)
    return _bot(path, weights, restore=True)


def until_incident(conversation: Conversation, limit: int = 30) -> str:
    for _ in range(limit):
        conversation.tick()
        rows = conversation.defence.short.incidents(status="open")
        if rows:
            return rows[0]["id"]
    raise AssertionError("no incident opened")


def command(conversation: Conversation, text: str, *, delivery: str | None = None):
    return conversation.command(Message("console", "alice", "term", text, delivery=delivery))


def approve(conversation: Conversation, incident: str, interrupt: str, *, delivery: str | None = None):
    return conversation.click(Click("console", "alice", "term", incident, interrupt, "approve", delivery=delivery))


@contextmanager
def write_lock_held_elsewhere(path: Path):
    """Another process's long write transaction: its connection holds the file's write lock."""
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    try:
        yield other
    finally:
        other.execute("ROLLBACK")
        other.close()


def connections(defence: Defence) -> list[sqlite3.Connection]:
    """Every connection the bot writes through here: memory's (this thread's) and the checkpointer's."""
    return [defence.store.db.conn, defence._saver_conn]


@contextmanager
def read_only(defence: Defence):
    """The database turned read-only under the running bot.  chmod can't do it: open connections keep their
    access, and root writes anyway; ``PRAGMA query_only`` refuses writes the way a read-only file does
    ("attempt to write a readonly database")."""
    for conn in connections(defence):
        conn.execute("PRAGMA query_only = ON")
    try:
        yield
    finally:
        for conn in connections(defence):
            conn.execute("PRAGMA query_only = OFF")


@contextmanager
def disk_full(*conns: sqlite3.Connection, room: int = 0):
    """Room for ``room`` more pages: then inserts fail with "database or disk is full" (``max_page_count``)."""
    for conn in conns:
        conn.execute(f"PRAGMA max_page_count = {conn.execute('PRAGMA page_count').fetchone()[0] + room}")
    try:
        yield
    finally:
        for conn in conns:
            conn.execute("PRAGMA max_page_count = 1073741823")


class FailingCommits:
    """Stands in for a connection whose commits are counted across ``plan``; commit number ``plan["fail_at"]``
    fails as a full disk fails a WAL commit, leaving the transaction open as SQLite does."""

    def __init__(self, conn: sqlite3.Connection, plan: dict[str, int]) -> None:
        self._conn, self._plan = conn, plan

    def commit(self) -> None:
        if self._conn.in_transaction:
            self._plan["commits"] += 1
            if self._plan["commits"] == self._plan["fail_at"]:
                raise sqlite3.OperationalError("database or disk is full")
        self._conn.commit()

    def __getattr__(self, name):
        return getattr(self._conn, name)


@contextmanager
def failing_commit(defence: Defence, plan: dict[str, int]):
    db, saver = defence.store.db, defence.graph.checkpointer
    real = db.conn, saver.conn
    db.conn, saver.conn = FailingCommits(real[0], plan), FailingCommits(real[1], plan)
    try:
        yield
    finally:
        db.conn, saver.conn = real


def assert_nothing_half_done(conversation: Conversation) -> None:
    """The audit chain verifies, the file is sound, every executed action has exactly one ``executed`` entry
    (and no entry lacks its action), the twin is the one memory saved, and every pending confirmation was
    posted for a decision."""
    d = conversation.defence
    assert d.audit.verify() is None
    assert d.store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    executed = Counter(e["action_id"] for e in d.audit.entries() if e["event"] == "executed")
    assert set(executed.values()) <= {1}
    actions = [a for row in d.short.incidents() for a in d.short.actions(row["id"])]
    assert {a.key for a in actions if a.status == "executed"} == set(executed)
    assert_twin_is_saved(d)
    for row in d.short.incidents(status="open"):
        pending = d.status(row["id"]).pending
        posted = f"confirmation {pending['interrupt_id']}" in conversation.out.getvalue() if pending else True
        asked = pending is None or conversation.chat.asks(pending["interrupt_id"]) or posted  # (remembered or not)
        assert asked, f"{pending['interrupt_id']} was never put to the operators"


def assert_twin_is_saved(d: Defence) -> None:
    """The live twin is the one memory keeps (newest snapshot and the actions executed since): no step or
    action stands that memory did not keep."""
    saved = d.saved_twin()
    for name in STATE_ARRAYS:
        np.testing.assert_array_equal(getattr(saved, name), getattr(d.sim, name), err_msg=name)


def assert_carries_on(conversation: Conversation, incident: str, approved: list[str]) -> None:
    """After the fault: the live twin moves on, the approved actions run (once), nothing is stuck."""
    for _ in range(3):
        conversation.tick()
    d = conversation.defence
    assert {d.short.action(key).status for key in approved} == {"executed"}
    assert d.status(incident).status == "closed" or not d._cut_short(incident)
    assert_nothing_half_done(conversation)


def busy_reply(reply) -> None:
    assert "memory is busy" in reply.text and "try again" in reply.text


# ------------------------------------------------------------------ locked by another process
def test_a_click_while_another_process_holds_the_write_lock_answers_memory_is_busy_and_changes_nothing(bot):
    incident = until_incident(bot)
    pending = bot.defence.status(incident).pending
    keys = [a["key"] for a in pending["actions"]]
    path = Path(bot.defence.store.path)
    with write_lock_held_elsewhere(path):
        busy_reply(approve(bot, incident, pending["interrupt_id"], delivery="click-1"))  # as Slack sends it
        busy_reply(approve(bot, incident, pending["interrupt_id"]))  # no delivery id: fails in the graph run
        assert {bot.defence.short.action(k).status for k in keys} == {"pending"}
        assert {e["event"] for e in bot.defence.audit.entries()} == {"proposed"}
        for text, delivery in (("status", "cmd-1"), ("status", None)):
            assert f"{incident} (" in command(bot, text, delivery=delivery).text
        thread = bot.chat.thread_of(incident, "console")[1]
        said = bot.message(Message("console", "alice", "term", "status", thread=thread, delivery="m1"))
        assert f"{incident} (" in said.text
        busy_reply(command(bot, "tick"))
        assert bot.defence.status(incident).pending["interrupt_id"] == pending["interrupt_id"]
        assert bot.defence.audit.verify() is None
    assert "approve recorded" in approve(bot, incident, pending["interrupt_id"], delivery="click-2").text
    assert {bot.defence.short.action(k).status for k in keys} == {"executed"}
    assert_carries_on(bot, incident, keys)


def test_status_answers_at_once_while_an_approval_waits_for_the_lock_and_the_approval_goes_through_after(tmp_path,
                                                                                                      weights):
    bot = _bot(tmp_path / "wait.db", weights, busy_ms=4000)
    incident = until_incident(bot)
    pending = bot.defence.status(incident).pending
    replies = []
    with write_lock_held_elsewhere(Path(bot.defence.store.path)):
        clicker = threading.Thread(target=lambda: replies.append(approve(bot, incident, pending["interrupt_id"])))
        clicker.start()
        time.sleep(0.3)
        assert clicker.is_alive()  # waiting for the lock
        start = time.perf_counter()
        status = command(bot, "status", delivery="slack-trigger-1")
        assert time.perf_counter() - start < 1.0 and f"{incident} (" in status.text
    clicker.join(10)  # the lock went within the busy timeout: the queued write goes through
    assert "approve recorded" in replies[0].text
    assert {bot.defence.short.action(a["key"]).status for a in pending["actions"]} == {"executed"}
    assert_nothing_half_done(bot)
    bot.defence.close_connections()


# ------------------------------------------------------------------ read-only
def test_a_read_only_database_refuses_writes_with_an_error_naming_the_file_and_status_still_answers(bot):
    incident = until_incident(bot)
    pending = bot.defence.status(incident).pending
    keys = [a["key"] for a in pending["actions"]]
    step = int(bot.defence.sim.t[0])
    with read_only(bot.defence):
        reply = approve(bot, incident, pending["interrupt_id"], delivery="c1")
        assert "read-only" in reply.text and "try again" in reply.text
        with pytest.raises(MemoryUnavailable) as caught:
            bot.defence.decide(incident, pending["interrupt_id"], "approve", by="alice")
        assert bot.defence.store.path in str(caught.value) and "read-only" in str(caught.value)
        with pytest.raises(MemoryUnavailable):
            bot.tick()
        assert int(bot.defence.sim.t[0]) == step  # the twin did not move a step memory could not keep
        assert f"{incident} (" in command(bot, "status", delivery="s1").text
        assert {bot.defence.short.action(k).status for k in keys} == {"pending"}
        assert_nothing_half_done(bot)
    assert "approve recorded" in approve(bot, incident, pending["interrupt_id"], delivery="c2").text
    assert_carries_on(bot, incident, keys)


# ------------------------------------------------------------------ disk full
def test_a_full_disk_fails_the_click_clearly_keeps_the_audit_chain_and_the_incident_carries_on(bot):
    incident = until_incident(bot)
    pending = bot.defence.status(incident).pending
    keys = [a["key"] for a in pending["actions"]]
    step = int(bot.defence.sim.t[0])
    with disk_full(*connections(bot.defence)):
        reply = approve(bot, incident, pending["interrupt_id"], delivery="c1")
        assert "disk is full" in reply.text and "try again" in reply.text
        assert "disk is full" in command(bot, "tick").text
        assert int(bot.defence.sim.t[0]) == step
        assert f"{incident} (" in command(bot, "status", delivery="s1").text
        assert bot.defence.audit.verify() is None
        assert not {bot.defence.short.action(k).status for k in keys} & {"executed"}
    assert_carries_on(bot, incident, keys)


def test_a_failed_checkpoint_write_is_the_same_clear_error_and_the_next_attempt_works(bot):
    incident = until_incident(bot)
    pending = bot.defence.status(incident).pending
    keys = [a["key"] for a in pending["actions"]]
    with disk_full(bot.defence._saver_conn):  # only LangGraph's own connection is short of room
        with pytest.raises(MemoryUnavailable) as caught:
            bot.defence.decide(incident, pending["interrupt_id"], "approve", by="alice")
        assert bot.defence.store.path in str(caught.value) and "disk is full" in str(caught.value)
        assert not bot.defence._saver_conn.in_transaction  # the failed write left nothing to be committed later
    result = bot.defence.decide(incident, pending["interrupt_id"], "approve", by="alice")
    assert result.status in ("applied", "stale")  # stale: the first decision was recorded; its run is finished now
    assert {bot.defence.short.action(k).status for k in keys} == {"executed"}
    assert_carries_on(bot, incident, keys)


def test_a_checkpoint_commit_that_fails_keeps_no_lock_and_nothing_for_later(bot):
    """LangGraph's saver commits in a ``finally``: a failed commit used to leave its transaction open, holding
    the file's write lock (every memory write then "busy") until a later checkpoint committed it too."""
    saver = bot.defence.graph.checkpointer
    until_incident(bot)
    config = saver.get_tuple({"configurable": {"thread_id": "INC-0001"}}).config
    plan = {"commits": 0, "fail_at": 1}
    with failing_commit(bot.defence, plan), pytest.raises(sqlite3.OperationalError, match="full"):
        saver.put_writes(config, [("lost", "x")], task_id="failed")
    assert not bot.defence._saver_conn.in_transaction
    bot.chat.set_setting("memory", "writable")  # not locked out by our own checkpointer
    saver.put_writes(config, [("kept", "y")], task_id="next")
    other = sqlite3.connect(bot.defence.store.path)
    rows = other.execute("SELECT task_id FROM writes WHERE task_id IN ('failed', 'next')")
    assert [r[0] for r in rows] == ["next"]


# ------------------------------------------------------------------ a write failing at commit, at every commit
def _commits_of_an_approval(bot: Conversation, incident: str, interrupt: str, plan: dict[str, int]) -> None:
    with failing_commit(bot.defence, plan):
        reply = approve(bot, incident, interrupt)
        assert "approve recorded" in reply.text or "disk is full" in reply.text
        assert_twin_is_saved(bot.defence)
        for _ in range(2):
            text = command(bot, "tick").text
            assert "twin moved" in text or "disk is full" in text
            assert_twin_is_saved(bot.defence)


def test_a_commit_failing_anywhere_in_an_approval_leaves_nothing_half_done(tmp_path, pending_db, weights):
    dry = _bot_from(pending_db, tmp_path / "dry.db", weights)
    incident = dry.defence.short.incidents(status="open")[0]["id"]
    pending = dry.defence.status(incident).pending
    plan = {"commits": 0, "fail_at": 0}
    _commits_of_an_approval(dry, incident, pending["interrupt_id"], plan)
    dry.defence.close_connections()
    total = plan["commits"]
    assert total > 10
    for fail_at in range(1, total + 1):
        bot = _bot_from(pending_db, tmp_path / f"trial{fail_at}.db", weights)
        plan = {"commits": 0, "fail_at": fail_at}
        _commits_of_an_approval(bot, incident, pending["interrupt_id"], plan)
        assert plan["commits"] >= fail_at  # the fault did strike
        assert_nothing_half_done(bot)
        now = bot.defence.status(incident).pending
        if now and now["interrupt_id"] == pending["interrupt_id"]:  # struck before the decision was recorded
            assert "approve recorded" in approve(bot, incident, pending["interrupt_id"]).text
        assert_carries_on(bot, incident, [a["key"] for a in pending["actions"]])
        bot.defence.close_connections()


def test_a_failed_commit_rolls_back_and_the_next_write_is_not_swallowed(tmp_path):
    store = open_store(tmp_path / "m.db")
    plan = {"commits": 0, "fail_at": 1}
    store.db.conn = FailingCommits(store.db.conn, plan)
    with pytest.raises(MemoryUnavailable, match="disk is full"):
        with store.write() as db:
            db.execute("INSERT INTO settings VALUES ('lost', '1', 'now')")
    assert not store.db.conn.in_transaction
    with store.write() as db:
        db.execute("INSERT INTO settings VALUES ('kept', '1', 'now')")
    other = sqlite3.connect(tmp_path / "m.db")  # another process sees the second write, not the first
    assert [r[0] for r in other.execute("SELECT key FROM settings")] == ["kept"]


# ------------------------------------------------------------------ memory unreadable
class Unreadable:
    def __init__(self, conn):
        self._conn = conn

    def execute(self, *args, **kwargs):
        raise sqlite3.OperationalError("disk I/O error")

    cursor = execute

    def __getattr__(self, name):
        return getattr(self._conn, name)


def test_status_answers_from_the_twin_when_memory_cannot_be_read(bot):
    until_incident(bot)
    db, saver = bot.defence.store.db, bot.defence.graph.checkpointer
    real = db.conn, saver.conn
    db.conn, saver.conn = Unreadable(real[0]), Unreadable(real[1])
    try:
        reply = command(bot, "status")
    finally:
        db.conn, saver.conn = real
    assert reply.text.startswith("*Network:*") and "can't be read" in reply.text


# ------------------------------------------------------------------ the command line
@pytest.mark.parametrize("args", [
    ["run-incident", "--steps", "1"], ["audit"], ["audit", "--verify"], ["demo", "--auto", "--steps", "1"],
])
def test_a_file_that_is_not_a_database_is_one_line_naming_it_and_exit_2(tmp_path, capsys, args):
    junk = tmp_path / "junk.db"
    junk.write_bytes(bytes(range(256)) * 16)
    before = junk.read_bytes()
    assert main([*args, "--db", str(junk)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and str(junk) in err and "not a CyberOps memory database" in err
    assert junk.read_bytes() == before  # left as it was


def test_run_incident_on_a_database_another_process_holds_is_one_line_after_the_busy_timeout(tmp_path, capsys):
    path = tmp_path / "held.db"
    open_store(path).close()
    with write_lock_held_elsewhere(path):
        start = time.perf_counter()
        assert main(["run-incident", "--steps", "1", "--db", str(path)]) == 2
        waited = time.perf_counter() - start
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and str(path) in err and "memory is busy" in err
    assert waited >= 4.5  # the default busy timeout (5 s) was waited out first
    assert open_store(path).db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
