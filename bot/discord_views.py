"""Discord's pieces of a confirmation: approve/reject buttons that survive restarts, the embed, the role check.

The buttons are :class:`discord.ui.DynamicItem`\\ s: everything a click needs (decision,
incident, interrupt) is in the ``custom_id``, so a bot started after the message was sent
rebuilds them from the regex template alone (registered with ``add_dynamic_items``).
"""

from __future__ import annotations

import re
from typing import Any, Protocol

import discord

CUSTOM_ID = "cyberops:{decision}:{incident}:{interrupt}"
TEMPLATE = r"cyberops:(?P<decision>approve|reject):(?P<incident>[^:]+):(?P<interrupt>[^:]+)"
MAX_CUSTOM_ID = 100  # Discord's limit
MAX_CONTENT = 2000  # characters in a message's content
MAX_EMBED = 4096  # characters in an embed's description
MAX_FIELD = 1024  # characters in an embed field's value


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
