"""Discord answers that wait out an outage: the outbox's sender for Discord, and the hop onto the bot's loop.

See ``bot/outbox_delivery.py`` for the outbox; ``bot/discord_bot.py`` holds an answer there when its
first try fails.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

import discord

from bot.discord_views import chunks
from bot.outbox_delivery import Fallback

if TYPE_CHECKING:
    from memory.outbox import HeldReply

T = TypeVar("T")
REPLY_TRY_TIMEOUT = 5.0  # seconds for one try of an answer; past it the outbox takes over
PUBLIC_NOTE = "Posted for everyone in this channel."


class DiscordReplies:
    """Held Discord answers, for the outbox's drain (called from worker threads, like :class:`DiscordSurface`).

    A command's or click's answer goes out as the interaction's follow-up while its token lasts; after that, as
    a message in the channel it was asked in, mentioning the asker (so an ephemeral answer becomes visible there).
    """

    def __init__(self, bot: discord.Client, *, timeout: float = REPLY_TRY_TIMEOUT) -> None:
        self.bot = bot
        self.timeout = timeout

    def send(self, reply: HeldReply) -> None:
        where = reply.destination

        async def followup() -> None:
            # the follow-up webhook exactly as discord.Interaction.followup builds it from the token
            hook = discord.Webhook.from_state({"id": int(where["application"]), "type": 3, "token": where["token"]},
                                              state=self.bot._connection)  # type: ignore[attr-defined]
            if where.get("note"):
                await hook.send(PUBLIC_NOTE, ephemeral=True)
            for part in chunks(reply.text):
                await hook.send(part, ephemeral=reply.ephemeral)

        async def message() -> None:
            target = self.bot.get_partial_messageable(int(where["channel"]))
            reference = discord.MessageReference(message_id=int(where["reference"]), channel_id=int(where["channel"]),
                                                 fail_if_not_exists=False) if where.get("reference") else None
            text = f"<@{where['mention']}> {reply.text}" if where.get("mention") else reply.text
            for part in chunks(text):
                await target.send(part, reference=reference, mention_author=False)  # type: ignore[arg-type]

        if reply.kind not in ("followup", "message"):
            raise ValueError(f"no Discord reply of kind {reply.kind!r}")
        on_loop(self.bot, followup if reply.kind == "followup" else message, self.timeout)

    def fallback(self, reply: HeldReply) -> Fallback | None:
        if reply.kind != "followup":
            return None
        return Fallback("message", {"channel": reply.destination["channel"], "mention": reply.destination["user"]})


def on_loop(bot: discord.Client, make: Callable[[], Coroutine[Any, Any, T]], timeout: float) -> T:
    """Run ``make()`` on the bot's event loop from a worker thread; past ``timeout`` it is cancelled and raises
    (so a late success can't land after the caller counted a failure and will retry)."""
    loop = getattr(bot, "loop", None)
    if not isinstance(loop, asyncio.AbstractEventLoop) or loop.is_closed():
        raise RuntimeError("the Discord bot is not running (log it in before the core posts)")
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:  # .result() below would wait for the very loop it blocks
        raise RuntimeError("Discord calls are made from worker threads, not from the bot's event loop")
    future = asyncio.run_coroutine_threadsafe(make(), loop)
    try:
        return future.result(timeout)
    except TimeoutError:
        future.cancel()
        raise
