"""``GET /metrics`` parses as Prometheus text and its figures are memory's and the twin's: incidents,
actions by kind and outcome, confirmation latency, availability and health, alerts, plans made by the
fallback planner and chat platform errors."""

from __future__ import annotations

import io
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console
from hand_clock import HandClock

from bot import metrics
from bot.console import ConsoleSurface
from bot.conversation import Conversation
from bot.http_app import build_http_app, start_http
from bot.surface import Click
from graph.planning import EmbeddedPlanner, Plan
from graph.runtime import Defence
from memory.store import open_store
from twin.scenario import scenario_from_dict

TOKEN = "metrics-test-token"
SCENARIO = {
    "name": "metrics-test", "seed": 3, "horizon": 40,
    "topology": {"subnets": 2, "nodes_per_subnet": 12, "generator": "tree", "entry_nodes": 2, "high_value_nodes": 1},
    "attack": {"mode": "recon", "intensity": 2, "p_detect": 1.0},
    "defender": {"actions_per_step": 3},
}



class StandIn(EmbeddedPlanner):
    """The embedded planner standing in for a failed LLM planner, as LLMPlanner's fallback does."""

    def plan(self, ctx) -> Plan:
        made = super().plan(ctx)
        return Plan(made.actions, made.planner, ["LLM planner failed (timeout)", *made.notes], fallback=True,
                    refused=made.refused)


class BrokenSurface(ConsoleSurface):
    name = "broken"

    def open_thread(self, channel: str, text: str) -> str:
        raise ConnectionError("chat platform down")


@pytest.fixture
def served(tmp_path, weights):
    clock = HandClock(datetime(2026, 12, 4, 17, 0, 0, tzinfo=UTC))
    store = open_store(tmp_path / "m.db", clock=clock)
    defence = Defence(scenario=scenario_from_dict(SCENARIO), store=store, agents=weights, tick_on_act=False,
                      restore=False, planner=StandIn())
    conversation = Conversation(defence=defence, surfaces={"console": ConsoleSurface(Console(file=io.StringIO()))},
                                channels={"console": "term"})
    app = build_http_app(conversation, alert_token=TOKEN, max_bytes=64_000)
    server = start_http(app)
    yield conversation, server, clock, app
    server.stop()
    defence.close_connections()
    store.close()


def scrape(server) -> dict:
    with urllib.request.urlopen(server.url + "/metrics", timeout=10) as response:
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = response.read().decode("utf-8")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def send_alert(server, host: str) -> None:
    body = (f'{{"host": "{host}", "kind": "malware", "severity": "high", "time": "2026-12-04T17:00:00Z"}}').encode()
    request = urllib.request.Request(server.url + "/alerts", data=body, method="POST",
                                     headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200


def test_metrics_match_memory_and_the_twin_after_an_incident_with_executed_actions(served):
    conversation, server, clock, app = served
    defence = conversation.defence
    before = scrape(server)
    assert value(before, "cyberops_incidents", status="open") == 0
    send_alert(server, defence.sim.network.names[3])
    incident = defence.short.incidents(status="open")[0]["id"]
    pending = defence.status(incident).pending
    clock.now += timedelta(seconds=42)  # the operator takes 42 s to approve
    conversation.click(Click("console", "alice", "term", incident, pending["interrupt_id"], "approve"))
    after = scrape(server)

    assert value(after, "cyberops_incidents", status="open") == len(defence.short.incidents(status="open")) == 1
    assert value(after, "cyberops_incidents", status="closed") == 0
    actions = defence.short.actions(incident)
    executed = [a for a in actions if a.status == "executed"]
    assert executed and len(executed) == len(pending["actions"])
    for kind, status in {(a.kind, a.status) for a in actions}:
        assert value(after, "cyberops_actions", kind=kind, status=status) == \
            sum(a.kind == kind and a.status == status for a in actions)
    for kind in {a.kind for a in executed}:
        assert value(after, "cyberops_action_executions_total", kind=kind, ok="true") == \
            sum(a.kind == kind for a in executed)

    latency = "cyberops_confirmation_latency_seconds"
    assert value(after, latency + "_count", decision="approved") == 1
    assert value(after, latency + "_sum", decision="approved") == 42
    assert value(after, latency + "_bucket", decision="approved", le="30.0") == 0
    assert value(after, latency + "_bucket", decision="approved", le="60.0") == 1

    m = defence.sim.metrics()
    assert value(after, "cyberops_twin_availability") == pytest.approx(float(m.availability[0]))
    assert value(after, "cyberops_twin_healthy_ratio") == pytest.approx(float(m.healthy_ratio[0]))
    assert value(after, "cyberops_twin_seen_compromised_hosts") == int(m.visible[0])

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("cyberops_alerts_total", format="generic", outcome="compromised") == 1
    assert delta("cyberops_alert_requests_total", format="generic", status="200") == 1
    assert delta("cyberops_plans_total", planner="embedded", fallback="true") == 1  # the LLM's stand-in planned

    # read from memory: a fresh registry (a restarted process) tells the same latency
    again = {(s.name, tuple(sorted(s.labels.items()))): s.value
             for family in text_string_to_metric_families(metrics.exposition(metrics.build_registry(defence)).decode())
             for s in family.samples}
    assert value(again, latency + "_sum", decision="approved") == 42


def test_rejected_alerts_and_chat_platform_errors_are_counted(served):
    conversation, server, _, _ = served
    before = scrape(server)
    request = urllib.request.Request(server.url + "/alerts", data=b"{}", method="POST",
                                     headers={"Authorization": "Bearer nope"})
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(request, timeout=10)
    conversation.surfaces["broken"] = BrokenSurface(Console(file=io.StringIO()))
    conversation.channels["broken"] = "C1"
    send_alert_direct(conversation)  # the broken surface's failure is counted; its posts wait for a retry
    after = scrape(server)
    assert value(after, "cyberops_alerts_rejected_total", format="generic", reason="unauthorized") - \
        value(before, "cyberops_alerts_rejected_total", format="generic", reason="unauthorized") == 1
    assert value(after, "cyberops_surface_errors_total", surface="broken") - \
        value(before, "cyberops_surface_errors_total", surface="broken") == 1


def send_alert_direct(conversation) -> None:
    conversation.alert([conversation.defence.sim.network.names[2]], kind="malware", severity="high", source="test")
