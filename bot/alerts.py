"""Alerts from monitoring systems: the bearer token, the two body formats, host mapping and dedup.

``POST /alerts/alertmanager`` takes Prometheus Alertmanager's webhook (version 4); ``POST /alerts``
takes our generic format, one alert or a list::

    {"host": "web-01", "kind": "ransomware", "severity": "critical",
     "time": "2026-12-04T17:00:00Z", "description": "EDR: mass file encryption", "source": "edr"}

Each alert names a twin host by name, IP, instance id or pod (graph node attributes ``ip``,
``instance_id``, ``pod`` where the inventory gave them).  critical/high/medium alerts (and their
usual aliases) mark the host seen compromised; low/info alerts only note it as suspicious in the
open incident.  A request is taken whole or refused whole: every refusal answers a clear 4xx and
leaves a ``refused`` entry in the audit log (a flood from one client is counted, not logged row by
row: :class:`RefusalLog`).  A repeat (same Alertmanager fingerprint and start,
or same generic host, kind and time) is answered ``{"duplicate": true}`` and not acted on, also
after a restart (the key is remembered in memory).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bot import metrics

if TYPE_CHECKING:
    from bot.conversation import Conversation
    from twin.network import Network

log = logging.getLogger(__name__)

#: severity words we accept -> the one the twin is told; critical, high and medium mark a compromise
SEVERITIES = {
    "critical": "critical", "page": "critical", "emergency": "critical", "fatal": "critical",
    "high": "high", "error": "high", "major": "high",
    "medium": "medium", "warning": "medium", "warn": "medium",
    "low": "low", "minor": "low", "notice": "low",
    "info": "info", "informational": "info", "none": "info",
}
SUSPICIOUS = ("low", "info")  # these only note the host in the open incident
ALERTMANAGER_SEVERITY = "warning"  # an Alertmanager alert with no severity label
HOST_LABELS = ("host", "hostname", "instance", "ip", "pod", "instance_id")  # tried in this order
HOST_ATTRIBUTES = ("ip", "instance_id", "pod")  # twin node attributes an alert may name a host by
GENERIC_KEYS = {"host", "kind", "severity", "time", "description", "source"}
GENERIC_REQUIRED = ("host", "kind", "severity", "time")
MAX_ALERTS = 1000  # per request
MAX_TEXT = 500


class AlertRejected(Exception):
    """Why a request is refused: the HTTP status, a short reason (metrics label) and the message."""

    def __init__(self, status: int, reason: str, message: str, *, targets: list[str] | None = None) -> None:
        super().__init__(message)
        self.status, self.reason, self.message, self.targets = status, reason, message, targets or []


@dataclass(frozen=True)
class Alert:
    refs: tuple[tuple[str, str], ...]  # (label, value) that may name the host, in the order tried
    kind: str
    severity: str  # one of SEVERITIES' values
    status: str  # firing | resolved
    key: str  # dedup key
    description: str
    source: str


# ==================================================================== auth
def token_problem(authorization: str | None, token: str) -> str | None:
    """None when ``Authorization: Bearer <token>`` matches (constant-time); else what is wrong."""
    if not authorization:
        return "missing Authorization: Bearer token"
    scheme, _, given = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        return "the Authorization header is not 'Bearer <token>'"
    if not hmac.compare_digest(given.strip().encode("utf-8"), token.encode("utf-8")):
        return "bad bearer token"
    return None


# ==================================================================== parsing
def parse_json(body: bytes) -> Any:
    try:
        return json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise AlertRejected(400, "malformed", "the body is not UTF-8") from None
    except json.JSONDecodeError as exc:
        raise AlertRejected(400, "malformed", f"the body is not JSON: {exc}") from None
    except RecursionError:
        raise AlertRejected(400, "malformed", "the body is nested too deeply") from None


def severity_of(value: Any, where: str) -> str:
    word = value.strip().lower() if isinstance(value, str) else None
    if word not in SEVERITIES:
        raise AlertRejected(400, "malformed", f"{where}: unknown severity {value!r} "
                                              f"(one of: {', '.join(SEVERITIES)})")
    return SEVERITIES[word]


def _text(value: Any, where: str, *, required: bool = True) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise AlertRejected(400, "malformed", f"{where}: expected a non-empty string, got {json.dumps(value)[:60]}")
    return value.strip()


def _items(data: Any, where: str) -> list:
    if not data:
        raise AlertRejected(400, "malformed", f"{where}: no alerts")
    if len(data) > MAX_ALERTS:
        raise AlertRejected(400, "malformed", f"{where}: {len(data)} alerts; at most {MAX_ALERTS} per request")
    return data


def _digest(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode("utf-8")).hexdigest()[:32]


def generic_alerts(data: Any) -> list[Alert]:
    """Our format: one object or a list of them (keys: host, kind, severity, time, description, source)."""
    items = _items(data if isinstance(data, list) else [data], "body")
    alerts = []
    for i, raw in enumerate(items):
        where = f"alert[{i}]" if isinstance(data, list) else "alert"
        if not isinstance(raw, dict):
            raise AlertRejected(400, "malformed", f"{where}: expected an object with {', '.join(GENERIC_REQUIRED)}")
        unknown = sorted(set(raw) - GENERIC_KEYS)
        if unknown:
            raise AlertRejected(400, "malformed", f"{where}: unknown key(s) {', '.join(unknown)} "
                                                  f"(expected: {', '.join(sorted(GENERIC_KEYS))})")
        missing = [k for k in GENERIC_REQUIRED if k not in raw]
        if missing:
            raise AlertRejected(400, "malformed", f"{where}: missing {', '.join(missing)}")
        host, kind = _text(raw["host"], f"{where}.host"), _text(raw["kind"], f"{where}.kind")
        time = _text(raw["time"], f"{where}.time")
        try:
            datetime.fromisoformat(time.replace("Z", "+00:00"))
        except ValueError:
            raise AlertRejected(400, "malformed", f"{where}.time: {time!r} is not an ISO 8601 time") from None
        alerts.append(Alert(refs=(("host", host),), kind=kind[:100], severity=severity_of(raw["severity"], f"{where}.severity"),
                            status="firing", key=f"generic:{_digest(host, kind, time)}",
                            description=_text(raw.get("description"), f"{where}.description", required=False)[:MAX_TEXT],
                            source=_text(raw.get("source"), f"{where}.source", required=False)[:100] or "generic"))
    return alerts


def alertmanager_alerts(data: Any) -> list[Alert]:
    """Alertmanager's webhook, version 4: ``alerts[]`` with labels, annotations, status, startsAt, fingerprint."""
    if not isinstance(data, dict) or not isinstance(data.get("alerts"), list):
        raise AlertRejected(400, "malformed", "expected Alertmanager's webhook body: an object with an 'alerts' list")
    if data.get("version", "4") != "4":
        raise AlertRejected(400, "malformed", f"unsupported Alertmanager webhook version {data.get('version')!r} (4 is)")
    alerts = []
    for i, raw in enumerate(_items(data["alerts"], "alerts")):
        where = f"alerts[{i}]"
        if not isinstance(raw, dict):
            raise AlertRejected(400, "malformed", f"{where}: expected an object")
        labels, annotations = raw.get("labels"), raw.get("annotations") or {}
        for name, value in (("labels", labels), ("annotations", annotations)):
            if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
                raise AlertRejected(400, "malformed", f"{where}.{name}: expected an object of strings")
        status = raw.get("status")
        if status not in ("firing", "resolved"):
            raise AlertRejected(400, "malformed", f"{where}.status: expected 'firing' or 'resolved', got {status!r}")
        starts = _text(raw.get("startsAt"), f"{where}.startsAt")
        refs = tuple((label, labels[label]) for label in HOST_LABELS if labels.get(label, "").strip())
        if "pod" in labels and labels.get("namespace"):
            refs += (("pod", f"{labels['namespace']}/{labels['pod']}"),)
        if not refs:
            raise AlertRejected(400, "malformed", f"{where}.labels: no label names a host "
                                                  f"(one of: {', '.join(HOST_LABELS)})")
        fingerprint = raw.get("fingerprint")
        fingerprint = fingerprint if isinstance(fingerprint, str) and fingerprint else _digest(sorted(labels.items()))
        alerts.append(Alert(refs=refs, kind=labels.get("alertname", "alert")[:100],
                            severity=severity_of(labels.get("severity", ALERTMANAGER_SEVERITY), f"{where}.labels.severity"),
                            status=status, key=f"alertmanager:{fingerprint}:{starts}",
                            description=(annotations.get("description") or annotations.get("summary") or "")[:MAX_TEXT],
                            source="alertmanager"))
    return alerts


# ==================================================================== host mapping
class HostIndex:
    """Twin host names by name and by the ``ip``/``instance_id``/``pod`` node attributes present."""

    def __init__(self, network: Network) -> None:
        self.network = network
        self.names = set(network.names)
        self.by_value: dict[str, set[str]] = {}
        for name in network.names:
            data = network.graph.nodes[name] if name in network.graph else {}
            for attribute in HOST_ATTRIBUTES:
                values = data.get(attribute)
                for value in values if isinstance(values, (list, tuple)) else [values]:
                    if isinstance(value, str) and value:
                        self.by_value.setdefault(value, set()).add(name)

    def find(self, value: str) -> list[str]:
        """The hosts ``value`` names (``10.0.0.5:9100`` and ``[fd00::5]:9100`` lose their port)."""
        for candidate in dict.fromkeys([value.strip(), _without_port(value.strip())]):
            if candidate in self.names:
                return [candidate]
            if candidate in self.by_value:
                return sorted(self.by_value[candidate])
        return []

    def host_of(self, alert: Alert) -> str | None:
        """The one host the alert names; None when none does; AlertRejected when one label names several."""
        for label, value in alert.refs:
            found = self.find(value)
            if len(found) > 1:
                raise AlertRejected(422, "unknown_host", f"{label}={value!r} names several hosts "
                                                         f"({', '.join(found[:5])}); name the host", targets=[value])
            if found:
                return found[0]
        return None


def _without_port(value: str) -> str:
    if value.startswith("[") and "]" in value:
        return value[1:value.index("]")]
    host, sep, port = value.rpartition(":")
    return host if sep and port.isdigit() and ":" not in host else value


# ==================================================================== intake
AUDIT_BURST = 5  # refusals audited one by one per client and reason in a window; past that, counted
AUDIT_WINDOW_S = 60.0


class RefusalLog:
    """Refused requests in the audit log, without letting a flood grow it without end.

    Per ``who`` (an alert source, or the client address before the body is trusted) and reason,
    the first :data:`AUDIT_BURST` refusals of a :data:`AUDIT_WINDOW_S` window are audited one by
    one; the rest are only counted (metrics still count each), and the next audited refusal of
    that client and reason says how many were left out.
    """

    def __init__(self, audit, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.audit, self._clock = audit, clock
        self._windows: dict[tuple[str, str], list] = {}  # (who, reason) -> [window start, audited, left out]
        self._lock = threading.Lock()

    def record(self, *, who: str, reason: str, targets: list[str], why: str) -> bool:
        """Audit one refusal, or count it when its client is flooding; returns whether it was audited."""
        now = self._clock()
        with self._lock:
            window = self._windows.get((who, reason))
            if window is None or now - window[0] >= AUDIT_WINDOW_S:
                window = self._windows[(who, reason)] = [now, 0, window[2] if window else 0]
                if len(self._windows) > 1000:  # forget clients quiet for a window
                    self._windows = {k: w for k, w in self._windows.items() if now - w[0] < AUDIT_WINDOW_S}
            if window[1] >= AUDIT_BURST:
                window[2] += 1
                return False
            window[1] += 1
            left_out, window[2] = window[2], 0
        if left_out:
            why = f"{why}; {left_out} more like it from {who} were refused but not audited (a flood)"
        self.audit.append("refused", who=who, incident="-", action_id=f"alert:{uuid.uuid4().hex[:16]}",
                          targets=targets, why=why[:1000])
        return True


class AlertIntake:
    """Turns an authenticated body into ``Conversation.alert`` calls; synchronous (run it off the event loop)."""

    def __init__(self, conversation: Conversation, *, token: str | None, max_bytes: int) -> None:
        self.conversation = conversation
        self.token = token or None
        self.max_bytes = max_bytes
        self._index: HostIndex | None = None
        self.refusals = RefusalLog(conversation.defence.audit)

    @property
    def enabled(self) -> bool:
        return self.token is not None

    def index(self) -> HostIndex:
        network = self.conversation.defence.sim.network
        if self._index is None or self._index.network is not network:  # a re-imported twin gets a new index
            self._index = HostIndex(network)
        return self._index

    def refuse(self, fmt: str, problem: AlertRejected, *, who: str, remote: str) -> tuple[int, dict]:
        """Record a refusal in the audit log and the metrics; the HTTP answer."""
        self.refusals.record(who=who, reason=problem.reason, targets=problem.targets[:20],
                             why=f"{fmt} alert refused: {problem.message} (from {remote})")
        metrics.count_alert_rejected(fmt, problem.reason)
        return problem.status, {"ok": False, "reason": problem.reason, "error": problem.message}

    def receive(self, fmt: str, body: bytes, *, remote: str) -> tuple[int, dict]:
        """Parse, map, dedup and act on an authenticated body; returns the HTTP status and JSON answer."""
        source = "alertmanager" if fmt == "alertmanager" else None
        try:
            data = parse_json(body)
            alerts = alertmanager_alerts(data) if fmt == "alertmanager" else generic_alerts(data)
            source = alerts[0].source if source is None else source
            hosts = self._hosts(alerts)
        except AlertRejected as problem:
            return self.refuse(fmt, problem, who=f"alert:{source or remote}", remote=remote)
        answers = []
        for alert, host in zip(alerts, hosts):
            try:
                answers.append(self._one(fmt, alert, host))
            except Exception as exc:  # a bug or a chat platform down: say so; the key stays taken (see README)
                log.exception("alert %s failed", alert.key)
                answers.append({"key": alert.key, "host": host, "status": "error", "incident": None,
                                "error": f"{type(exc).__name__}: {exc}"[:300]})
            metrics.count_alert(fmt, answers[-1]["status"])
        incidents = sorted({a["incident"] for a in answers if a.get("incident")})
        duplicates = sum(a["status"] == "duplicate" for a in answers)
        failed = any(a["status"] == "error" for a in answers)
        if failed:
            metrics.count_alert_rejected(fmt, "error")
        return 500 if failed else 200, {"ok": not failed, "duplicate": duplicates == len(answers),
                     "accepted": sum(a["status"] in ("compromised", "suspicious") for a in answers),
                     "duplicates": duplicates, "resolved": sum(a["status"] == "resolved" for a in answers),
                     "incidents": incidents, "alerts": answers}

    def _hosts(self, alerts: list[Alert]) -> list[str | None]:
        """Each firing alert's host (None for resolved ones); 422 naming every alert that names no known host."""
        index, hosts, unknown = self.index(), [], []
        for alert in alerts:
            host = index.host_of(alert) if alert.status == "firing" else None
            if alert.status == "firing" and host is None:
                unknown.append(", ".join(f"{label}={value}" for label, value in alert.refs))
            hosts.append(host)
        if unknown:
            raise AlertRejected(422, "unknown_host", f"no twin host matches: {'; '.join(unknown[:10])}",
                                targets=[value for a in alerts for _, value in a.refs][:20])
        return hosts

    def _one(self, fmt: str, alert: Alert, host: str | None) -> dict[str, Any]:
        if alert.status == "resolved":
            return {"key": alert.key, "status": "resolved", "incident": None}
        if not self.conversation.chat.first_delivery(f"alert:{alert.key}"):
            return {"key": alert.key, "host": host, "status": "duplicate", "incident": None}
        incident = self.conversation.alert([host], kind=alert.kind, severity=alert.severity, source=alert.source,
                                           description=alert.description)
        status = "suspicious" if alert.severity in SUSPICIOUS else "compromised"
        if incident is not None:
            self._announce(incident, alert, host, status)
        return {"key": alert.key, "host": host, "status": status, "incident": incident}

    def _announce(self, incident: str, alert: Alert, host: str, status: str) -> None:
        """A line in the incident's threads saying what came in (once per alert and surface)."""
        conversation = self.conversation
        mark = "marked seen compromised" if status == "compromised" else "noted as suspicious"
        text = f"🔔 {alert.source} alert *{alert.kind}* ({alert.severity}) on `{host}`: {mark}."
        if alert.description:
            text += f" {alert.description}"
        for name, surface in conversation.surfaces.items():
            found = conversation.chat.thread_of(incident, name)
            if found is None or not conversation.chat.first_delivery(f"posted:{incident}:{name}:alert:{alert.key}"):
                continue
            try:
                with metrics.surface_calls(name):
                    surface.post(found[0], found[1], text)
            except Exception:  # the alert is in the twin and the incident; a lost notice must not undo that
                log.exception("posting alert %s to %s failed", alert.key, name)
