"""``cyberops bench slack-load``: 1,000 signed Slack requests from 50 concurrent clients, against the app
``cyberops serve`` runs (:mod:`bot.http_app` with the Bolt app on ``/slack/events``, uvicorn on 127.0.0.1).

The Web API is the tests' local fake; the demo twin (450 hosts) is defended live: a clock thread ticks it
as ``serve`` does, and keeps several incidents open so that several confirmations wait at once.  The mix:
~60% ``/cyberops status|hosts|incidents``; ~25% messages in incident threads and ``@cyberops`` mentions
(one in a thread arrives as ``message`` and ``app_mention``, as Slack sends it); ~15% approve/reject
clicks on the confirmations just posted, half of them pressed twice.  Requests go out in waves, one per
batch of fresh confirmations, shuffled, from a separate process (Slack is another machine) whose client
threads open a new connection per request.

Reported: requests acked within 3 s, errors (non-2xx or no answer), ack p50/p99/max, and what must not
happen: an action executed twice (``executed`` audit entries per action key), an executed action nobody
approved, a confirmation decided twice.
"""

from __future__ import annotations

import http.client
import json
import queue
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from bench.slack_bench import APPROVER, CHANNEL, ROOT, SECRET, _load_fake_api, _ms

ACK_LIMIT_S = 3.0  # Slack's deadline for an ack
CLICK_SHARE, EVENT_SHARE = 0.15, 0.25  # the rest are slash commands
DOUBLE_CLICKS = 0.5  # share of confirmations whose button is pressed twice
BATCH_WAIT_S = 0.25  # fresh confirmations this close together go out in one wave
COMMANDS = ("status", "hosts", "incidents")
THREAD_TEXTS = ("status", "what is going on?", "explain", "how bad is it?", "help")  # none decides anything
THREADS_IN_USE = 10  # thread messages go to one of the newest incident threads
BOT_USER = "UCYBEROPS"  # the fake Web API's auth.test user
FORM, JSON = "application/x-www-form-urlencoded", "application/json"


def bench_slack_load(*, requests: int = 1000, clients: int = 50, incidents: int = 10, tick_seconds: float = 1.0,
                     scenario: Any = "demo", seed: int = 0, timeout: float = 600.0) -> dict:
    """Run the load; ``scenario``: a shipped name, a file, or a Scenario."""
    from bot.conversation import Conversation
    from bot.http_app import build_http_app, start_http
    from bot.settings import Settings
    from bot.slack_app import SlackSurface, build_slack_app, slack_web_client
    from graph.runtime import Defence
    from memory.store import open_store
    from twin.scenario import load_scenario

    fake = _load_fake_api()
    with tempfile.TemporaryDirectory() as tmp, fake.FakeSlackAPI() as api:
        settings = Settings(_env_file=None, slack_bot_token="xoxb-bench", slack_signing_secret=SECRET,
                            slack_api_url=api.base_url, cyberops_slack_channel=CHANNEL, cyberops_approvers=APPROVER)
        store = open_store(Path(tmp) / "load.db")
        defence = Defence(scenario=load_scenario(scenario) if isinstance(scenario, str) else scenario, store=store,
                          tick_on_act=False, restore=False)
        conversation = Conversation(defence=defence, surfaces={"slack": SlackSurface(slack_web_client(settings))},
                                    channels={"slack": CHANNEL}, approvers=settings.approvers)
        conversation.recognise("status")  # load the intent model before the clock starts
        worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="cyberops-slack")  # build_slack_app's default
        app = build_http_app(conversation, alert_token=None, max_bytes=1 << 20,
                             slack_app=build_slack_app(conversation, settings, executor=worker))
        server = start_http(app)
        stop, clock_errors = threading.Event(), []
        clock = threading.Thread(target=_clock, args=(conversation, incidents, tick_seconds, stop, clock_errors),
                                 name="bench-clock", daemon=True)
        clock.start()
        try:
            run = _Run(api, random.Random(seed), requests)
            sent = _drive(run, server.port, clients, batch=incidents, timeout=timeout)
            started = time.monotonic()
            worker.submit(lambda: None).result(timeout)  # every reply the requests asked for is out
            sent["drain_s"] = time.monotonic() - started
            stop.set()
            clock.join(timeout)
            result = _tally(run, sent, defence, api) | {"clock_errors": clock_errors[:5]}
        finally:
            stop.set()
            server.stop()
            worker.shutdown(wait=True)
            defence.close_connections()
            store.close()
    result |= {"scenario": defence.scenario.name, "hosts": len(defence.sim.network.names), "clients": clients,
               "incidents_at_once": incidents}
    return result


def format_report(r: dict) -> str:
    m = r["mix"]
    return (f"{r['requests']} signed Slack requests from {r['clients']} concurrent clients ({m['commands']} commands, "
            f"{m['events']} thread messages/mentions, {m['clicks']} clicks of which {m['double_clicks']} second "
            f"presses; peak {r['peak_in_flight']} in flight) on the {r['scenario']} twin ({r['hosts']} hosts, "
            f"{r['incidents_at_once']} incidents at once):\n"
            f"acked within 3 s: {r['acked_within_3s']}/{r['requests']}; errors: {r['errors']}; "
            f"ack p50 {r['ack_p50_ms']} ms, p99 {r['ack_p99_ms']} ms, max {r['ack_max_ms']} ms; "
            f"wall {r['wall_s']} s (+{r['drain_s']} s until every reply was out)\n"
            f"confirmations clicked {r['confirmations_clicked']}, decided {r['decisions_recorded']}, decided twice "
            f"{r['decided_twice']}; actions executed {r['actions_executed']}, duplicate actions "
            f"{r['duplicate_actions']}, executed without approval {r['executed_without_approval']}; commands "
            f"answered {r['commands_answered']}/{m['commands']}\n"
            f"targets {'met' if r['meets_targets'] else 'MISSED'}")


# ---------------------------------------------------------------- the server side
def _clock(conversation, incidents: int, tick_seconds: float, stop: threading.Event, errors: list[str]) -> None:
    """``serve``'s clock, keeping ``incidents`` incidents open (as alerts would) while compromises are seen."""
    defence = conversation.defence
    while not stop.is_set():
        try:
            if defence.metrics()["seen"] > 0:
                for _ in range(incidents - len(defence.short.incidents(status="open"))):
                    status = defence.open_incident(title="compromises seen (load bench)")
                    conversation.publish(status.incident)
            conversation.tick()
        except Exception as exc:  # counted and reported; serve's clock logs and carries on the same way
            errors.append(repr(exc))
        stop.wait(tick_seconds)


class _Run:
    """What is sent: the planned counts, the requests as built, and the confirmations seen."""

    def __init__(self, api, rng: random.Random, requests: int) -> None:
        self.api, self.rng = api, rng
        self.left = {"click": round(requests * CLICK_SHARE), "event": round(requests * EVENT_SHARE)}
        self.left["command"] = requests - self.left["click"] - self.left["event"]
        self.kinds: list[str] = []  # per request id
        self.commands: list[str] = []  # response_url names
        self.clicked: list[str] = []  # interrupts, in click order
        self.double_clicks = 0
        self.threads: list[str] = []  # incident threads seen, newest last
        self._asks_seen = 0
        self._n = 0

    def total_left(self) -> int:
        return sum(self.left.values())

    def fresh_asks(self) -> list[dict]:
        """Confirmations posted since the last look (their chat.postMessage bodies, with the ts they got)."""
        posts = self.api.calls("chat.postMessage")
        new = posts[self._asks_seen:]
        self._asks_seen = len(posts)
        asks = [c.body | {"ts": c.answer["ts"]} for c in new if _is_ask(c.body)]
        for ask in asks:
            if ask["thread_ts"] not in self.threads:
                self.threads.append(ask["thread_ts"])
        return asks

    def wave(self, asks: list[dict]) -> list[tuple[str, str, str]]:
        """(kind, body, content type) for the clicks on ``asks`` and their share of the other requests."""
        out: list[tuple[str, str, str]] = []
        for ask in asks:
            if self.left["click"] <= 0:
                break
            decision = "approve" if self.rng.random() < 0.8 else "reject"
            presses = 2 if self.left["click"] >= 2 and self.rng.random() < DOUBLE_CLICKS else 1
            for _ in range(presses):
                out.append(("click", self._click(ask, decision), FORM))
            self.left["click"] -= presses
            self.double_clicks += presses - 1
            self.clicked.append(_target(ask)[1])
        others = self.left["command"] + self.left["event"]
        if self.left["click"] > 0:
            others = min(others, round(max(len(out), 1) * (1 - CLICK_SHARE) / CLICK_SHARE))
        while others > 0:
            kind = "event" if self.rng.random() < self.left["event"] / (self.left["command"] + self.left["event"]) \
                else "command"
            made = self._events() if kind == "event" else [("command", self._command(), FORM)]
            made = made[:self.left[kind]]
            out += made
            self.left[kind] -= len(made)
            others -= len(made)
        self.rng.shuffle(out)
        self.kinds += [k for k, _, _ in out]
        return out

    def _next(self) -> int:
        self._n += 1
        return self._n

    def _command(self) -> str:
        n, name = self._next(), f"load{self._n}"
        self.commands.append(name)
        return urlencode({"token": "legacy", "team_id": "T0BENCH", "channel_id": CHANNEL, "user_id": APPROVER,
                          "command": "/cyberops", "text": self.rng.choice(COMMANDS), "api_app_id": "A0BENCH",
                          "response_url": self.api.response_url(name), "trigger_id": f"load{n}.trigger"})

    def _click(self, ask: dict, decision: str) -> str:
        n = self._next()
        actions = ask["blocks"][-1]
        button = next(e for e in actions["elements"] if e["action_id"] == f"cyberops_{decision}")
        payload = {"type": "block_actions", "api_app_id": "A0BENCH", "trigger_id": f"load{n}.trigger",
                   "team": {"id": "T0BENCH"}, "user": {"id": APPROVER},
                   "container": {"type": "message", "message_ts": ask["ts"], "channel_id": CHANNEL},
                   "channel": {"id": CHANNEL}, "message": {"ts": ask["ts"], "thread_ts": ask["thread_ts"]},
                   "actions": [{"type": "button", "action_id": button["action_id"], "value": button["value"],
                                "block_id": actions["block_id"], "action_ts": f"1767000400.{n:06d}"}]}
        return urlencode({"payload": json.dumps(payload)})

    def _events(self) -> list[tuple[str, str, str]]:
        """A message in an incident thread, a mention in one (two deliveries), or a mention in the channel."""
        roll, text = self.rng.random(), self.rng.choice(THREAD_TEXTS)
        thread = self.rng.choice(self.threads[-THREADS_IN_USE:]) if self.threads else None
        ts = f"1767000500.{self._next():06d}"
        base = {"channel": CHANNEL, "user": APPROVER, "ts": ts, "event_ts": ts}
        if thread and roll < 0.6:
            return [("event", self._event(base | {"type": "message", "channel_type": "channel", "text": text,
                                                   "thread_ts": thread}), JSON)]
        mention = base | {"text": f"<@{BOT_USER}> {text}"}
        if thread and roll < 0.85:
            mention["thread_ts"] = thread
            return [("event", self._event(mention | {"type": "message", "channel_type": "channel"}), JSON),
                    ("event", self._event(mention | {"type": "app_mention"}), JSON)]
        return [("event", self._event(mention | {"type": "app_mention"}), JSON)]

    def _event(self, event: dict) -> str:
        return json.dumps({"token": "legacy", "team_id": "T0BENCH", "api_app_id": "A0BENCH", "type": "event_callback",
                           "event_id": f"EvLOAD{self._next():08d}", "event_time": int(time.time()), "event": event,
                           "authorizations": [{"team_id": "T0BENCH", "user_id": BOT_USER, "is_bot": True}]})



def _is_ask(body: dict) -> bool:
    blocks = body.get("blocks") or []
    if isinstance(blocks, str):
        blocks = json.loads(blocks)
    return bool(blocks) and blocks[-1].get("type") == "actions" and body.get("thread_ts") is not None


def _target(ask: dict) -> tuple[str, str]:
    value = json.loads(ask["blocks"][-1]["elements"][0]["value"])
    return value["incident"], value["interrupt"]


def _drive(run: _Run, port: int, clients: int, *, batch: int, timeout: float) -> dict:
    """Send every request through the sender process, wave by wave; its results and timings."""
    sender = subprocess.Popen([sys.executable, "-c", "from bench.slack_load import _sender; _sender()"],
                              cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    results: dict[int, dict] = {}
    summary: dict[str, Any] = {}

    def read() -> None:
        for line in sender.stdout:
            row = json.loads(line)
            if "done" in row:
                summary.update(row)
            else:
                results[row["id"]] = row

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    deadline = time.monotonic() + timeout
    try:
        sender.stdin.write(json.dumps({"port": port, "clients": clients}) + "\n")
        while run.total_left() > 0:
            if time.monotonic() > deadline:
                raise RuntimeError(f"no confirmation to click within {timeout} s "
                                   f"({run.left['click']} clicks still to send)")
            asks = run.fresh_asks() if run.left["click"] > 0 else []
            if run.left["click"] > 0 and not asks:
                time.sleep(0.02)
                continue
            while asks and len(asks) < batch:  # a tick posts its confirmations one by one: take them together
                time.sleep(BATCH_WAIT_S)
                more = run.fresh_asks()
                if not more:
                    break
                asks += more
            first = len(run.kinds)
            for i, (kind, body, ctype) in enumerate(run.wave(asks)):
                sender.stdin.write(json.dumps({"id": first + i, "body": body, "ctype": ctype}) + "\n")
            sender.stdin.flush()
        sender.stdin.close()
        sender.wait(timeout)
        reader.join(timeout)
    finally:
        if sender.poll() is None:
            sender.kill()
    return {"results": results, "peak_in_flight": summary.get("peak", 0), "first": summary.get("first"),
            "last": summary.get("last")}


def _sender() -> None:
    """The client process: the first stdin line names port and clients, then one request per line."""
    from slack_sdk.signature import SignatureVerifier

    setup = json.loads(sys.stdin.readline())
    port, clients = setup["port"], setup["clients"]
    verifier = SignatureVerifier(SECRET)
    jobs: queue.Queue = queue.Queue()
    out_lock = threading.Lock()
    state = {"in_flight": 0, "peak": 0, "first": None, "last": None}

    def client() -> None:
        while (job := jobs.get()) is not None:
            with out_lock:
                state["in_flight"] += 1
                state["peak"] = max(state["peak"], state["in_flight"])
            start, status = time.monotonic(), 0
            try:
                timestamp = str(int(time.time()))  # signed when sent, as Slack does
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                try:
                    conn.request("POST", "/slack/events", body=job["body"].encode(), headers={
                        "Content-Type": job["ctype"], "X-Slack-Request-Timestamp": timestamp,
                        "X-Slack-Signature": verifier.generate_signature(timestamp=timestamp, body=job["body"])})
                    response = conn.getresponse()
                    response.read()
                    status = response.status
                finally:
                    conn.close()
            except OSError:
                status = 0
            end = time.monotonic()
            with out_lock:
                state["in_flight"] -= 1
                state["first"] = start if state["first"] is None else min(state["first"], start)
                state["last"] = end if state["last"] is None else max(state["last"], end)
                print(json.dumps({"id": job["id"], "status": status, "took": end - start}), flush=True)

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for t in threads:
        t.start()
    for line in sys.stdin:
        jobs.put(json.loads(line))
    for _ in threads:
        jobs.put(None)
    for t in threads:
        t.join()
    print(json.dumps({"done": True, "peak": state["peak"], "first": state["first"], "last": state["last"]}),
          flush=True)


# ---------------------------------------------------------------- counting
def _tally(run: _Run, sent: dict, defence, api) -> dict:
    results = sent["results"]
    took = [r["took"] for r in results.values() if 200 <= r["status"] < 300]
    errors = len(run.kinds) - len(took)
    entries = defence.audit.entries()
    executed = Counter(e["action_id"] for e in entries if e["event"] == "executed")
    approved = {e["action_id"] for e in entries if e["event"] == "approved"}
    decided = Counter(e["action_id"] for e in entries if e["event"] in ("approved", "rejected"))
    recorded = Counter(c.body["text"].split(" recorded for ", 1)[1].strip()
                       for c in api.calls("chat.postEphemeral") if " recorded for " in c.body.get("text", ""))
    names = {c.path.rsplit("/", 1)[1] for c in api.calls("response")}
    kinds = Counter(run.kinds)
    result = {
        "requests": len(run.kinds),
        "mix": {"commands": kinds["command"], "events": kinds["event"], "clicks": kinds["click"],
                "double_clicks": run.double_clicks},
        "acked_within_3s": sum(t <= ACK_LIMIT_S for t in took), "errors": errors,
        "ack_p50_ms": _ms(took, 50), "ack_p99_ms": _ms(took, 99), "ack_max_ms": _ms(took, 100),
        "peak_in_flight": sent["peak_in_flight"],
        "wall_s": round(sent["last"] - sent["first"], 2) if sent["first"] is not None else None,
        "drain_s": round(sent["drain_s"], 2),
        "confirmations_clicked": len(set(run.clicked)), "decisions_recorded": sum(recorded.values()),
        "decided_twice": sum(1 for n in recorded.values() if n > 1) + sum(1 for n in decided.values() if n > 1),
        "actions_executed": sum(executed.values()),
        "duplicate_actions": sum(n - 1 for n in executed.values() if n > 1),
        "executed_without_approval": len(set(executed) - approved),
        "lost_actions": len(approved - set(executed)),  # approved, never executed
        "commands_answered": len(names & set(run.commands)),
    }
    result["meets_targets"] = bool(result["acked_within_3s"] == result["requests"] and errors == 0
                                   and result["duplicate_actions"] == 0 and result["decided_twice"] == 0
                                   and result["executed_without_approval"] == 0
                                   and result["commands_answered"] == kinds["command"])
    return result
