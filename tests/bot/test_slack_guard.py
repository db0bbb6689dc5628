"""Replayed, forged and stale Slack requests against the real Bolt app served on 127.0.0.1 (with the fake Web
API): a byte-identical request a second time gets 401 and runs nothing; a Slack retry, signed afresh, is
taken and handled once.  Also the guard's window and bound, and a small run of the load bench."""

from __future__ import annotations

import http.client
import time

import test_slack
from slack_bolt.request import BoltRequest
from slack_sdk.signature import SignatureVerifier
from test_slack import ALICE, SECRET, executed, statuses, until_ask

from bot.slack_guard import REPLAYER, WINDOW_SECONDS, ReplayGuard

rig, recogniser = test_slack.rig, test_slack.recogniser  # the same fixtures
FORM = "application/x-www-form-urlencoded"


def signed(body: str, content_type: str = FORM, *, at: float | None = None, secret: str = SECRET,
           extra: dict | None = None) -> dict:
    """The headers Slack sends with ``body`` signed at time ``at`` (default: now)."""
    timestamp = str(int(time.time() if at is None else at))
    return {"Content-Type": content_type, "X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=body),
            **(extra or {})}


def post(rig, body: str, headers: dict) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", rig.slack.port, timeout=10)
    conn.request("POST", "/slack/events", body=body.encode(), headers=headers)
    response = conn.getresponse()
    response.read()
    conn.close()
    return response


def replay_entries(rig) -> list[dict]:
    return [e for e in rig.defence.audit.entries() if e["who"] == REPLAYER]


# ---------------------------------------------------------------- over HTTP
def test_a_replayed_approve_click_gets_401_runs_the_plan_once_and_is_audited_once(rig):
    incident, pending, ask = until_ask(rig)
    body = rig.slack.click_body(ask)
    headers = signed(body)
    assert post(rig, body, headers).status == 200
    assert "recorded" in rig.api.wait_for("chat.postEphemeral")[0].body["text"]
    replayed = post(rig, body, headers)  # the very same bytes, headers included
    assert replayed.status == 401 and replayed.getheader("x-slack-no-retry") == "1"
    assert post(rig, body, headers).status == 401
    time.sleep(0.3)  # anything taken would have answered by now
    assert len(rig.api.calls("chat.postEphemeral")) == 1 and len(rig.api.calls("chat.update")) == 1
    assert statuses(rig, pending) == {"executed"}
    assert sorted(executed(rig, incident)) == sorted(a["key"] for a in pending["actions"])
    (entry,) = replay_entries(rig)  # two replays, one row: a flood of one capture costs one row
    assert (entry["event"], entry["incident"], entry["action_id"]) == ("refused", incident, pending["interrupt_id"])
    assert f"slack:{ALICE}" in entry["why"] and "approve" in entry["why"]
    assert rig.defence.audit.verify() is None


def test_a_replayed_slash_command_gets_401_and_one_reply(rig):
    body = rig.slack.command_body("stop")
    headers = signed(body)
    assert post(rig, body, headers).status == 200
    assert post(rig, body, headers).status == 401
    rig.api.wait_for("response")
    time.sleep(0.3)
    assert len(rig.api.calls("response")) == 1 and rig.conversation.paused
    assert not replay_entries(rig)  # only clicks go into the audit log


def test_a_forged_signature_and_a_stale_timestamp_get_401_and_change_nothing(rig):
    incident, pending, ask = until_ask(rig)
    before = len(rig.api.calls_made)
    body = rig.slack.click_body(ask)
    assert post(rig, body, signed(body, secret="not-the-secret")).status == 401
    assert post(rig, body, signed(body, at=time.time() - 6 * 60)).status == 401  # signed right, 6 minutes old
    time.sleep(0.3)
    assert len(rig.api.calls_made) == before and statuses(rig, pending) == {"pending"}
    assert not replay_entries(rig)  # Bolt refused them before the guard: nothing was remembered or audited
    assert post(rig, body, signed(body)).status == 200  # the same click, genuinely signed, still counts


def test_a_slack_retry_signed_afresh_is_taken_and_runs_nothing_twice(rig):
    incident, pending, ask = until_ask(rig)
    body = rig.slack.click_body(ask)
    first = signed(body, at=time.time() - 3)  # the attempt Slack gave up on after 3 s
    retry = signed(body, extra={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"})
    assert first["X-Slack-Signature"] != retry["X-Slack-Signature"]
    assert post(rig, body, first).status == 200
    assert post(rig, body, retry).status == 200
    notes = [c.body["text"] for c in rig.api.wait_for("chat.postEphemeral", 2)]
    assert sum("recorded" in n for n in notes) == 1 and sum("Already handled" in n for n in notes) == 1
    assert statuses(rig, pending) == {"executed"}
    assert sorted(executed(rig, incident)) == sorted(a["key"] for a in pending["actions"])
    assert not replay_entries(rig)
    # the retry header is not signed, so it exempts nothing: the retry itself replayed is refused
    assert post(rig, body, retry).status == 401


# ---------------------------------------------------------------- the guard alone
def request(signature: str, timestamp: str, *, mode: str = "http", body: str = "a=1") -> BoltRequest:
    headers = {"x-slack-signature": signature, "x-slack-request-timestamp": timestamp}
    return BoltRequest(body=body, headers=headers if mode == "http" else {}, mode=mode)


def through(guard: ReplayGuard, req: BoltRequest) -> int:
    """The status the guard answers, 200 when it lets the request on."""
    passed = []
    resp = guard.process(req=req, resp=None, next=lambda: passed.append(True))
    return 200 if passed else resp.status


def test_the_guard_forgets_a_signature_once_bolt_would_refuse_its_timestamp_anyway():
    now = [1_767_000_000.0]
    guard = ReplayGuard(clock=lambda: now[0])
    assert through(guard, request("v0=aa", str(int(now[0])))) == 200
    now[0] += WINDOW_SECONDS
    assert through(guard, request("v0=aa", str(int(now[0] - WINDOW_SECONDS)))) == 401  # still inside the window
    now[0] += 2  # past it: Bolt refuses that timestamp itself, so the guard lets the signature go
    assert through(guard, request("v0=bb", str(int(now[0])))) == 200
    assert len(guard) == 1 and guard.replays == 1


def test_a_full_guard_refuses_with_503_rather_than_forget_early_and_takes_requests_again_once_some_expire():
    now = [1_767_000_000.0]
    guard = ReplayGuard(clock=lambda: now[0], max_signatures=2)
    assert through(guard, request("v0=01", str(int(now[0]) - 200))) == 200
    assert through(guard, request("v0=02", str(int(now[0])))) == 200
    assert through(guard, request("v0=03", str(int(now[0])))) == 503
    assert through(guard, request("v0=01", str(int(now[0]) - 200))) == 401  # not pushed out by the crowd
    now[0] += 102  # the first one's timestamp has left the window
    assert through(guard, request("v0=03", str(int(now[0])))) == 200


def test_socket_mode_requests_carry_no_signature_and_pass():
    guard = ReplayGuard()
    for _ in range(2):
        assert through(guard, request("", "", mode="socket_mode", body='{"type": "event_callback"}')) == 200
    assert len(guard) == 0


# ---------------------------------------------------------------- under load
def test_a_small_load_run_is_all_acked_with_no_error_and_no_action_twice():
    from bench.slack_load import bench_slack_load

    r = bench_slack_load(requests=60, clients=10, incidents=4)
    assert r["requests"] == 60 and r["errors"] == 0  # every request answered 2xx (timing is the bench's business)
    assert r["mix"] == {"commands": 36, "events": 15, "clicks": 9, "double_clicks": r["mix"]["double_clicks"]}
    assert r["confirmations_clicked"] >= 1 and r["decisions_recorded"] == r["confirmations_clicked"]
    assert r["duplicate_actions"] == 0 and r["decided_twice"] == 0 and r["executed_without_approval"] == 0
    assert r["actions_executed"] > 0 and r["commands_answered"] == 36 and not r["clock_errors"]
