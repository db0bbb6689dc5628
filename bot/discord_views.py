"""Discord's pieces of a confirmation (approve/reject buttons that survive restarts, the embed, the role
check) and the posture report's embed.

The buttons are :class:`discord.ui.DynamicItem`\\ s: everything a click needs (decision,
incident, interrupt) is in the ``custom_id``, so a bot started after the message was sent
rebuilds them from the regex template alone (registered with ``add_dynamic_items``).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, Protocol

import discord

if TYPE_CHECKING:
    from graph.posture import PostureReport

CUSTOM_ID = "cyberops:{decision}:{incident}:{interrupt}"
TEMPLATE = r"cyberops:(?P<decision>approve|reject):(?P<incident>[^:]+):(?P<interrupt>[^:]+)"
MAX_CUSTOM_ID = 100  # Discord's limit
MAX_CONTENT = 2000  # characters in a message's content
MAX_EMBED = 4096  # characters in an embed's description
MAX_FIELD = 1024  # characters in an embed field's value
# Discord's other embed limits that a report meets
MAX_TITLE = 256  # a title's or a field name's characters
MAX_FIELDS = 25
MAX_TOTAL = 6000  # title, description, field names and values, footer, author: all together
REPORT_DESCRIPTION = 1000  # of the total, at most this for the period and summary,
REPORT_FIGURE = 300  # and this per score's figure: the parts after the scorecard keep 3,500 or more
REPORT_LINE = 400  # characters per listed item (an incident, an action, a risk, a recommendation)
PART_FIELDS = {"Recommendations": 3}  # fields per report part (others: 1); continued fields repeat the name
REPORT_FOOTER = "IPDRR scores 0–100, higher is better; arrows against the previous report. Trend chart attached."


class ClickHandler(Protocol):
    """The bot a button reports to (``interaction.client``)."""

    async def handle_click(self, interaction: discord.Interaction, *, decision: str, incident: str,
                           interrupt: str) -> None: ...


def custom_id(decision: str, incident: str, interrupt: str) -> str:
    value = CUSTOM_ID.format(decision=decision, incident=incident, interrupt=interrupt)
    if len(value) > MAX_CUSTOM_ID or not re.fullmatch(TEMPLATE, value):
        raise ValueError(f"can't carry {incident!r}/{interrupt!r} in a Discord custom_id: {value!r}")
    return value


class DecisionButton(discord.ui.DynamicItem[discord.ui.Button], template=TEMPLATE):
    """Approve or reject one confirmation (``interrupt``) of one incident."""

    def __init__(self, decision: str, incident: str, interrupt: str) -> None:
        approve = decision == "approve"
        super().__init__(discord.ui.Button(
            label="Approve" if approve else "Reject", emoji="✅" if approve else "✖️",
            style=discord.ButtonStyle.success if approve else discord.ButtonStyle.danger,
            custom_id=custom_id(decision, incident, interrupt)))
        self.decision, self.incident, self.interrupt = decision, incident, interrupt

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Item[Any],
                             match: re.Match[str], /) -> DecisionButton:
        return cls(match["decision"], match["incident"], match["interrupt"])

    async def callback(self, interaction: discord.Interaction) -> None:
        client: ClickHandler = interaction.client  # type: ignore[assignment]
        await client.handle_click(interaction, decision=self.decision, incident=self.incident,
                                  interrupt=self.interrupt)


def decision_view(incident: str, interrupt: str) -> discord.ui.View:
    """The two buttons; call on the bot's event loop (a View needs one)."""
    view = discord.ui.View(timeout=None)
    view.add_item(DecisionButton("approve", incident, interrupt))
    view.add_item(DecisionButton("reject", incident, interrupt))
    return view


def ask_embed(incident: str, interrupt: str, text: str) -> discord.Embed:
    return discord.Embed(title=f"{incident}: confirmation {interrupt}", description=clip(markdown(text), MAX_EMBED),
                         colour=discord.Colour.orange())


def report_embed(report: PostureReport, *, image: str | None = "map.png") -> discord.Embed:
    """A posture report: the period and summary, one inline field per IPDRR score (value, arrow, figure), then
    open incidents, actions, top risks and recommendations; ``image``: an attached file to show as the picture.
    Within every embed limit: parts are shortened (longest first) until the whole fits in ``MAX_TOTAL``."""
    from bot.report_view import period, report_sections

    worst = min((s.value for s in report.scorecard), default=100)
    colour = discord.Colour.red() if worst < 40 else discord.Colour.orange() if worst < 70 else discord.Colour.green()
    embed = discord.Embed(title="Posture report", colour=colour,
                          description=clip(markdown(f"{period(report)}\n{report.summary}"), REPORT_DESCRIPTION))
    for s in report.scorecard[:MAX_FIELDS]:
        embed.add_field(name=clip(f"{s.name} {s.value}/100 {s.trend}".rstrip(), MAX_TITLE),
                        value=clip(markdown(s.figure), REPORT_FIGURE), inline=True)
    embed.set_footer(text=REPORT_FOOTER)
    if image:
        embed.set_image(url=f"attachment://{image}")
    parts = []
    for title, lines in report_sections(report):
        name = title.split(" (", 1)[0]
        parts += _fields(clip(title, MAX_TITLE), [markdown(line) for line in lines], PART_FIELDS.get(name, 1))
    for name, value in _fit(parts[:MAX_FIELDS - len(embed.fields)], MAX_TOTAL - len(embed)):
        embed.add_field(name=name, value=value, inline=False)
    return embed


def _fields(title: str, lines: list[str], most: int) -> list[tuple[str, str]]:
    """``lines`` as bullets in at most ``most`` fields named ``title``; the last says how many more there were."""
    room = MAX_FIELD - 24  # leaves room for an "…and N more" line
    values, current = [], ""
    for i, line in enumerate(lines):
        bullet = clip(f"• {line}", REPORT_LINE)
        if current and len(current) + 1 + len(bullet) > room:
            if len(values) + 1 == most:
                current += f"\n*…and {len(lines) - i} more*"
                break
            values.append(current)
            current = ""
        current = f"{current}\n{bullet}" if current else bullet
    values.append(current)
    return [(title, value) for value in values]


def _fit(fields: list[tuple[str, str]], budget: int) -> list[tuple[str, str]]:
    """Shorten the longest values (at a line end where it can), then drop the last fields, until all fit ``budget``."""
    fields = list(fields)
    while fields and (excess := sum(len(n) + len(v) for n, v in fields) - budget) > 0:
        i = max(range(len(fields)), key=lambda k: len(fields[k][1]))
        name, value = fields[i]
        if len(value) <= 100:
            fields.pop()
            continue
        fields[i] = (name, _clip_lines(value, max(100, len(value) - excess)))
    return fields


def _clip_lines(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    cut = text.rfind("\n", 0, limit - 2)
    return text[:cut] + "\n…" if cut > 0 else clip(text, limit)


def decided_embed(embed: discord.Embed | None, text: str) -> discord.Embed:
    """The confirmation's embed with who decided (or that it expired) added to it."""
    embed = embed.copy() if embed is not None else discord.Embed()
    embed.colour = discord.Colour.dark_grey()
    return embed.add_field(name="Decision", value=clip(markdown(text), MAX_FIELD), inline=False)


def is_approver(user: discord.abc.User, role: str) -> bool:
    """Whether the member holds the approver role (by name or id); outside a guild nobody does."""
    roles = getattr(user, "roles", None) or []
    return any(r.name == role or str(r.id) == role for r in roles)


def markdown(text: str) -> str:
    """Our light markdown for Discord: ``*bold*`` is italic there, so double it."""
    return re.sub(r"(?<![*\w])\*([^*\n]+)\*(?![*\w])", r"**\1**", text)


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def chunks(text: str, limit: int = MAX_CONTENT) -> list[str]:
    """``text`` cut into messages Discord accepts, at line ends where it can."""
    out: list[str] = []
    while len(text) > limit:
        cut = text.rfind("\n", 0, limit)
        cut = cut if cut > 0 else limit
        out.append(text[:cut])
        text = text[cut:].lstrip("\n")
    return out + [text] if text or not out else out
