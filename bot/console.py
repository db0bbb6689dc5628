"""The terminal surface and ``cyberops demo``: the demo network under a live attacker, in a chat-like terminal.

Interactive on a terminal: press Enter to let the twin move one step (or pass ``--tick``
to let it run on its own), type in plain words ("why?", "isolate rnd-pc-018 but not
the database", "approve"), or ``/command`` for the slash commands.  When standard input
is not a terminal (CI, a pipe) or with ``--auto``, a scripted operator plays the same
session: it asks questions, requests an action and approves each plan.
"""

from __future__ import annotations

import itertools
import sys
import threading
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table

from bot.surface import Ask, Message

if TYPE_CHECKING:
    from bot.conversation import Conversation
    from graph.posture import PostureReport

CHANNEL = "terminal"
USER = "operator"


class ConsoleSurface:
    """Posts to a rich console; a thread is an incident's coloured prefix."""

    name = "console"

    def __init__(self, console: Console, *, image_dir: str = "cyberops-reports") -> None:
        self.console = console
        self.image_dir = image_dir  # where pictures (report maps and charts) are saved
        self._ids = itertools.count(1)
        self._threads: dict[str, str] = {}
        self.current_thread: str | None = None  # the newest incident thread: where typed text goes

    def open_thread(self, channel: str, text: str) -> str:
        thread = f"t{next(self._ids)}"
        self._threads[thread] = text
        self.current_thread = thread
        self.console.print(Panel(_markup(text), border_style="red", expand=False))
        return thread

    def post(self, channel: str, thread: str, text: str) -> str:
        self.console.print(_markup(text))
        return f"m{next(self._ids)}"

    def ask(self, channel: str, thread: str, ask: Ask) -> str:
        self.current_thread = thread
        body = _markup(ask.text) + "\n[bold]Reply[/] [green]approve[/] or [red]reject[/] (or: edit drop HOST)"
        self.console.print(Panel(body, title=f"{ask.incident}: confirmation {ask.interrupt}", border_style="yellow"))
        return f"m{next(self._ids)}"

    def close_ask(self, channel: str, message: str, text: str) -> None:
        self.console.print(f"  [dim]{escape(text)}[/]")

    def upload(self, channel: str, thread: str, filename: str, data: bytes, title: str) -> None:
        from pathlib import Path

        folder = Path(self.image_dir)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{thread}-{filename}"
        path.write_bytes(data)
        self.console.print(f"  [dim]{escape(title)}: saved {path}[/]")

    def post_report(self, channel: str, report: PostureReport, images: dict[str, bytes]) -> str:
        """The scorecard as a table, the other parts as lists, and the pictures saved in ``image_dir``
        (``report-<time>-<n>-map.png``, …) with their paths printed; returns the report's id."""
        from bot.report_view import IMAGE_TITLES, period, report_sections

        stamp = "".join(c for c in report.at if c.isdigit() or c in "TZ")
        thread = f"report-{stamp}-{next(self._ids)}"
        table = Table(title=f"[bold]Posture report[/] — {period(report)}", caption=escape(report.summary), title_justify="left",
                      caption_justify="left")
        table.add_column("IPDRR", style="bold")
        table.add_column("score", justify="right")
        table.add_column("trend", justify="center")
        table.add_column("figure")
        for s in report.scorecard:
            colour = "red" if s.value < 40 else "yellow" if s.value < 70 else "green"
            table.add_row(s.name, f"[{colour}]{s.value}[/]", s.trend or "–", escape(s.figure))
        self.console.print(table)
        for title, lines in report_sections(report, actions=10):
            self.console.print(_markup(f"*{title}*"))
            for line in lines:
                self.console.print("  • " + _markup(line))
        for key, data in images.items():
            self.upload(channel, thread, f"{key}.png", data, IMAGE_TITLES.get(key, key))
        return thread


def _markup(text: str) -> str:
    """Our light markdown (*bold*, `code`, _italic_) as rich markup."""
    import re

    text = escape(text)
    text = re.sub(r"\*([^*\n]+)\*", r"[bold]\1[/bold]", text)
    text = re.sub(r"`([^`\n]+)`", r"[cyan]\1[/cyan]", text)
    return re.sub(r"(?<!\w)_([^_\n]+)_(?!\w)", r"[italic]\1[/italic]", text)


def say(conversation: Conversation, surface: ConsoleSurface, text: str, console: Console) -> None:
    """What the operator typed: ``/command`` or a message in the current incident's thread."""
    console.print(f"[bold cyan]{USER}>[/] {escape(text)}")
    if text.startswith("/"):
        reply = conversation.command(Message("console", USER, CHANNEL, text[1:]))
    else:
        reply = conversation.message(Message("console", USER, CHANNEL, text, thread=surface.current_thread))
    if reply is not None:
        console.print(f"[bold magenta]cyberops>[/] {_markup(reply.text)}")


def run_demo(conversation: Conversation, surface: ConsoleSurface, console: Console, *, auto: bool,
             steps: int, tick_seconds: float) -> dict:
    """Play the demo; returns a summary (steps, incidents, actions run)."""
    console.print(Panel(_markup(
        "*CyberOps-Bots demo* — the 450-host demo company network under a live recon attacker.\n"
        + ("A scripted operator plays the session." if auto else
           "Enter: next step · type to talk (`why?`, `status`, `isolate HOST`, `approve`) · /help · Ctrl-D to quit")),
        border_style="blue"))
    if auto:
        return _autoplay(conversation, surface, console, steps)
    stop = threading.Event()
    if tick_seconds > 0:
        def ticker() -> None:
            while not stop.wait(tick_seconds):
                conversation.tick()
        threading.Thread(target=ticker, daemon=True).start()
    ticks = 0
    try:
        while ticks < steps:
            try:
                line = input("> " if tick_seconds > 0 else "[Enter = next step] > ").strip()
            except EOFError:
                break
            if line:
                say(conversation, surface, line, console)
            elif tick_seconds == 0:
                conversation.tick()
                ticks += 1
    finally:
        stop.set()
    return _summary(conversation, ticks)


SCRIPT = {1: "status", 3: "why?", 5: "/hosts servers", 7: "simulate"}


def _autoplay(conversation: Conversation, surface: ConsoleSurface, console: Console, steps: int) -> dict:
    defence = conversation.defence
    asked_for = False
    for step in range(steps):
        if step in SCRIPT:
            say(conversation, surface, SCRIPT[step], console)
        seen = [defence.sim.network.names[i] for i in defence.sim.visible[0].nonzero()[0]]
        if seen and not asked_for and step >= 4:
            say(conversation, surface, f"isolate {seen[0]}", console)
            asked_for = True
        conversation.tick()
        for row in defence.short.incidents(status="open"):
            if defence.status(row["id"]).pending is not None:
                say(conversation, surface, "approve", console)
        if defence.sim.done[0] and not defence.short.incidents(status="open"):
            break
    return _summary(conversation, step + 1)


def _summary(conversation: Conversation, ticks: int) -> dict:
    d = conversation.defence
    incidents = d.short.incidents()
    executed = sum(1 for i in incidents for a in d.short.actions(i["id"]) if a.status == "executed")
    return {"steps": ticks, "incidents": len(incidents), "executed": executed, "audit_ok": d.audit.verify() is None,
            "availability": d.metrics()["availability"]}


def interactive() -> bool:
    return sys.stdin.isatty()
