"""``cyberops bench slack``: how fast the real Bolt app acks and acts, served over HTTP on 127.0.0.1.

(a) ack latency of ``/cyberops status`` under N concurrent signed requests (one thread and one new
connection each, as Slack opens them), and when each ephemeral reply reached its ``response_url``;
(b) approve-click-to-action: a signed click on a posted confirmation until every action of the plan
is executed in memory.  The Web API is the local fake from the tests (``tests/bot/slack_fake_api.py``),
so no Slack latency is included; the demo twin (450 hosts) is defended live.
"""

from __future__ import annotations

import http.client
import importlib.util
import json
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
FAKE_API = ROOT / "tests" / "bot" / "slack_fake_api.py"
SECRET = "bench-signing-secret"
CHANNEL, APPROVER = "C0BENCH", "U0BENCH"
TARGETS = {"ack_p99_ms": 100.0, "click_to_action_ms": 500.0}  # the click target holds for the slowest click


def bench_slack(*, concurrency: int = 50, rounds: int = 4, clicks: int = 10, scenario: str = "demo") -> dict:
    from bot.conversation import Conversation
    from bot.settings import Settings
    from bot.slack_app import SlackSurface, build_slack_app, slack_web_client, start_slack_http
    from graph.runtime import Defence
    from memory.store import open_store
    from twin.scenario import load_scenario

    fake = _load_fake_api()
    with tempfile.TemporaryDirectory() as tmp, fake.FakeSlackAPI() as api:
        settings = Settings(_env_file=None, slack_bot_token="xoxb-bench", slack_signing_secret=SECRET,
                            slack_api_url=api.base_url, cyberops_slack_channel=CHANNEL, cyberops_approvers=APPROVER)
        store = open_store(Path(tmp) / "bench.db")
        defence = Defence(scenario=load_scenario(scenario), store=store, tick_on_act=False, restore=False)
        conversation = Conversation(defence=defence, surfaces={"slack": SlackSurface(slack_web_client(settings))},
                                    channels={"slack": CHANNEL}, approvers=settings.approvers)
        conversation.recognise("status")  # load the intent model before timing
        server = start_slack_http(build_slack_app(conversation, settings))
        try:
            acks, replies = _bench_acks(server.port, api, concurrency=concurrency, rounds=rounds)
            to_action = _bench_clicks(server.port, api, conversation, clicks=clicks)
        finally:
            server.stop()
            defence.close_connections()
            store.close()
    result = {
        "scenario": scenario, "hosts": len(defence.sim.network.names), "concurrency": concurrency,
        "requests": len(acks), "ack_p50_ms": _ms(acks, 50), "ack_p99_ms": _ms(acks, 99), "ack_max_ms": _ms(acks, 100),
        "reply_p50_ms": _ms(replies, 50), "reply_p99_ms": _ms(replies, 99),
        "clicks": len(to_action), "click_to_action_p50_ms": _ms(to_action, 50),
        "click_to_action_max_ms": _ms(to_action, 100),
    }
    result["meets_targets"] = bool(result["ack_p99_ms"] <= TARGETS["ack_p99_ms"]
                                   and result["click_to_action_max_ms"] <= TARGETS["click_to_action_ms"])
    return result


def format_report(r: dict) -> str:
    return (f"/cyberops status ack under {r['concurrency']} concurrent requests ({r['requests']} in all): "
            f"p50 {r['ack_p50_ms']} ms, p99 {r['ack_p99_ms']} ms (target <= 100), max {r['ack_max_ms']} ms; "
            f"ephemeral reply delivered p50 {r['reply_p50_ms']} ms, p99 {r['reply_p99_ms']} ms\n"
            f"approve click -> actions executed ({r['clicks']} clicks, {r['scenario']} twin, {r['hosts']} hosts): "
            f"p50 {r['click_to_action_p50_ms']} ms, max {r['click_to_action_max_ms']} ms (target <= 500)\n"
            f"targets {'met' if r['meets_targets'] else 'MISSED'}")


# ---------------------------------------------------------------- (a) acks
def _bench_acks(port: int, api, *, concurrency: int, rounds: int) -> tuple[list[float], list[float]]:
    """Slack is another machine: the concurrent requests come from a separate process, so its threads
    don't share the served app's interpreter lock."""
    acks: list[float] = []
    replies: list[float] = []
    sender = subprocess.Popen([sys.executable, "-c", "from bench.slack_bench import _sender; _sender()"],
                              cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        for round_no in range(rounds + 1):  # round 0 warms up
            names = [f"r{round_no}-{i}" for i in range(concurrency)]
            bodies = [urlencode({"team_id": "T0BENCH", "channel_id": CHANNEL, "user_id": APPROVER,
                                 "command": "/cyberops", "text": "status", "api_app_id": "A0BENCH",
                                 "response_url": api.response_url(name), "trigger_id": f"{name}.trigger"})
                      for name in names]
            sender.stdin.write(json.dumps({"port": port, "bodies": bodies}) + "\n")
            sender.stdin.flush()
            line = sender.stdout.readline()
            if not line:
                raise RuntimeError("the request sender died")
            timings = json.loads(line)
            done = api.wait_for("response", concurrency * (round_no + 1), timeout=60)
            if round_no == 0:
                continue
            sent = {name: start for name, (start, _) in zip(names, timings)}
            acks += [took for _, took in timings]
            replies += [c.at - sent[c.path.rsplit("/", 1)[1]] for c in done if c.path.rsplit("/", 1)[1] in sent]
    finally:
        sender.stdin.close()
        sender.wait(10)
    return acks, replies


def _sender() -> None:
    """The sending process: one JSON round per stdin line, its timings as one JSON line on stdout."""
    for line in sys.stdin:
        job = json.loads(line)
        print(json.dumps(_fire(job["port"], job["bodies"])), flush=True)


def _fire(port: int, bodies: list[str]) -> list[tuple[float, float]]:
    """Send every body at once, one thread each; (monotonic start, seconds to the ack) per body."""
    out: list[tuple[float, float] | None] = [None] * len(bodies)
    barrier = threading.Barrier(len(bodies))

    def one(i: int) -> None:
        barrier.wait()
        start = time.monotonic()
        status = _post(port, bodies[i], "application/x-www-form-urlencoded")
        out[i] = (start, time.monotonic() - start) if status == 200 else None

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(bodies))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if None in out:
        raise RuntimeError("some /cyberops requests were not acked with 200")
    return out  # type: ignore[return-value]


# ---------------------------------------------------------------- (b) click to action
def _bench_clicks(port: int, api, conversation, *, clicks: int, max_ticks: int = 400) -> list[float]:
    """The actions' status is read through a connection of our own (the store's one belongs to the
    app's worker while it runs the click); the twin ticks again only once the click's answer is out."""
    defence = conversation.defence
    out: list[float] = []
    reader = sqlite3.connect(defence.store.path)
    try:
        for _ in range(max_ticks):
            if len(out) >= clicks:
                break
            conversation.tick()
            for row in defence.short.incidents(status="open"):
                pending = defence.status(row["id"]).pending
                if pending is None:
                    continue
                call = api.wait_for("chat.postMessage", where=lambda c: pending["interrupt_id"] in json.dumps(
                    c.body.get("blocks")))[0]
                answered = len(api.calls("chat.postEphemeral"))
                keys = [a["key"] for a in pending["actions"]]
                body = _click_body(call.body | {"ts": call.answer["ts"]}, len(out))
                start = time.monotonic()
                if _post(port, body, "application/x-www-form-urlencoded") != 200:
                    raise RuntimeError("the click was not accepted")
                while not _all_executed(reader, keys):
                    if time.monotonic() - start > 30:
                        raise RuntimeError("the approved actions did not run within 30 s")
                    time.sleep(0.001)
                out.append(time.monotonic() - start)
                api.wait_for("chat.postEphemeral", answered + 1, timeout=30)
    finally:
        reader.close()
    return out


def _all_executed(reader: sqlite3.Connection, keys: list[str]) -> bool:
    marks = ", ".join("?" * len(keys))
    done = reader.execute(f"SELECT count(*) FROM actions WHERE status = 'executed' AND key IN ({marks})", keys)
    return done.fetchone()[0] == len(keys)


def _click_body(ask: dict, n: int) -> str:
    button = ask["blocks"][-1]["elements"][0]
    payload = {"type": "block_actions", "api_app_id": "A0BENCH", "trigger_id": f"click{n}.trigger",
               "team": {"id": "T0BENCH"}, "user": {"id": APPROVER},
               "container": {"type": "message", "message_ts": ask["ts"], "channel_id": CHANNEL},
               "channel": {"id": CHANNEL}, "message": {"ts": ask["ts"], "thread_ts": ask["thread_ts"]},
               "actions": [{"type": "button", "action_id": button["action_id"], "value": button["value"],
                            "block_id": ask["blocks"][-1]["block_id"], "action_ts": f"1767000300.{n:06d}"}]}
    return urlencode({"payload": json.dumps(payload)})


# ---------------------------------------------------------------- helpers
def _post(port: int, body: str, content_type: str) -> int:
    from slack_sdk.signature import SignatureVerifier

    timestamp = str(int(time.time()))
    signature = SignatureVerifier(SECRET).generate_signature(timestamp=timestamp, body=body)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST", "/slack/events", body=body.encode(), headers={
            "Content-Type": content_type, "X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": signature})
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def _ms(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)) * 1000, 1) if values else None


def _load_fake_api():
    """The tests' fake Web API (a checkout's tests/ folder: this benchmark runs from the repository)."""
    return load_test_module(FAKE_API)


def load_test_module(path):
    """A stand-in from the repository's tests/ (fake Slack Web API, fake chat-completions server) as a module."""
    if not path.exists():
        raise RuntimeError(f"{path} is missing; run the benchmark from a checkout of the repository")
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(path.stem, module)  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module