"""The Discord adapter: ``/cyberops`` commands, incident threads and approve/reject buttons (discord.py).

Interactions are acknowledged at once (a deferred, ephemeral "thinking…"), then the
synchronous conversation core runs in a worker thread and the answer goes out as a
follow-up.  The core posts back through :class:`DiscordSurface`, whose methods are called
from those worker threads and hop onto the bot's event loop.  Command sync is explicit
(:func:`sync_commands`, or ``build_discord_bot(..., sync=True)``): Discord limits how
often commands may be created, so it never happens on every start.  An answer Discord fails
(or that outlasts ``reply_timeout``) is held in the durable outbox and sent by
:class:`DiscordReplies` from the clock once Discord is back (``bot/outbox_delivery.py``).
"""

from __future__ import annotations

import asyncio
import functools
import io
import logging
from collections.abc import Callable, Coroutine
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord_views import (DecisionButton, ask_embed, chunks, clip, decided_embed, decision_view, is_approver,
                               markdown, report_embed)
from bot.outbox_delivery import REPLY_MAX_AGE
from bot.outbox_discord import PUBLIC_NOTE, REPLY_TRY_TIMEOUT, DiscordReplies, on_loop
from bot.surface import Ask, Click, Message, Reply

if TYPE_CHECKING:
    from bot.conversation import Conversation
    from bot.settings import Settings
    from graph.posture import PostureReport

log = logging.getLogger(__name__)
T = TypeVar("T")
Action = Literal["isolate", "patch", "reset", "recover", "all"]
THREAD_NAME = 100  # characters
INTERACTION_LIFETIME = timedelta(minutes=14)  # an interaction's token takes follow-ups for 15 minutes


class DiscordSurface:
    """The core's :class:`~bot.surface.Surface` on Discord.  Called from worker threads, never from the loop.

    A Discord message is addressed by its channel and its id, so the ids this surface hands
    out for confirmations are ``"<thread id>/<message id>"``.
    """

    name = "discord"

    def __init__(self, bot: discord.Client, *, timeout: float = 30.0) -> None:
        self.bot = bot
        self.timeout = timeout

    def open_thread(self, channel: str, text: str) -> str:
        async def go() -> str:
            target = self.bot.get_channel(int(channel)) or await self.bot.fetch_channel(int(channel))
            first, *rest = chunks(markdown(text))
            started = await target.send(first)  # type: ignore[union-attr]
            thread = await started.create_thread(name=_thread_name(text))
            for part in rest:
                await thread.send(part)
            return str(thread.id)
        return self._call(go)

    def post(self, channel: str, thread: str, text: str) -> str:
        async def go() -> str:
            where = self.bot.get_partial_messageable(int(thread))
            ids = [(await where.send(part)).id for part in chunks(markdown(text))]
            return str(ids[0])
        return self._call(go)

    def ask(self, channel: str, thread: str, ask: Ask) -> str:
        async def go() -> str:
            where = self.bot.get_partial_messageable(int(thread))
            sent = await where.send(embed=ask_embed(ask.incident, ask.interrupt, ask.text),
                                    view=decision_view(ask.incident, ask.interrupt))
            return f"{thread}/{sent.id}"
        return self._call(go)

    def close_ask(self, channel: str, message: str, text: str) -> None:
        where, _, message_id = message.rpartition("/")
        async def go() -> None:
            partial = self.bot.get_partial_messageable(int(where or channel)).get_partial_message(int(message_id))
            try:
                found = await partial.fetch()
            except discord.NotFound:
                return  # deleted by someone: nothing left to close
            await found.edit(embed=decided_embed(found.embeds[0] if found.embeds else None, text), view=None)
        self._call(go)

    def upload(self, channel: str, thread: str, filename: str, data: bytes, title: str) -> None:
        async def go() -> None:
            where = self.bot.get_partial_messageable(int(thread))
            await where.send(clip(markdown(title), 2000), file=discord.File(io.BytesIO(data), filename=filename))
        self._call(go)

    def post_report(self, channel: str, report: PostureReport, images: dict[str, bytes]) -> str:
        """One message: the report's embed with the map as its picture, and both PNGs attached (the trend chart
        shows under the embed); returns the message id."""
        names = {key: f"{key}.png" for key in images}

        async def go() -> str:
            where = self.bot.get_partial_messageable(int(channel))
            files = [discord.File(io.BytesIO(data), filename=names[key]) for key, data in images.items()]
            sent = await where.send(embed=report_embed(report, image=names.get("map")), files=files)
            return str(sent.id)
        return self._call(go)

    def _call(self, make: Callable[[], Coroutine[Any, Any, T]]) -> T:
        return on_loop(self.bot, make, self.timeout)


class CyberOpsBot(commands.Bot):
    """The bot: hands interactions and thread messages to the conversation core."""

    def __init__(self, conversation: Conversation, *, approver_role: str, channel: int | None,
                 sync: bool = False, reply_timeout: float = REPLY_TRY_TIMEOUT) -> None:
        intents = discord.Intents.none()
        intents.guilds = intents.guild_messages = intents.message_content = True
        super().__init__(command_prefix=commands.when_mentioned, intents=intents, help_command=None,
                         allowed_mentions=discord.AllowedMentions(everyone=False, roles=False, users=True))
        self.conversation = conversation
        self.approver_role = approver_role
        self.incident_channel = channel
        self.sync_on_start = sync
        self.reply_timeout = reply_timeout

    async def setup_hook(self) -> None:
        self.add_dynamic_items(DecisionButton)  # buttons sent before a restart keep working
        self.tree.add_command(CyberOpsCommands(self))
        if self.sync_on_start:
            await sync_commands(self)

    # ---------------------------------------------------------------- inbound
    async def handle_command(self, interaction: discord.Interaction, text: str) -> None:
        """``/cyberops …``: ack within 3 s, run the core off the loop, answer in follow-ups."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        channel, thread = _where(interaction.channel, interaction.channel_id)
        msg = Message("discord", str(interaction.user.id), channel, text, thread=thread,
                      is_approver=is_approver(interaction.user, self.approver_role), delivery=str(interaction.id))
        await self._answer(interaction, self.conversation.command, msg)

    async def handle_click(self, interaction: discord.Interaction, *, decision: str, incident: str,
                           interrupt: str) -> None:
        """An approve/reject button; the core refuses (and audits) clicks of non-approvers."""
        await interaction.response.defer(ephemeral=True, thinking=True)
        channel, _ = _where(interaction.channel, interaction.channel_id)
        message = f"{interaction.channel_id}/{interaction.message.id}" if interaction.message else None
        click = Click("discord", str(interaction.user.id), channel, incident, interrupt, decision, message=message,
                      is_approver=is_approver(interaction.user, self.approver_role), delivery=str(interaction.id))
        await self._answer(interaction, self.conversation.click, click)

    async def on_message(self, message: discord.Message) -> None:
        """Operators' words in an incident thread (or to the bot, by mention)."""
        if message.author.bot or message.webhook_id or message.guild is None:
            return
        channel = message.channel
        if isinstance(channel, discord.PartialMessageable):  # a thread the cache doesn't know yet
            channel = await self.fetch_channel(channel.id)
        in_thread = isinstance(channel, discord.Thread) and (
            self.incident_channel is None or channel.parent_id == self.incident_channel)
        if not in_thread and not (self.user is not None and self.user in message.mentions):
            return
        where, thread = _where(channel, channel.id)
        msg = Message("discord", str(message.author.id), where, message.content, thread=thread,
                      is_approver=is_approver(message.author, self.approver_role), delivery=str(message.id))
        try:
            reply = await self._in_worker(self.conversation.message, msg)
        except Exception:
            log.exception("the conversation core failed on a Discord message")
            reply = Reply("Something went wrong on my side; the error is in the bot's log.")
        if reply is None:
            return
        parts, sent = chunks(markdown(reply.text)), 0
        try:
            for part in parts:
                await self._bounded(message.channel.send(part, reference=message, mention_author=False))
                sent += 1
        except Exception as exc:  # Discord down or slow: the outbox sends the rest once it is back
            where = {"channel": str(message.channel.id), "reference": str(message.id)}
            await self._hold("message", where, "\n".join(parts[sent:]), reply.ephemeral, REPLY_MAX_AGE, exc)

    # ---------------------------------------------------------------- internals
    async def _answer(self, interaction: discord.Interaction, handle: Callable[[Any], Reply], event: Any) -> None:
        try:
            reply = await self._in_worker(handle, event)
        except Exception:
            log.exception("the conversation core failed on a Discord interaction")
            reply = Reply("Something went wrong on my side; the error is in the bot's log.")
        parts, sent = chunks(markdown(reply.text)), 0
        # the first follow-up takes the deferral's (ephemeral) visibility; later ones are public
        note = not reply.ephemeral
        try:
            if note:
                await self._bounded(interaction.followup.send(PUBLIC_NOTE, ephemeral=True))
                note = False
            for part in parts:
                await self._bounded(interaction.followup.send(part, ephemeral=reply.ephemeral))
                sent += 1
        except Exception as exc:  # Discord down or slow: the outbox sends the rest once it is back
            where = {"application": str(interaction.application_id), "token": interaction.token,
                     "channel": str(interaction.channel_id), "user": str(interaction.user.id), "note": note}
            await self._hold("followup", where, "\n".join(parts[sent:]), reply.ephemeral, INTERACTION_LIFETIME, exc)

    async def _bounded(self, call: Coroutine[Any, Any, T]) -> T:
        """One try of a Discord call, cut off after ``reply_timeout`` (discord.py itself retries a 5xx for ~25 s)."""
        return await asyncio.wait_for(call, self.reply_timeout)

    async def _hold(self, kind: str, where: dict[str, Any], text: str, ephemeral: bool, lifetime: timedelta,
                    error: BaseException) -> None:
        hold = functools.partial(self.conversation.outbox.hold, "discord", kind, where, text, ephemeral=ephemeral,
                                 expires_in=lifetime, error=error)
        try:
            await asyncio.get_running_loop().run_in_executor(None, hold)
        except Exception:
            log.exception("a Discord answer could not be sent nor held; it is lost")

    async def _in_worker(self, fn: Callable[[Any], T], arg: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(None, functools.partial(fn, arg))


class CyberOpsCommands(app_commands.Group):
    """``/cyberops SUBCOMMAND``: the same subcommands as on Slack, plus ``ask`` for plain words."""

    def __init__(self, bot: CyberOpsBot) -> None:
        super().__init__(name="cyberops", description="CyberOps-Bots incident response", guild_only=True)
        self.bot = bot

    def _run(self, interaction: discord.Interaction, *words: str | None) -> Coroutine[Any, Any, None]:
        return self.bot.handle_command(interaction, " ".join(w for w in words if w))

    @app_commands.command(description="The network and the open incidents")
    async def status(self, interaction: discord.Interaction) -> None:
        await self._run(interaction, "status")

    @app_commands.command(description="Recent incidents")
    async def incidents(self, interaction: discord.Interaction) -> None:
        await self._run(interaction, "incidents")

    @app_commands.command(description="Hosts and their state")
    @app_commands.describe(subnet="only this subnet")
    async def hosts(self, interaction: discord.Interaction, subnet: str | None = None) -> None:
        await self._run(interaction, "hosts", subnet)

    @app_commands.command(description="Ask to cut hosts off the network")
    @app_commands.describe(targets="hosts, subnets or roles; \"but not …\" works")
    async def isolate(self, interaction: discord.Interaction, targets: str) -> None:
        await self._run(interaction, "isolate", targets)

    @app_commands.command(description="Ask to patch hosts")
    @app_commands.describe(targets="hosts, subnets or roles; \"but not …\" works")
    async def patch(self, interaction: discord.Interaction, targets: str) -> None:
        await self._run(interaction, "patch", targets)

    @app_commands.command(description="Ask to clean compromised hosts")
    @app_commands.describe(targets="hosts, subnets or roles; \"but not …\" works")
    async def reset(self, interaction: discord.Interaction, targets: str) -> None:
        await self._run(interaction, "reset", targets)

    @app_commands.command(description="Ask to reconnect isolated hosts")
    @app_commands.describe(targets="hosts, subnets or roles; \"but not …\" works")
    async def recover(self, interaction: discord.Interaction, targets: str) -> None:
        await self._run(interaction, "recover", targets)

    @app_commands.command(description="Send the agents to a subnet")
    @app_commands.describe(subnet="the subnet (region) to defend")
    async def defend(self, interaction: discord.Interaction, subnet: str) -> None:
        await self._run(interaction, "defend", subnet)

    @app_commands.command(description="Never touch these hosts")
    @app_commands.describe(targets="hosts, subnets or roles")
    async def protect(self, interaction: discord.Interaction, targets: str) -> None:
        await self._run(interaction, "protect", targets)

    @app_commands.command(description="What runs without asking")
    @app_commands.describe(level="confirm: always ask; auto: run without asking; never: don't run",
                           action="which action kind (default: all)")
    async def autonomy(self, interaction: discord.Interaction, level: Literal["confirm", "auto", "never"],
                       action: Action | None = None) -> None:
        await self._run(interaction, "autonomy", level, action)

    @app_commands.command(description="Pause all automated actions")
    async def stop(self, interaction: discord.Interaction) -> None:
        await self._run(interaction, "stop")

    @app_commands.command(description="Resume automated actions")
    async def resume(self, interaction: discord.Interaction) -> None:
        await self._run(interaction, "resume")

    @app_commands.command(description="The posture report: now, or on a schedule")
    @app_commands.describe(what="now (default), list, cancel ID, or a schedule such as \"every weekday at 09:00\"")
    async def report(self, interaction: discord.Interaction, what: str | None = None) -> None:
        await self._run(interaction, "report", _report_words(what))

    @app_commands.command(description="The reasons for the current plan")
    async def explain(self, interaction: discord.Interaction) -> None:
        await self._run(interaction, "explain")

    @app_commands.command(description="The next steps with and without the planned defence")
    async def simulate(self, interaction: discord.Interaction) -> None:
        await self._run(interaction, "simulate")

    @app_commands.command(description="Let the live twin move some steps now")
    @app_commands.describe(steps="how many steps (1-20, default 1)")
    async def tick(self, interaction: discord.Interaction, steps: app_commands.Range[int, 1, 20] = 1) -> None:
        await self._run(interaction, "tick", str(steps))

    @app_commands.command(description="The commands")
    async def help(self, interaction: discord.Interaction) -> None:
        await self._run(interaction, "help")

    @app_commands.command(description="Say it in plain words, e.g. \"isolate rnd-pc-018 but not the database\"")
    @app_commands.describe(text="what you want")
    async def ask(self, interaction: discord.Interaction, text: str) -> None:
        await self._run(interaction, text)


def build_discord_bot(conversation: Conversation, settings: Settings, *, sync: bool = False,
                      reply_timeout: float = REPLY_TRY_TIMEOUT) -> CyberOpsBot:
    """The bot, plugged into the conversation as its ``discord`` surface (new incidents go to
    ``CYBEROPS_DISCORD_CHANNEL``).  ``sync``: publish the slash commands to Discord on start.

    ``DISCORD_API_URL`` (tests) points discord.py's REST client elsewhere; that setting is
    process-wide in discord.py (``discord.http.Route.BASE``).
    """
    if settings.discord_api_url:
        discord.http.Route.BASE = settings.discord_api_url.rstrip("/")
    channel = settings.cyberops_discord_channel
    bot = CyberOpsBot(conversation, approver_role=settings.cyberops_discord_approver_role, channel=channel, sync=sync,
                      reply_timeout=reply_timeout)
    conversation.surfaces["discord"] = DiscordSurface(bot)
    conversation.outbox.senders["discord"] = DiscordReplies(bot, timeout=reply_timeout)
    if channel:
        conversation.channels["discord"] = str(channel)
    return bot


async def sync_commands(bot: commands.Bot, *, guild: int | None = None) -> list[str]:
    """Publish ``/cyberops`` to Discord (globally, or at once to one guild); returns the command names."""
    if guild is None:
        synced = await bot.tree.sync()
    else:
        target = discord.Object(id=guild)
        bot.tree.copy_global_to(guild=target)
        synced = await bot.tree.sync(guild=target)
    return [c.name for c in synced]


def run_discord(bot: commands.Bot, token: str) -> None:
    """Run the bot until interrupted (blocking; inside an event loop use ``await bot.start(token)``)."""
    bot.run(token, log_handler=None)  # logging is the application's to configure


def _where(channel: Any, channel_id: int | None) -> tuple[str, str | None]:
    """``(channel, thread)`` as the core sees them: a thread's messages belong to its parent channel."""
    if isinstance(channel, discord.Thread):
        return str(channel.parent_id), str(channel.id)
    return str(channel_id), None


def _report_words(what: str | None) -> str | None:
    """``/cyberops report what:…`` as the core's words: a bare schedule gets its ``schedule`` keyword."""
    what = (what or "").strip()
    if not what or what.split()[0].lower() in ("now", "list", "cancel", "schedule"):
        return what or None
    return f"schedule {what}"


def _thread_name(text: str) -> str:
    first_line = text.strip().split("\n", 1)[0]
    name = " ".join(first_line.replace("*", "").replace("`", "").split())
    return clip(name or "incident", THREAD_NAME)
