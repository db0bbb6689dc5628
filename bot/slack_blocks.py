"""Block Kit for Slack confirmations: the plan with approve/reject buttons, and the same message once decided.

Each button's ``value`` carries the incident and interrupt ids as JSON, so a click names exactly
the confirmation it answers; a click on an old message is then stale and does nothing.
"""

from __future__ import annotations

import json

from bot.surface import Ask

APPROVE = "cyberops_approve"
REJECT = "cyberops_reject"
SECTION_LIMIT = 3000  # Slack's limit for a section's text


def ask_blocks(ask: Ask) -> list[dict]:
    """The plan as mrkdwn, then Approve (primary) and Reject (danger) carrying the ids."""
    value = json.dumps({"incident": ask.incident, "interrupt": ask.interrupt}, separators=(",", ":"))
    blocks = [_section(ask.text)]
    footer = f"`{ask.incident}` · confirmation `{ask.interrupt}`"
    if ask.expires_at:
        footer += f" · expires {ask.expires_at}"
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": footer}]})
    blocks.append({
        "type": "actions",
        "block_id": f"cyberops_ask:{ask.interrupt}"[:255],
        "elements": [_button("Approve", APPROVE, "primary", value), _button("Reject", REJECT, "danger", value)],
    })
    return blocks


def decided_blocks(text: str, *, plan: str | None = None) -> list[dict]:
    """A decided confirmation: the plan (when known) and who decided; no buttons left to press."""
    blocks = [_section(plan)] if plan else []
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": text[:SECTION_LIMIT]}]})
    return blocks


def button_target(value: str | None) -> tuple[str, str] | None:
    """``(incident, interrupt)`` from a button's value, or None when it isn't one of ours."""
    try:
        data = json.loads(value or "")
        incident, interrupt = data["incident"], data["interrupt"]
    except (ValueError, TypeError, KeyError):
        return None
    if not (isinstance(incident, str) and isinstance(interrupt, str) and incident and interrupt):
        return None
    return incident, interrupt


def _section(text: str) -> dict:
    if len(text) > SECTION_LIMIT:
        text = text[:SECTION_LIMIT - 1] + "…"
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _button(label: str, action_id: str, style: str, value: str) -> dict:
    return {"type": "button", "text": {"type": "plain_text", "text": label}, "action_id": action_id,
            "style": style, "value": value}
