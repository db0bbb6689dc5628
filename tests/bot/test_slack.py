"""The real Bolt app, served over HTTP on 127.0.0.1, receiving requests signed as Slack signs them and
talking to a local fake Web API: commands, incident threads, buttons, refusals, retries, rate limits, uploads."""

from __future__ import annotations

import http.client
import itertools
import json
import time
from dataclasses import dataclass
from urllib.parse import urlencode

import pytest
from slack_fake_api import BOT_USER, TEAM, FakeSlackAPI
from slack_sdk.signature import SignatureVerifier

from bot.conversation import Conversation
from bot.settings import Settings
from bot.slack_app import (SlackSurface, build_slack_app, slack_health, slack_socket_handler, slack_web_client,
                           start_slack_http)
from graph.intent_slots import TwinNames
from graph.intents import IntentRecogniser
from graph.runtime import Defence
from memory.store import open_store
from twin.build import build_network
from twin.scenario import scenario_from_dict

SCENARIO = {
    "name": "slack-test", "seed": 3, "horizon": 40,
    "topology": {"subnets": 2, "nodes_per_subnet": 12, "generator": "tree", "entry_nodes": 2, "high_value_nodes": 1},
    "attack": {"mode": "recon", "intensity": 2, "p_detect": 1.0},
    "defender": {"actions_per_step": 3},
}
SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
CHANNEL = "C0INCIDENTS"
ALICE, MALLORY = "U0ALICE", "U0MALLORY"  # an approver; someone who is not


@pytest.fixture(scope="module")
def recogniser():
    return IntentRecogniser(names=TwinNames.from_network(build_network(scenario_from_dict(SCENARIO))))


class Slack:
    """Sends what Slack sends to the Request URL, signed with the app's signing secret."""

    def __init__(self, port: int, api: FakeSlackAPI) -> None:
        self.port, self.api = port, api
        self._ids = itertools.count(1)

    def send(self, body: str, content_type: str, *, secret: str = SECRET, age: float = 0.0,
             headers: dict | None = None) -> int:
        timestamp = str(int(time.time() - age))
        signature = SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=body)
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        conn.request("POST", "/slack/events", body=body.encode(), headers={
            "Content-Type": content_type, "X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": signature,
            **(headers or {})})
        status = conn.getresponse().status
        conn.close()
        return status

    def command_body(self, text: str, *, user: str = ALICE) -> str:
        n = next(self._ids)
        return urlencode({"token": "legacy", "team_id": TEAM, "team_domain": "cyber", "channel_id": CHANNEL,
                          "channel_name": "incidents", "user_id": user, "user_name": user.lower(),
                          "command": "/cyberops", "text": text, "api_app_id": "A0CYBEROPS",
                          "response_url": self.api.response_url(f"cmd{n}"), "trigger_id": f"{n}.trigger"})

    def click_body(self, ask: dict, decision: str = "approve", *, user: str = ALICE, value: str | None = None) -> str:
        """A press on the buttons of the posted confirmation ``ask`` (a recorded chat.postMessage body)."""
        n = next(self._ids)
        ts, thread = ask["ts"], ask["thread_ts"]
        button = next(e for e in ask["blocks"][-1]["elements"] if e["action_id"] == f"cyberops_{decision}")
        payload = {
            "type": "block_actions", "api_app_id": "A0CYBEROPS", "token": "legacy", "trigger_id": f"{n}.trigger",
            "team": {"id": TEAM, "domain": "cyber"}, "user": {"id": user, "username": user.lower(), "team_id": TEAM},
            "container": {"type": "message", "message_ts": ts, "channel_id": CHANNEL, "is_ephemeral": False},
            "channel": {"id": CHANNEL, "name": "incidents"},
            "message": {"type": "message", "ts": ts, "thread_ts": thread, "bot_id": "BCYBEROPS", "text": ask["text"],
                        "blocks": ask["blocks"]},
            "response_url": self.api.response_url(f"act{n}"),
            "actions": [{"type": "button", "action_id": button["action_id"], "block_id": ask["blocks"][-1]["block_id"],
                         "value": button["value"] if value is None else value, "action_ts": f"1767000100.{n:06d}"}],
        }
        return "payload=" + json.dumps(payload).replace("%", "%25").replace("&", "%26").replace("+", "%2B")

    def event_body(self, event: dict) -> str:
        n = next(self._ids)
        return json.dumps({"token": "legacy", "team_id": TEAM, "api_app_id": "A0CYBEROPS", "type": "event_callback",
                           "event_id": f"Ev{n:08d}", "event_time": int(time.time()), "event": event,
                           "authorizations": [{"team_id": TEAM, "user_id": BOT_USER, "is_bot": True}]})

    def command(self, text: str, **kw) -> int:
        return self.send(self.command_body(text, **kw), "application/x-www-form-urlencoded")

    def click(self, ask: dict, decision: str = "approve", **kw) -> int:
        return self.send(self.click_body(ask, decision, **kw), "application/x-www-form-urlencoded")

    def event(self, event: dict) -> int:
        return self.send(self.event_body(event), "application/json")


@dataclass
class Rig:
    api: FakeSlackAPI
    slack: Slack
    conversation: Conversation
    defence: Defence
    surface: SlackSurface
    url: str


@pytest.fixture
def rig(tmp_path, weights, recogniser):
    with FakeSlackAPI() as api:
        settings = Settings(_env_file=None, slack_bot_token="xoxb-test-token", slack_signing_secret=SECRET,
                            slack_api_url=api.base_url, cyberops_slack_channel=CHANNEL, cyberops_approvers=ALICE)
        surface = SlackSurface(slack_web_client(settings))
        store = open_store(tmp_path / "slack.db")
        defence = Defence(scenario=scenario_from_dict(SCENARIO), store=store, agents=weights, tick_on_act=False,
                          restore=False)
        conversation = Conversation(defence=defence, surfaces={"slack": surface},
                                    channels={"slack": settings.cyberops_slack_channel},
                                    approvers=settings.approvers, recognise=recogniser.recognise)
        server = start_slack_http(build_slack_app(conversation, settings), health=slack_health(conversation))
        yield Rig(api, Slack(server.port, api), conversation, defence, surface, server.url)
        server.stop()
        defence.close_connections()
        store.close()


def until_ask(rig: Rig, limit: int = 30) -> tuple[str, dict, dict]:
    """Tick the live twin until an incident waits for a decision: (incident, pending, the posted ask)."""
    for _ in range(limit):
        rig.conversation.tick()
        for row in rig.defence.short.incidents(status="open"):
            pending = rig.defence.status(row["id"]).pending
            if pending:
                return row["id"], pending, posted_ask(rig, pending["interrupt_id"])
    raise AssertionError("no confirmation was asked for")


def posted_ask(rig: Rig, interrupt: str) -> dict:
    """The chat.postMessage that asked for ``interrupt``, with the ts the fake gave it."""
    call = rig.api.wait_for("chat.postMessage", where=lambda c: interrupt in json.dumps(c.body.get("blocks")))[0]
    return call.body | {"ts": call.answer["ts"]}


def statuses(rig: Rig, pending: dict) -> set[str]:
    return {rig.defence.short.action(a["key"]).status for a in pending["actions"]}


def executed(rig: Rig, incident: str) -> list[str]:
    return [e["action_id"] for e in rig.defence.audit.entries(incident=incident) if e["event"] == "executed"]


# ---------------------------------------------------------------- commands
def test_a_slash_command_is_acked_at_once_and_answered_ephemerally_through_its_response_url(rig):
    started = time.monotonic()
    assert rig.slack.command("status") == 200
    assert time.monotonic() - started < 1.0
    reply = rig.api.wait_for("response")[0].body
    assert reply["response_type"] == "ephemeral" and "*Network:*" in reply["text"]
    assert rig.api.calls("auth.test")  # Bolt checked the token at start-up

    assert rig.slack.command("") == 200  # nothing, or gibberish: the help, to the asker only
    assert rig.slack.command("frobnicate the quux") == 200
    replies = [c.body for c in rig.api.wait_for("response", 3)]
    assert replies[1]["response_type"] == "ephemeral" and "/cyberops" in replies[1]["text"]
    assert replies[2]["response_type"] == "ephemeral" and replies[2]["text"]


# ---------------------------------------------------------------- a whole incident
def test_an_incident_gets_a_thread_and_buttons_and_an_approvers_click_runs_the_plan_once(rig):
    incident, pending, ask = until_ask(rig)
    root = rig.api.calls("chat.postMessage")[0].body
    assert root["channel"] == CHANNEL and incident in root["text"] and "thread_ts" not in root
    assert ask["thread_ts"] == rig.conversation.chat.thread_of(incident, "slack")[1]
    section, _, actions = ask["blocks"]
    assert section["type"] == "section" and section["text"]["type"] == "mrkdwn"
    assert all(a["targets"][0] in section["text"]["text"] for a in pending["actions"])
    approve, reject = actions["elements"]
    assert (approve["action_id"], approve["style"], reject["action_id"], reject["style"]) == \
        ("cyberops_approve", "primary", "cyberops_reject", "danger")
    for button in (approve, reject):
        assert json.loads(button["value"]) == {"incident": incident, "interrupt": pending["interrupt_id"]}

    assert rig.slack.click(ask) == 200
    note = rig.api.wait_for("chat.postEphemeral")[0].body  # the click's last step: its answer to the clicker
    assert note["user"] == ALICE and "recorded" in note["text"]
    update = rig.api.calls("chat.update")[0].body
    assert update["ts"] == ask["ts"] and update["channel"] == CHANNEL
    assert "Approved by" in update["text"] and not [b for b in update["blocks"] if b["type"] == "actions"]
    results = [c.body for c in rig.api.calls("chat.postMessage") if "done" in c.body["text"]][0]
    assert results["thread_ts"] == ask["thread_ts"] and "Executed:" in results["text"]
    assert statuses(rig, pending) == {"executed"}
    assert sorted(executed(rig, incident)) == sorted(a["key"] for a in pending["actions"])


def test_forged_signatures_and_stale_timestamps_get_401_and_change_nothing(rig):
    incident, pending, ask = until_ask(rig)
    before = len(rig.api.calls_made)
    form = "application/x-www-form-urlencoded"
    assert rig.slack.send(rig.slack.click_body(ask), form, secret="not-the-secret") == 401
    assert rig.slack.send(rig.slack.click_body(ask), form, age=6 * 60) == 401  # signed right, but 6 minutes old
    assert rig.slack.send(rig.slack.command_body("stop"), form, secret="x") == 401
    time.sleep(0.2)  # anything accepted would have posted by now
    assert len(rig.api.calls_made) == before
    assert statuses(rig, pending) == {"pending"} and not rig.conversation.paused


def test_a_non_approvers_click_is_refused_ephemerally_audited_and_runs_nothing(rig):
    incident, pending, ask = until_ask(rig)
    assert rig.slack.click(ask, user=MALLORY) == 200
    note = rig.api.wait_for("chat.postEphemeral")[0].body
    assert note["user"] == MALLORY and note["channel"] == CHANNEL and "not an approver" in note["text"]
    assert note["thread_ts"] == ask["thread_ts"]
    assert statuses(rig, pending) == {"pending"} and not rig.api.calls("chat.update")
    refused = [e for e in rig.defence.audit.entries(incident=incident) if e["event"] == "refused"]
    assert refused and {e["who"] for e in refused} == {f"slack:{MALLORY}"}


def test_a_retried_delivery_and_a_double_click_run_the_actions_once(rig):
    incident, pending, ask = until_ask(rig)
    body = rig.slack.click_body(ask)
    form = "application/x-www-form-urlencoded"
    assert rig.slack.send(body, form, age=3) == 200  # Slack signs each attempt: the retry 3 s later has its own
    assert rig.slack.send(body, form, headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}) == 200
    assert rig.slack.click(ask) == 200  # a second press on the same buttons
    notes = [c.body["text"] for c in rig.api.wait_for("chat.postEphemeral", 3)]
    assert sum("recorded" in n for n in notes) == 1 and sum("Already handled" in n for n in notes) == 1
    assert sum("not pending" in n for n in notes) == 1
    assert statuses(rig, pending) == {"executed"}
    assert sorted(executed(rig, incident)) == sorted(a["key"] for a in pending["actions"])
    assert len(rig.api.calls("chat.update")) == 1


def test_a_button_from_an_older_plan_runs_nothing(rig):
    incident, first, old_ask = until_ask(rig)
    assert rig.slack.click(old_ask) == 200
    assert "recorded" in rig.api.wait_for("chat.postEphemeral")[0].body["text"]
    assert statuses(rig, first) == {"executed"}
    for _ in range(30):
        rig.conversation.tick()
        newer = rig.defence.status(incident).pending
        if newer or rig.defence.status(incident).status == "closed":
            break
    assert newer and newer["interrupt_id"] != first["interrupt_id"], "no newer plan to test against"
    posted_ask(rig, newer["interrupt_id"])
    assert rig.slack.click(old_ask, "reject") == 200
    note = rig.api.wait_for("chat.postEphemeral", 2)[1].body["text"]
    assert "not pending" in note
    assert statuses(rig, newer) == {"pending"} and rig.defence.status(incident).pending == newer


# ---------------------------------------------------------------- messages in threads
def test_thread_messages_are_answered_in_the_thread_and_other_messages_are_ignored(rig):
    incident, pending, ask = until_ask(rig)
    thread = ask["thread_ts"]
    base = {"type": "message", "channel": CHANNEL, "channel_type": "channel"}
    ignored = [
        base | {"user": ALICE, "text": "approve", "ts": "1767000200.000001"},  # not in a thread
        base | {"user": ALICE, "text": "approve", "ts": "1767000200.000002", "thread_ts": "1767000199.000001"},
        base | {"bot_id": "B0OTHER", "text": "approve", "ts": "1767000200.000003", "thread_ts": thread},
        base | {"subtype": "message_changed", "ts": "1767000200.000004", "thread_ts": thread,
                "message": {"user": ALICE, "text": "approve"}},
    ]
    for event in ignored:
        assert rig.slack.event(event) == 200
    question = base | {"user": MALLORY, "text": "status", "ts": "1767000200.000005", "thread_ts": thread}
    assert rig.slack.event(question) == 200
    answer = rig.api.wait_for("chat.postMessage", where=lambda c: "*Network:*" in c.body["text"])[0].body
    assert answer["thread_ts"] == thread and answer["channel"] == CHANNEL
    time.sleep(0.2)
    assert statuses(rig, pending) == {"pending"} and not rig.api.calls("chat.postEphemeral")

    # "@cyberops approve" in the thread arrives twice (message + app_mention) and once more as a retry
    said = {"user": ALICE, "text": f"<@{BOT_USER}> approve", "ts": "1767000200.000006", "thread_ts": thread}
    assert rig.slack.event(base | said) == 200
    assert rig.slack.event(said | {"type": "app_mention", "channel": CHANNEL}) == 200
    assert rig.slack.send(rig.slack.event_body(base | said), "application/json",
                          headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}) == 200
    assert "recorded" in rig.api.wait_for("chat.postEphemeral")[0].body["text"]
    assert statuses(rig, pending) == {"executed"}
    assert [c for c in rig.api.calls("chat.postMessage") if "done" in c.body["text"]]
    time.sleep(0.2)  # the other two deliveries of the same message would have answered by now
    assert sorted(executed(rig, incident)) == sorted(a["key"] for a in pending["actions"])
    assert len(rig.api.calls("chat.update")) == 1
    assert ["recorded" in c.body["text"] for c in rig.api.calls("chat.postEphemeral")] == [True]  # answered once


# ---------------------------------------------------------------- the Web API side
def test_a_rate_limited_post_waits_out_retry_after_and_is_delivered(rig):
    rig.api.rate_limit("chat.postMessage", times=1, retry_after=1)
    started = time.monotonic()
    ts = rig.surface.post(CHANNEL, "1767000000.000001", "step 3 done")
    assert time.monotonic() - started >= 1.0
    attempts = rig.api.calls("chat.postMessage", ok_only=False)
    assert [c.status for c in attempts] == [429, 200]
    assert attempts[1].body == {"channel": CHANNEL, "thread_ts": "1767000000.000001", "text": "step 3 done"}
    assert ts == "1767000000.000001"


def test_an_image_goes_up_through_the_three_call_upload_flow(rig):
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
    rig.surface.upload(CHANNEL, "1767000000.000042", "twin.png", png, "The twin after step 3")
    assert [c.method for c in rig.api.calls_made if c.method != "auth.test"] == \
        ["files.getUploadURLExternal", "upload", "files.completeUploadExternal"]
    ask, upload, complete = (rig.api.calls(m)[0] for m in ("files.getUploadURLExternal", "upload",
                                                             "files.completeUploadExternal"))
    assert ask.body["filename"] == "twin.png" and int(ask.body["length"]) == len(png)
    assert upload.raw == png and upload.body["file_id"] in complete.body["files"]
    assert complete.body["channel_id"] == CHANNEL and complete.body["thread_ts"] == "1767000000.000042"
    assert json.loads(complete.body["files"])[0]["title"] == "The twin after step 3"


# ---------------------------------------------------------------- serving
def test_healthz_answers_and_a_broken_button_gets_a_short_helpful_reply(rig):
    conn = http.client.HTTPConnection("127.0.0.1", rig.slack.port, timeout=5)
    conn.request("GET", "/healthz")
    response = conn.getresponse()
    assert response.status == 200 and json.loads(response.read()) == {"ok": True, "surfaces": ["slack"]}
    conn.request("GET", "/nowhere")
    response = conn.getresponse()
    response.read()
    assert response.status == 404
    conn.close()

    incident, pending, ask = until_ask(rig)
    assert rig.slack.click(ask, value="{not json") == 200
    note = rig.api.wait_for("chat.postEphemeral")[0].body
    assert note["user"] == ALICE and "incidents" in note["text"]
    assert statuses(rig, pending) == {"pending"}


def test_socket_mode_is_built_from_the_app_token_without_connecting(rig):
    app = build_slack_app(rig.conversation, Settings(_env_file=None, slack_bot_token="xoxb-test-token",
                                                     slack_api_url=rig.api.base_url),
                          client=rig.surface.client)
    handler = slack_socket_handler(app, "xapp-1-A0CYBEROPS-1-secret")
    assert handler.app is app and handler.client.app_token == "xapp-1-A0CYBEROPS-1-secret"
