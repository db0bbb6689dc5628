"""Alerts over real HTTP (uvicorn on 127.0.0.1) into a real conversation and defence loop: they open or
join incidents, map to hosts by name, IP, instance id or pod, and every refusal is a clear 4xx with an
audit entry; repeats are ignored, also after a restart."""

from __future__ import annotations

import http.client
import io
import json
import urllib.error
import urllib.request
from types import SimpleNamespace

import pytest
from rich.console import Console

from bot.console import ConsoleSurface
from bot.conversation import Conversation
from bot.http_app import build_http_app, start_http
from graph.runtime import Defence
from memory.store import open_store
from twin.scenario import scenario_from_dict

TOKEN = "alert-token-for-tests"
MAX_BYTES = 4096
# two subnets of six hosts; some carry the addresses an alert may name them by
HOSTS = {
    "dmz": [("web-01", {"entry": True, "ip": "10.0.1.1"}), ("web-02", {"ip": "10.0.1.2"}), ("web-03", {}),
            ("web-04", {"ip": "10.0.1.4"}), ("web-05", {}), ("web-06", {"high_value": True})],
    "app": [("api-01", {"entry": True, "pod": "payments-api-7d9f"}), ("api-02", {"instance_id": "i-0abc123"}),
            ("api-03", {}), ("api-04", {}), ("api-05", {}), ("db-01", {"high_value": True})],
}


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    folder = tmp_path_factory.mktemp("net")
    nodes, links = [], []
    for subnet, hosts in HOSTS.items():
        for i, (name, attrs) in enumerate(hosts):
            nodes.append({"id": name, "subnet": subnet, **attrs})
            if i:
                links.append({"source": hosts[(i - 1) // 2][0], "target": name})
    (folder / "net.json").write_text(json.dumps({"nodes": nodes, "links": links}), encoding="utf-8")
    return scenario_from_dict({
        "name": "alerts-test", "seed": 5, "horizon": 40,
        "topology": {"generator": "file", "file": str(folder / "net.json"), "entry_nodes": 1, "high_value_nodes": 1},
        "attack": {"mode": "recon", "intensity": 1, "p_detect": 1.0},
        "defender": {"actions_per_step": 2},
    })


@pytest.fixture
def make_served(tmp_path, weights, scenario):
    started = []

    def make(*, token: str | None = TOKEN, restore: bool = False, slack_app=None):
        store = open_store(tmp_path / "alerts.db")
        defence = Defence(scenario=scenario, store=store, agents=weights, tick_on_act=False, restore=restore)
        out = io.StringIO()
        conversation = Conversation(defence=defence, surfaces={"console": ConsoleSurface(Console(file=out, width=200))},
                                    channels={"console": "term"})
        server = start_http(build_http_app(conversation, alert_token=token, max_bytes=MAX_BYTES, slack_app=slack_app))
        served = SimpleNamespace(conversation=conversation, defence=defence, out=out, server=server, store=store)
        started.append(served)
        return served

    yield make
    for served in started:
        stop(served)


def stop(served) -> None:
    served.server.stop()
    served.defence.close_connections()
    served.store.close()


@pytest.fixture
def served(make_served):
    return make_served()


def post(served, path: str, payload=None, *, raw: bytes | None = None, token: str | None = TOKEN,
         headers: dict | None = None) -> tuple[int, dict]:
    body = raw if raw is not None else json.dumps(payload).encode("utf-8")
    head = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {}),
            **(headers or {})}
    request = urllib.request.Request(served.server.url + path, data=body, method="POST", headers=head)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def generic(host: str, *, kind: str = "ransomware", severity: str = "critical", time: str = "2026-12-04T17:00:00Z"):
    return {"host": host, "kind": kind, "severity": severity, "time": time, "description": "EDR: files encrypted",
            "source": "edr"}


def alertmanager(*alerts: dict) -> dict:
    return {"version": "4", "groupKey": "{}:{alertname=\"x\"}", "truncatedAlerts": 0, "status": "firing",
            "receiver": "cyberops", "groupLabels": {}, "commonLabels": {}, "commonAnnotations": {},
            "externalURL": "http://alertmanager:9093", "alerts": list(alerts)}


def am_alert(labels: dict, *, status: str = "firing", fingerprint: str = "f1", starts: str = "2026-12-04T17:00:00Z"):
    return {"status": status, "labels": {"alertname": "SuspiciousProcess", "severity": "critical", **labels},
            "annotations": {"summary": "a shell spawned by nginx"}, "startsAt": starts,
            "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://prometheus/graph", "fingerprint": fingerprint}


def seen(served, host: str) -> bool:
    net = served.defence.sim.network
    return bool(served.defence.sim.visible[0, net.index[host]])


def refusals(served) -> list[dict]:
    return [e for e in served.defence.audit.entries() if e["event"] == "refused" and e["who"].startswith("alert:")]


def alert_snapshots(served) -> int:
    return served.store.db.execute("SELECT count(*) FROM twin_snapshots WHERE key LIKE 'alert:%'").fetchone()[0]


# ==================================================================== accepted
def test_a_generic_alert_opens_an_incident_marks_the_host_and_posts_in_its_thread(served):
    status, body = post(served, "/alerts", generic("web-03"))
    assert status == 200 and body["ok"] and body["accepted"] == 1 and not body["duplicate"]
    incident = body["incidents"][0]
    assert [r["id"] for r in served.defence.short.incidents(status="open")] == [incident]
    assert seen(served, "web-03") and "web-03" in served.defence.short.attack_chain(incident)
    text = served.out.getvalue()
    assert f"🚨 {incident}" in text and "ransomware alert from edr" in text  # the thread, titled by the alert
    assert "🔔 edr alert ransomware (critical) on web-03: marked seen compromised" in text
    assert served.conversation.chat.thread_of(incident, "console") is not None
    assert served.defence.status(incident).pending is not None  # and the loop asks about a plan


def test_an_alertmanager_batch_acts_on_firing_alerts_and_only_acknowledges_resolved_ones(served):
    payload = alertmanager(am_alert({"instance": "10.0.1.4:9100"}, fingerprint="aa"),
                           am_alert({"host": "web-05"}, status="resolved", fingerprint="bb"))
    status, body = post(served, "/alerts/alertmanager", payload)
    assert status == 200 and body["accepted"] == 1 and body["resolved"] == 1
    assert [a["status"] for a in body["alerts"]] == ["compromised", "resolved"]
    assert body["alerts"][0]["host"] == "web-04"  # by its IP, the exporter's port dropped
    assert seen(served, "web-04") and not seen(served, "web-05")
    assert len(served.defence.short.incidents()) == 1


def test_a_second_alert_joins_the_open_incident_and_a_low_one_only_notes_the_host(served):
    first = post(served, "/alerts", generic("web-03"))[1]["incidents"][0]
    status, body = post(served, "/alerts", [generic("web-02", kind="c2-beacon", severity="high"),
                                            generic("api-03", kind="port-scan", severity="info")])
    assert status == 200 and body["incidents"] == [first]
    assert [a["status"] for a in body["alerts"]] == ["compromised", "suspicious"]
    assert seen(served, "web-02") and not seen(served, "api-03")
    assert any("suspicious (port-scan, info): api-03" in t["text"] for t in served.defence.short.turns(first))
    assert len(served.defence.short.incidents()) == 1


def test_alerts_name_hosts_by_ip_pod_and_instance_id(served):
    status, body = post(served, "/alerts", [generic("10.0.1.2"), generic("i-0abc123")])
    assert status == 200 and [a["host"] for a in body["alerts"]] == ["web-02", "api-02"]
    status, body = post(served, "/alerts/alertmanager",
                        alertmanager(am_alert({"namespace": "payments", "pod": "payments-api-7d9f"}, fingerprint="p")))
    assert status == 200 and body["alerts"][0]["host"] == "api-01"
    assert seen(served, "web-02") and seen(served, "api-02") and seen(served, "api-01")


# ==================================================================== refused
def test_a_bad_or_missing_token_is_401_audited_and_changes_nothing(served):
    status, body = post(served, "/alerts", generic("web-03"), token="wrong")
    assert status == 401 and body["reason"] == "unauthorized" and "bad bearer token" in body["error"]
    status, body = post(served, "/alerts/alertmanager", alertmanager(am_alert({"host": "web-03"})), token=None)
    assert status == 401 and "missing Authorization" in body["error"]
    entries = refusals(served)
    assert len(entries) == 2 and {e["who"] for e in entries} == {"alert:127.0.0.1"}
    assert entries[0]["incident"] == "-" and "bad bearer token" in entries[0]["why"]
    assert not seen(served, "web-03") and served.defence.short.incidents() == []


def test_an_unknown_host_refuses_the_whole_request_with_422_and_an_audit_entry(served):
    status, body = post(served, "/alerts", [generic("web-03"), generic("mystery-99")])
    assert status == 422 and body["reason"] == "unknown_host" and "host=mystery-99" in body["error"]
    assert not seen(served, "web-03") and served.defence.short.incidents() == []
    [entry] = refusals(served)
    assert entry["who"] == "alert:edr" and "mystery-99" in entry["targets"] and "no twin host" in entry["why"]


@pytest.mark.parametrize("raw, problem", [
    (b"{not json", "not JSON"),
    (json.dumps({"host": "web-03", "kind": "x"}).encode(), "missing severity, time"),
    (json.dumps(generic("web-03", severity="apocalyptic")).encode(), "unknown severity 'apocalyptic'"),
    (json.dumps(generic("web-03") | {"hots": 1}).encode(), "unknown key(s) hots"),
    (json.dumps(generic("web-03", time="yesterday")).encode(), "not an ISO 8601 time"),
])
def test_a_malformed_body_is_400_with_what_is_wrong_and_audited(served, raw, problem):
    status, body = post(served, "/alerts", raw=raw)
    assert status == 400 and body["reason"] == "malformed" and problem in body["error"]
    assert len(refusals(served)) == 1 and problem in refusals(served)[0]["why"]
    assert served.defence.short.incidents() == []


def test_an_alertmanager_alert_naming_no_host_is_400(served):
    status, body = post(served, "/alerts/alertmanager", alertmanager(am_alert({"job": "node"})))
    assert status == 400 and "no label names a host" in body["error"]
    assert refusals(served)[0]["who"] == "alert:alertmanager"


def test_an_oversize_body_is_413_before_it_is_read(served):
    # only the headers go out: the answer comes without the server waiting for a byte of the body
    conn = http.client.HTTPConnection("127.0.0.1", served.server.port, timeout=10)
    conn.putrequest("POST", "/alerts")
    conn.putheader("Authorization", f"Bearer {TOKEN}")
    conn.putheader("Content-Length", str(10 * MAX_BYTES))
    conn.endheaders()
    response = conn.getresponse()
    assert response.status == 413 and "over 4096 bytes" in json.loads(response.read())["error"]
    conn.close()
    # a chunked body (no length given) is cut off once it passes the limit
    chunks = iter([b"[" + b" " * 1000] * 6 + [b"]"])
    conn = http.client.HTTPConnection("127.0.0.1", served.server.port, timeout=10)
    conn.request("POST", "/alerts", body=chunks, headers={"Authorization": f"Bearer {TOKEN}"}, encode_chunked=True)
    assert conn.getresponse().status == 413
    conn.close()
    assert [e["why"].split(":")[0] for e in refusals(served)] == ["generic alert refused"] * 2


# ==================================================================== repeats and switches
def test_a_repeated_alert_is_answered_duplicate_and_not_acted_on_even_after_a_restart(served, make_served):
    assert post(served, "/alerts", generic("web-03"))[1]["accepted"] == 1
    status, body = post(served, "/alerts", generic("web-03"))
    assert status == 200 and body["duplicate"] is True and body["accepted"] == 0
    am = alertmanager(am_alert({"host": "web-02"}, fingerprint="same"))
    assert post(served, "/alerts/alertmanager", am)[1]["accepted"] == 1
    assert post(served, "/alerts/alertmanager", am)[1]["duplicate"] is True
    assert len(served.defence.short.incidents()) == 1 and alert_snapshots(served) == 2
    text = served.out.getvalue()
    assert text.count("🚨") == 1 and text.count("on web-03: marked seen compromised") == 1
    stop(served)
    restarted = make_served(restore=True)  # same memory file, a new process's worth of objects
    assert post(restarted, "/alerts", generic("web-03"))[1]["duplicate"] is True
    assert post(restarted, "/alerts", generic("web-03", time="2026-12-04T18:00:00Z"))[1]["accepted"] == 1
    assert alert_snapshots(restarted) == 3


def test_without_a_token_the_alert_endpoints_are_off_and_say_how_to_turn_them_on(make_served):
    served = make_served(token=None)
    status, body = post(served, "/alerts", generic("web-03"))
    assert status == 503 and "CYBEROPS_ALERT_TOKEN" in body["error"]
    with urllib.request.urlopen(served.server.url + "/healthz", timeout=10) as response:
        assert json.loads(response.read()) == {"ok": True, "surfaces": ["console"], "alerts": False,
                                               "slack_events": False}
    status, body = post(served, "/slack/events", {})
    assert status == 404 and "Slack" in body["error"]


def test_slack_events_go_to_bolt_when_slack_runs_in_http_mode(make_served):
    from slack_bolt import App

    bolt = App(token="xoxb-test", signing_secret="s3cr3t", token_verification_enabled=False)
    served = make_served(slack_app=bolt)
    request = urllib.request.Request(served.server.url + "/slack/events", data=b"command=%2Fcyberops", method="POST",
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    with pytest.raises(urllib.error.HTTPError) as unsigned:
        urllib.request.urlopen(request, timeout=10)
    assert unsigned.value.code == 401  # Bolt's signature check answered, not our router
    assert post(served, "/alerts", generic("web-03"))[0] == 200  # and alerts still come in beside it


def test_serve_runs_the_http_app_for_alerts_alone(tmp_path, monkeypatch, capsys):
    from bot.cli import main
    from bot.serve import build_services
    from bot.settings import Settings

    settings = Settings(_env_file=None, cyberops_alert_token="t0ken", cyberops_db=str(tmp_path / "s.db"),
                        cyberops_scenario="demo")
    assert settings.surfaces()["alerts"] is None and "t0ken" in settings.secrets()
    services = build_services(settings)
    try:
        assert services.http_app is not None and services.http_app.intake.enabled
        assert services.http_app.slack is None and services.conversation.surfaces == {}
        assert any("posted nowhere" in note for note in services.notes)
    finally:
        services.conversation.defence.close_connections()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CYBEROPS_ALERT_TOKEN", "t0ken")
    assert main(["serve", "--check"]) == 0
    assert "alerts: would run" in capsys.readouterr().out


def test_a_flood_of_refused_requests_from_one_client_is_audited_a_few_rows_a_minute_and_counted():
    from bot.alerts import AUDIT_BURST, AUDIT_WINDOW_S, RefusalLog
    from memory.audit import AuditLog

    store = open_store(":memory:")
    now = [1000.0]
    log = RefusalLog(AuditLog(store), clock=lambda: now[0])
    audited = [log.record(who="alert:10.0.0.9", reason="unauthorized", targets=[], why="bad bearer token")
               for _ in range(200)]
    assert audited.count(True) == AUDIT_BURST and len(AuditLog(store)) == AUDIT_BURST
    assert log.record(who="alert:10.0.0.8", reason="unauthorized", targets=[], why="bad bearer token")  # another
    assert log.record(who="alert:10.0.0.9", reason="bad_request", targets=[], why="not JSON")  # another reason
    now[0] += AUDIT_WINDOW_S
    assert log.record(who="alert:10.0.0.9", reason="unauthorized", targets=[], why="bad bearer token")
    last = AuditLog(store).entries()[-1]
    assert last["event"] == "refused" and f"{200 - AUDIT_BURST} more like it" in last["why"]
    assert AuditLog(store).verify() is None
