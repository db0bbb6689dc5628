"""What flows between the chat adapters and the conversation core, in our own types.

Adapters (Slack, Discord, console) turn platform payloads into :class:`Message` and
:class:`Click` and implement :class:`Surface` to post; they never decide anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from graph.posture import PostureReport


@dataclass(frozen=True)
class Message:
    """A slash command or a chat message, as the core sees it."""

    surface: str  # slack | discord | console
    user: str  # the platform's user id
    channel: str
    text: str
    thread: str | None = None  # the thread it was written in, if any
    is_approver: bool | None = None  # set by adapters that check roles themselves (Discord); else the core's list
    delivery: str | None = None  # a platform id for the delivery, to handle retries once


@dataclass(frozen=True)
class Click:
    """An approve/reject button press on a confirmation message."""

    surface: str
    user: str
    channel: str
    incident: str
    interrupt: str
    decision: str  # approve | reject
    message: str | None = None  # the confirmation message's id, to replace its buttons
    is_approver: bool | None = None
    delivery: str | None = None


@dataclass(frozen=True)
class Reply:
    """The immediate answer to a command, click or message (adapters send it right after the ack)."""

    text: str
    ephemeral: bool = True  # only the person who asked sees it


@dataclass(frozen=True)
class Ask:
    """A confirmation to show with approve/reject buttons."""

    incident: str
    interrupt: str
    text: str  # the plan in plain words (fallback text, notifications, console)
    actions: list[dict[str, Any]] = field(default_factory=list)
    expires_at: str = ""


class Surface(Protocol):
    """How the core posts on one chat platform; every call returns the platform's message id."""

    name: str

    def open_thread(self, channel: str, text: str) -> str:
        """Post an incident's first message; its id is the incident's thread."""

    def post(self, channel: str, thread: str, text: str) -> str: ...

    def ask(self, channel: str, thread: str, ask: Ask) -> str:
        """Post a confirmation with approve/reject buttons carrying ``ask.incident`` and ``ask.interrupt``."""

    def close_ask(self, channel: str, message: str, text: str) -> None:
        """Replace a confirmation's buttons with who decided and when."""

    def upload(self, channel: str, thread: str, filename: str, data: bytes, title: str) -> None: ...


class ReportSurface(Surface, Protocol):
    """A surface that lays a posture report out itself (optional: ``bot.report_view.post_report`` falls back to
    :meth:`Surface.open_thread` with the text plus two :meth:`Surface.upload` calls when a surface lacks it)."""

    def post_report(self, channel: str, report: PostureReport, images: dict[str, bytes]) -> str:
        """Post ``report`` in ``channel`` with ``images`` ("map", "trend": PNG bytes); returns the message id."""
