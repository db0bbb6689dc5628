"""The posture report: an IPDRR scorecard with trends, open incidents, actions and who approved
them, top risks and concrete recommendations, built from the twin and memory.

Scores are 0–100, higher is better, each from one figure a defender can check:

* **Identify** — high-value hosts more than ``EXPOSURE_HOPS`` hops (over links that are up) from every
  entry point, i.e. not on the short list of what an outside attacker reaches first;
* **Protect** — hosts below high vulnerability (0.8);
* **Detect** — how far the nearest *seen* compromise is from a high-value host (100 when none is seen,
  20 per hop otherwise);
* **Respond** — confirmations in the period that got a decision before they expired;
* **Recover** — availability now.

The trend arrow compares each score with the previous report for the same place.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np

from graph.perception import HIGH_VULNERABILITY

if TYPE_CHECKING:
    from graph.runtime import Defence

TREND_STEP = 2  # points of change before the arrow moves
EXPOSURE_HOPS = 4
DEFAULT_PERIOD = timedelta(hours=24)


@dataclass(frozen=True)
class Score:
    name: str
    value: int
    figure: str
    trend: str  # ↑ ↓ → or "" (no previous report)


@dataclass
class PostureReport:
    at: str
    since: str
    summary: str
    scorecard: list[Score]
    open_incidents: list[dict[str, Any]]
    actions: list[dict[str, Any]]
    paths: list[list[str]]
    vulnerable: list[dict[str, Any]]
    recommendations: list[str]
    metrics: list[dict[str, Any]] = field(default_factory=list)
    path_indices: list[list[int]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def scores(self) -> dict[str, int]:
        return {s.name: s.value for s in self.scorecard}


def build_report(defence: Defence, *, scope: str, previous: dict[str, Any] | None = None,
                 since: str | None = None) -> PostureReport:
    """The report for ``scope`` (a channel, or "cli"); ``previous`` is the last report's ``{"at", "scorecard"}``."""
    from memory.reports import ReportMemory
    from twin.render import attack_paths

    now = defence.store.now()
    if since is None:
        since = previous["at"] if previous else _iso(defence.store.clock() - DEFAULT_PERIOD)
    sim, net = defence.sim, defence.sim.network
    perception, _ = defence.perceive()
    seen, isolated, vuln = sim.visible[0], sim.isolated[0], sim.vulnerability[0]
    entries = [e for e in defence.audit.entries() if e["at"] >= since]
    decisions = {e["action_id"]: e for e in entries if e["event"] in ("approved", "rejected", "expired")}
    asked = {e["action_id"] for e in entries if e["event"] == "proposed"}
    expired = sum(1 for e in decisions.values() if e["event"] == "expired")
    exposed = sum(s.exposed_entry for s in perception.subnets)
    n_hvn = max(1, int(net.high_value.sum()))
    near_hvn = _hvn_near_entry(net, isolated)
    critical = perception.critical()
    values = {
        "Identify": (round(100 * (1 - near_hvn / n_hvn)), f"{near_hvn} of {int(net.high_value.sum())} high-value "
                     f"hosts within {EXPOSURE_HOPS} hops of an entry point; {exposed} of {int(net.entry.sum())} entry "
                     "points have an open path to one"),
        "Protect": (round(100 * float((vuln < HIGH_VULNERABILITY).mean())),
                    f"{int((vuln >= HIGH_VULNERABILITY).sum())} hosts highly vulnerable (>= {HIGH_VULNERABILITY}); "
                    f"mean vulnerability {float(vuln.mean()):.2f}"),
        "Detect": (0, "a high-value host has been compromised") if perception.hvn_lost else
                  (100 if critical is None else min(100, 20 * critical.critical_distance),
                   "no compromise seen" if critical is None else
                   f"{perception.seen} compromise(s) seen, nearest {critical.critical_distance} hop(s) from a "
                   f"high-value host in {critical.subnet}"),
        "Respond": (100 if not asked else round(100 * (1 - expired / len(asked))),
                    f"{len(asked)} action(s) proposed, {len(decisions) - expired} decided, {expired} expired"),
        "Recover": (round(100 * perception.availability), f"availability {perception.availability:.0%}, "
                    f"{perception.isolated} host(s) isolated"),
    }
    before = (previous or {}).get("scorecard", {})
    scorecard = [Score(name, value, figure, _trend(value, before.get(name))) for name, (value, figure) in values.items()]
    path_indices = attack_paths(net, seen=seen, isolated=isolated, limit=3)
    vulnerable = _vulnerable_exposed(defence)
    executed = [e for e in entries if e["event"] == "executed"]
    approvals = {e["action_id"]: e["who"] for e in entries if e["event"] == "approved"}
    actions = [{"at": e["at"], "incident": e["incident"], "action": e["action_id"],
                "kind": getattr(defence.short.action(e["action_id"]), "kind", "?"), "targets": e["targets"],
                "why": e["why"], "approved_by": approvals.get(e["action_id"], "—")} for e in executed]
    open_incidents = []
    for row in defence.short.incidents(status="open"):
        pending = defence.status(row["id"]).pending
        open_incidents.append({"id": row["id"], "title": row["title"], "opened_at": row["opened_at"],
                               "waiting_for": pending["interrupt_id"] if pending else None})
    report = PostureReport(
        at=now, since=since, summary=perception.summary, scorecard=scorecard, open_incidents=open_incidents,
        actions=actions, paths=[[net.names[i] for i in p] for p in path_indices], vulnerable=vulnerable,
        recommendations=[], metrics=_trend_rows(ReportMemory(defence.store), since), path_indices=path_indices,
    )
    report.recommendations = _recommendations(defence, report, expired)
    return report


def _trend_rows(memory, since: str, *, at_least: int = 100) -> list[dict[str, Any]]:
    """The period's metrics; the last ``at_least`` steps when the period holds fewer (a report right after another)."""
    rows = memory.metrics_since(since)
    return rows if len(rows) >= at_least else memory.metrics_since(None, limit=at_least)


def _hvn_near_entry(net, isolated: np.ndarray) -> int:
    """High-value hosts within EXPOSURE_HOPS of a linked entry host, over links that are up."""
    up = ~isolated
    depth = np.full(net.n_nodes, -1)
    frontier = np.flatnonzero(net.entry & up)
    depth[frontier] = 0
    indptr, indices = net.csr_indptr, net.csr_indices
    for d in range(1, EXPOSURE_HOPS + 1):
        nxt = [v for u in frontier for v in indices[indptr[u]:indptr[u + 1]] if up[v] and depth[v] < 0]
        frontier = np.unique(np.array(nxt, dtype=np.int64))
        depth[frontier] = d
    return int((net.high_value & up & (depth >= 0)).sum())


def _vulnerable_exposed(defence: Defence, limit: int = 5) -> list[dict[str, Any]]:
    """The most vulnerable linked hosts an attacker can reach next: entry hosts and neighbours of seen compromises."""
    sim, net = defence.sim, defence.sim.network
    seen, isolated, vuln = sim.visible[0], sim.isolated[0], sim.vulnerability[0]
    near = net.entry.copy()
    for u, v in net.edges:
        if seen[u] and not isolated[u]:
            near[v] = True
        if seen[v] and not isolated[v]:
            near[u] = True
    candidates = np.flatnonzero(near & ~isolated & ~seen)
    order = candidates[np.argsort(-vuln[candidates], kind="stable")][:limit]
    hops = net.hvn_hops
    return [{"host": net.names[i], "subnet": net.subnets[net.subnet_of[i]], "role": net.roles[i],
             "vulnerability": round(float(vuln[i]), 2), "entry": bool(net.entry[i]),
             "hops_to_high_value": int(hops[i]) if hops[i] < 10**6 else None} for i in order]


def _recommendations(defence: Defence, report: PostureReport, expired: int) -> list[str]:
    out = []
    for host in report.vulnerable[:3]:
        if host["vulnerability"] >= HIGH_VULNERABILITY:
            where = "an entry point" if host["entry"] else "next to a seen compromise"
            out.append(f"Patch `{host['host']}` ({host['role']}, {host['subnet']}): vulnerability "
                       f"{host['vulnerability']:.2f}, {where}.")
    for path in report.paths[:2]:
        if len(path) >= 2:
            cut = path[-2] if len(path) > 2 else path[-1]
            out.append(f"Cut the attack path {' → '.join(path)}: isolate `{cut}`, the last hop before the "
                       f"high-value host `{path[-1]}`.")
    if expired:
        out.append(f"{expired} confirmation(s) expired unanswered: add approvers, or let low-risk classes run "
                   f"(`autonomy auto patch`).")
    isolated = int(defence.sim.isolated[0].sum())
    if isolated and defence.sim.visible[0].sum() == 0:
        out.append(f"{isolated} host(s) are isolated and no compromise is seen: `recover` the clean ones.")
    if not out:
        out.append("No urgent action: keep patching the most exposed hosts as they come up.")
    return out


def markdown(report: PostureReport, *, images: dict[str, str] | None = None) -> str:
    """The report as Markdown; ``images`` maps "map"/"trend" to file names to link."""
    lines = [f"# Posture report — {report.at}", "", f"Period: since {report.since}. {report.summary}", "",
             "## IPDRR scorecard", "", "| | score | trend | figure |", "|---|---|---|---|"]
    lines += [f"| {s.name} | {s.value} | {s.trend or '–'} | {s.figure} |" for s in report.scorecard]
    for key, title in (("trend", "Availability and compromises"), ("map", "Map of the twin")):
        if images and key in images:
            lines += ["", f"## {title}", "", f"![{title}]({images[key]})"]
    lines += ["", "## Open incidents", ""]
    lines += [f"- {i['id']}: {i['title']}{' — waiting for ' + i['waiting_for'] if i['waiting_for'] else ''}"
              for i in report.open_incidents] or ["None."]
    lines += ["", "## Actions taken in the period", ""]
    lines += [f"- {a['at']} `{a['action']}` {a['kind']} {', '.join(a['targets'])} — {a['why']} "
              f"(approved by {a['approved_by']})"
              for a in report.actions[-30:]] or ["None."]
    lines += ["", "## Top risks", ""]
    lines += [f"- Attack path: {' → '.join(p)}" for p in report.paths]
    lines += [f"- `{v['host']}` ({v['role']}, {v['subnet']}) vulnerability {v['vulnerability']:.2f}"
              for v in report.vulnerable] or ["None."]
    lines += ["", "## Recommendations", ""] + [f"- {r}" for r in report.recommendations]
    return "\n".join(lines) + "\n"


def _trend(value: int, before: int | None) -> str:
    if before is None:
        return ""
    return "↑" if value >= before + TREND_STEP else "↓" if value <= before - TREND_STEP else "→"


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
