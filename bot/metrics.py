"""``GET /metrics``: what the bot has done and how the twin stands, in Prometheus' text format.

Two kinds of figures.  What memory knows (incidents, actions, confirmation latency) and how the
twin stands are read at scrape time by :class:`MemoryCollector`, so they survive a restart and
never disagree with ``cyberops audit``.  Events only this process sees (alerts in, plans made by
the LLM planner or its fallback, chat platform errors) are counters kept here: the core and the
adapters call :func:`count_surface_error`, :func:`count_alert`, ...; they start at 0 with the
process, as Prometheus counters do.  Each app gets its own :class:`CollectorRegistry`
(:func:`build_registry`), never the library's global one.
"""

from __future__ import annotations

import json
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from graph.runtime import Defence

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200)  # seconds; confirmations expire after 30 min by default
DECISION_EVENTS = ("approved", "rejected", "expired")

# ---------------------------------------------------------------- process counters (registered per app)
SURFACE_ERRORS = Counter("cyberops_surface_errors", "Calls to a chat platform (Slack, Discord, ...) that raised",
                         ["surface"], registry=None)
PLANS = Counter("cyberops_plans", "Plans made, by planner and whether the LLM planner failed and the embedded "
                "planner stood in", ["planner", "fallback"], registry=None)
ALERT_REQUESTS = Counter("cyberops_alert_requests", "Requests to the alert endpoints, by format and HTTP status",
                         ["format", "status"], registry=None)
ALERTS = Counter("cyberops_alerts", "Alerts in accepted requests, by format and outcome (compromised, suspicious, "
                 "duplicate, resolved)", ["format", "outcome"], registry=None)
ALERTS_REJECTED = Counter("cyberops_alerts_rejected", "Alert requests refused, by format and reason (unauthorized, "
                          "too_large, malformed, unknown_host, disabled, error)", ["format", "reason"], registry=None)
COUNTERS = (SURFACE_ERRORS, PLANS, ALERT_REQUESTS, ALERTS, ALERTS_REJECTED)

_watched: weakref.WeakSet = weakref.WeakSet()
_watch_lock = threading.Lock()


def count_surface_error(surface: str) -> None:
    SURFACE_ERRORS.labels(surface).inc()


@contextmanager
def surface_calls(surface: str) -> Iterator[None]:
    """Count an exception raised by a chat platform call (and let it go on up)."""
    try:
        yield
    except Exception:
        count_surface_error(surface)
        raise


def count_alert_request(fmt: str, status: int) -> None:
    ALERT_REQUESTS.labels(fmt, str(status)).inc()


def count_alert(fmt: str, outcome: str) -> None:
    ALERTS.labels(fmt, outcome).inc()


def count_alert_rejected(fmt: str, reason: str) -> None:
    ALERTS_REJECTED.labels(fmt, reason).inc()


def watch_plans(defence: Defence) -> None:
    """Count the plans ``defence`` makes (chained onto its ``on_update`` hook; once per Defence)."""
    with _watch_lock:
        if defence in _watched:
            return
        _watched.add(defence)
    previous = defence.on_update

    def on_update(incident: str, update: dict[str, Any]) -> None:
        node = update.get("plan") if isinstance(update, dict) else None
        plan = node.get("plan") if isinstance(node, dict) else None
        if isinstance(plan, dict):
            PLANS.labels(str(plan.get("planner", "?")), "true" if plan.get("fallback") else "false").inc()
        if previous is not None:
            previous(incident, update)

    defence.on_update = on_update


# ---------------------------------------------------------------- figures read at scrape time
class MemoryCollector(Collector):
    """Incidents, actions and confirmation latency from memory; availability and health from the twin.

    The audit log is append-only, so it is read incrementally: each scrape reads only the rows
    added since the last one (a restart reads it all once, and gets the same figures).
    """

    def __init__(self, defence: Defence) -> None:
        self.defence = defence
        self._lock = threading.Lock()
        self._last_id = 0
        self._asked: dict[str, datetime] = {}  # confirmation (incident/cycle) -> when its first action was proposed
        self._decided: set[str] = set()
        self._latency: dict[str, list[float]] = {}  # decision -> latencies in seconds
        self._executions: dict[tuple[str, str], int] = {}  # (kind, ok) -> executed audit entries

    def collect(self) -> Iterator[Any]:
        db = self.defence.store.db
        incidents = GaugeMetricFamily("cyberops_incidents", "Incidents in memory, by status", labels=["status"])
        counts = {"open": 0, "closed": 0} | dict(db.execute("SELECT status, count(*) FROM incidents GROUP BY status"))
        for status, n in sorted(counts.items()):
            incidents.add_metric([status], n)
        yield incidents

        actions = GaugeMetricFamily("cyberops_actions", "Planned actions in memory, by kind and current status "
                                    "(pending, approved, rejected, expired, refused, executed)", labels=["kind", "status"])
        for kind, status, n in db.execute("SELECT kind, status, count(*) FROM actions GROUP BY kind, status ORDER BY 1, 2"):
            actions.add_metric([kind, status], n)
        yield actions

        with self._lock:
            self._read_audit()
            executions = CounterMetricFamily("cyberops_action_executions", "Executed actions by kind and whether "
                                             "the executor succeeded (from the audit log)", labels=["kind", "ok"])
            for labels, n in sorted(self._executions.items()):
                executions.add_metric(list(labels), n)
            latency = HistogramMetricFamily("cyberops_confirmation_latency_seconds", "Time from a plan's proposal "
                                            "to the operator's decision (or its expiry), per confirmation",
                                            labels=["decision"])
            for decision in DECISION_EVENTS:
                values = self._latency.get(decision, [])
                buckets = [(str(float(b)), sum(v <= b for v in values)) for b in LATENCY_BUCKETS]
                latency.add_metric([decision], buckets + [("+Inf", len(values))], sum_value=float(sum(values)))
        yield executions
        yield latency

        # The twin is read without its lock: a scrape must not wait behind a plan; a figure taken
        # mid-step is at most one step stale.
        sim = self.defence.sim
        m = sim.metrics()
        for name, doc, value in (
            ("cyberops_twin_availability", "Mean over subnets of global efficiency relative to the base graph",
             m.availability[0]),
            ("cyberops_twin_healthy_ratio", "1 - (compromised or isolated hosts) / hosts", m.healthy_ratio[0]),
            ("cyberops_twin_seen_compromised_hosts", "Hosts the defender sees compromised", m.visible[0]),
            ("cyberops_twin_isolated_hosts", "Isolated hosts", m.isolated[0]),
            ("cyberops_twin_hosts", "Hosts in the twin", sim.network.n_nodes),
            ("cyberops_twin_step", "The live twin's step", sim.t[0]),
        ):
            yield GaugeMetricFamily(name, doc, value=float(value))

    def _read_audit(self) -> None:
        rows = self.defence.store.db.execute(
            "SELECT l.id, l.event, l.at, l.who, l.action_id, l.result, a.kind FROM audit_log l "
            "LEFT JOIN actions a ON a.key = l.action_id WHERE l.id > ? ORDER BY l.id", [self._last_id]).fetchall()
        for row_id, event, at, who, action_id, result, kind in rows:
            self._last_id = row_id
            ask = action_id.rsplit("/", 1)[0]  # INC-0001/c0/a1 -> the confirmation INC-0001/c0
            if event == "proposed":
                self._asked.setdefault(ask, _time(at))
            elif event in DECISION_EVENTS and not who.startswith("policy:") and ask in self._asked \
                    and ask not in self._decided:
                self._decided.add(ask)
                seconds = max(0.0, (_time(at) - self._asked.pop(ask)).total_seconds())
                self._latency.setdefault(event, []).append(seconds)
            elif event == "executed":
                ok = bool((json.loads(result) if result else {}).get("ok", True))
                key = (kind or "unknown", "true" if ok else "false")
                self._executions[key] = self._executions.get(key, 0) + 1


def _time(at: str) -> datetime:
    return datetime.fromisoformat(at.replace("Z", "+00:00"))


def build_registry(defence: Defence) -> CollectorRegistry:
    """A registry of its own: the process counters and ``defence``'s memory and twin (and its plans watched)."""
    registry = CollectorRegistry()
    for counter in COUNTERS:
        registry.register(counter)
    registry.register(MemoryCollector(defence))
    watch_plans(defence)
    return registry


def exposition(registry: CollectorRegistry) -> bytes:
    """The registry in Prometheus' text format (what ``GET /metrics`` answers)."""
    return generate_latest(registry)
