"""Block Kit for Slack: confirmations (the plan with approve/reject buttons, and the same message once
decided) and posture reports.

Each button's ``value`` carries the incident and interrupt ids as JSON, so a click names exactly
the confirmation it answers; a click on an old message is then stale and does nothing.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from bot.surface import Ask

if TYPE_CHECKING:
    from graph.posture import PostureReport

APPROVE = "cyberops_approve"
REJECT = "cyberops_reject"
SECTION_LIMIT = 3000  # Slack's limit for a section's (and a context element's) text
# Slack's other Block Kit limits that a report meets
MAX_BLOCKS = 50
HEADER_LIMIT = 150
FIELD_LIMIT = 2000
MAX_FIELDS = 10
PART_BLOCKS = 8  # sections per report part at most: 4 parts, plus 4 blocks of head, stay under MAX_BLOCKS


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


def report_blocks(report: PostureReport) -> list[dict]:
    """A posture report: header, period and summary, the IPDRR scorecard as fields, then open incidents,
    actions, top risks and recommendations as sections; every text within Slack's limits."""
    from bot.report_view import period, report_sections

    blocks: list[dict] = [
        {"type": "header", "text": {"type": "plain_text", "text": _clip("Posture report", HEADER_LIMIT)}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": _clip(
            f"{period(report)} · {escape(report.summary)}", SECTION_LIMIT)}]},
        {"type": "section", "text": {"type": "mrkdwn", "text": "*IPDRR scorecard* (0–100, higher is better)"},
         "fields": [{"type": "mrkdwn", "text": _clip(f"*{s.name}* {s.value}/100 {s.trend}".rstrip() + "\n"
                                                     + escape(s.figure), FIELD_LIMIT)}
                    for s in report.scorecard[:MAX_FIELDS]]},
        {"type": "divider"},
    ]
    for title, lines in report_sections(report):
        blocks += _part(f"*{escape(title)}*", [escape(line) for line in lines])
    return blocks[:MAX_BLOCKS]


def _part(title: str, lines: list[str], *, max_blocks: int = PART_BLOCKS) -> list[dict]:
    """``lines`` as bullets under ``title``, packed into as few sections as fit; past ``max_blocks`` the
    last one says how many more there were."""
    limit = SECTION_LIMIT - 40  # leaves room for an "…and N more" line
    bullets = [_clip(f"• {line}", limit - len(title) - 1) for line in lines]  # a bullet fits under the title
    texts: list[str] = []
    current = title
    for i, bullet in enumerate(bullets):
        if len(current) + 1 + len(bullet) > limit:
            if len(texts) + 1 == max_blocks:
                current += f"\n_…and {len(bullets) - i} more_"
                break
            texts.append(current)
            current = ""
        current = f"{current}\n{bullet}" if current else bullet
    texts.append(current)
    return [{"type": "section", "text": {"type": "mrkdwn", "text": text}} for text in texts]


def escape(text: str) -> str:
    """Slack's three control characters in mrkdwn text."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


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
    return {"type": "section", "text": {"type": "mrkdwn", "text": _clip(text, SECTION_LIMIT)}}


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _button(label: str, action_id: str, style: str, value: str) -> dict:
    return {"type": "button", "text": {"type": "plain_text", "text": label}, "action_id": action_id,
            "style": style, "value": value}
