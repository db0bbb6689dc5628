"""The bot's words: plain-text renderings of plans, results, status and help, shared by every surface.

Adapters may dress them up (Block Kit, embeds, rich), but the wording lives here once.
Text uses only light markdown (``*bold*``, `` `code` ``) that Slack, Discord and a terminal all read.
"""

from __future__ import annotations

from typing import Any

ICONS = {"isolate": "🔒", "patch": "🩹", "reset": "♻️", "recover": "🔓"}

HELP = """\
*CyberOps-Bots* — commands (`/cyberops …`; in an incident thread just write to me):
• `status` — the network and open incidents    • `incidents` — recent incidents
• `hosts [subnet]` — hosts and their state      • `explain` / `why?` — the reasons for the current plan
• `isolate|patch|reset|recover TARGETS` — ask for an action (hosts, subnets, roles; "but not …")
• `defend SUBNET` — send the agents to a subnet • `protect TARGETS` — never touch these hosts
• `autonomy confirm|auto|never [isolate|patch|reset|recover|all]` — what runs without asking
• `stop` / `resume` — pause or resume all automated actions
• `simulate` — what the next steps look like with and without the planned defence
• `tick [N]` — let the twin move N steps now · `report now|schedule WHEN|list|cancel ID` — posture reports
In a thread: `approve`, `reject`, `drop HOST …` (approve the rest), or ask ("why?", "status").
Every action that changes the network waits for an approver's *Approve* (or a plain "approve" in the thread)."""


def plan_text(pending: dict[str, Any]) -> str:
    """A confirmation request: the situation, then each action with its reason."""
    lines = [f"*Step {pending['cycle']}* — {pending['summary']}"]
    lines += [f"_{note}_" for note in pending.get("notes", []) if "failed" in note]
    lines.append(f"Plan ({pending['planner']} planner), waiting for approval until {pending['expires_at'][11:16]} UTC:")
    for a in pending["actions"]:
        lines.append(f"{ICONS.get(a['kind'], '•')} `{a['kind']}` {', '.join(a['targets'])} — {a['reason']}")
    return "\n".join(lines)


def decided_text(decision: str, who: str, at: str) -> str:
    mark = {"approve": "✅ Approved", "reject": "❌ Rejected", "edit": "✏️ Approved with edits",
            "expire": "⌛ Expired"}.get(decision, decision)
    by = "" if decision == "expire" else f" by {who}"
    return f"{mark}{by} at {at[11:16]} UTC."


def results_text(cycle: int, actions: list[dict[str, Any]], history: dict[str, Any] | None) -> str:
    """What a cycle did and what it changed."""
    ran = [a for a in actions if a["status"] == "executed" and a.get("ok", True)]
    failed = [a for a in actions if a["status"] == "executed" and not a.get("ok", True)]
    lines = [f"*Step {cycle} done.*"]
    if ran:
        lines.append("Executed: " + "; ".join(f"{ICONS.get(a['kind'], '')}{a['kind']} {', '.join(a['targets'])}"
                                              for a in ran))
    if failed:
        lines.append("⚠️ Failed (the twin shows them as not done): " + "; ".join(
            f"{a['kind']} {', '.join(a['targets'])} — {a.get('message', '')}" for a in failed))
    refused = [a for a in actions if a["status"] == "refused"]
    if refused:
        lines.append("Refused (protected): " + "; ".join(f"{a['kind']} {', '.join(a['targets'])}" for a in refused))
    if not ran and not refused and not failed:
        lines.append("No action ran.")
    if history:
        lines.append(f"Availability {history['availability_before']:.0%} → {history['availability_after']:.0%}; "
                     f"compromises seen {history['seen_before']} → {history['seen_after']}.")
    return "\n".join(lines)


def closed_text(incident: str, outcome: str) -> str:
    return f"*{incident} closed* — {outcome}. The record and a lesson are in long-term memory."


def status_text(summary: str, incidents: list[dict[str, Any]], paused: bool) -> str:
    lines = [f"*Network:* {summary}"]
    if paused:
        lines.append("⏸ Automated actions are *paused* (`resume` to restart them).")
    if incidents:
        lines.append("*Open incidents:* " + "; ".join(
            f"{i['id']} ({i['title']}{', waiting for approval' if i.get('pending') else ''})" for i in incidents))
    else:
        lines.append("No open incident.")
    return "\n".join(lines)


def hosts_text(rows: list[dict[str, Any]], *, limit: int = 40) -> str:
    shown = rows[:limit]
    lines = [f"{len(rows)} host(s){f', first {limit} shown' if len(rows) > limit else ''}:"]
    for r in shown:
        flags = [f for f, on in (("entry", r["entry"]), ("high-value", r["high_value"]), ("isolated", r["isolated"]),
                                 ("COMPROMISED (seen)", r["seen_compromised"])) if on]
        lines.append(f"`{r['host']}` {r['subnet']} {r['role']}{' — ' + ', '.join(flags) if flags else ''}")
    return "\n".join(lines)
