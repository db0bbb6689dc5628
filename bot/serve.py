"""``cyberops serve``: run every configured chat surface over one defence loop, with the live twin's
clock, confirmation expiry and the report scheduler.

It says which surfaces run and why the others don't.  Slack runs in HTTP mode (uvicorn,
``POST /slack/events``, ``GET /healthz``) or Socket Mode when ``SLACK_APP_TOKEN`` is set;
Discord runs its gateway client.  One HTTP app (:mod:`bot.http_app`) serves Slack's HTTP mode, the
alert endpoints (when ``CYBEROPS_ALERT_TOKEN`` is set: alerts alone are reason enough to serve),
``GET /metrics`` and ``GET /healthz``.  One process, one SQLite file, one writer.
"""

from __future__ import annotations

import functools
import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from bot.live_clock import Publisher
from bot.log_redaction import bot_secrets, install_redaction
from bot.settings import Settings
from twin.errors import InputError

log = logging.getLogger(__name__)

EXPIRY_CHECK_SECONDS = 30.0


@dataclass
class Services:
    """Everything ``serve`` runs, built but not started (so tests can look at it)."""

    conversation: Any
    scheduler: Any
    slack_app: Any = None
    discord_bot: Any = None
    http_app: Any = None  # bot.http_app.HttpApp: alerts, /metrics, /healthz and Slack's HTTP mode
    notes: list[str] = field(default_factory=list)


def build_services(settings: Settings, *, sync_discord: bool = False) -> Services:
    """Build the loop, the conversation, the configured surfaces and the scheduler; InputError if no surface."""
    from bot.chat_cli import build_conversation
    from bot.executors import executor_from_settings
    from bot.report_view import post_report
    from bot.schedules import ReportScheduler
    from memory.chat import ChatMemory

    reasons = settings.surfaces()
    running = [name for name, why in reasons.items() if why is None]
    notes = [f"{name}: {'running' if why is None else 'off — ' + why}" for name, why in reasons.items()]
    if not running:
        raise InputError("environment", "surfaces", "no chat surface or alert ingestion is configured (" + "; ".join(
            f"{n}: {w}" for n, w in reasons.items()) + "). For the terminal, run `cyberops demo`.")
    executor = executor_from_settings(settings)
    notes.append(f"actions: executor {executor.name}")
    scenario = inventory_scenario(settings, notes) or settings.cyberops_scenario
    conversation = build_conversation(scenario, settings.cyberops_db, surfaces={}, channels={},
                                      approvers=settings.approvers or None, live=True, restore=True,
                                      confirm_timeout=settings.cyberops_confirm_timeout, executor=executor)
    services = Services(conversation=conversation, scheduler=None, notes=notes)
    if "slack" in running:
        from bot.slack_app import SlackSurface, build_slack_app, slack_web_client

        client = slack_web_client(settings)
        conversation.surfaces["slack"] = SlackSurface(client)
        conversation.channels["slack"] = settings.cyberops_slack_channel
        services.slack_app = build_slack_app(conversation, settings, client=client)
        if not settings.approvers:
            notes.append("slack: CYBEROPS_APPROVERS is empty, so anyone in the channel may approve")
    if "discord" in running:
        from bot.discord_bot import build_discord_bot

        services.discord_bot = build_discord_bot(conversation, settings, sync=sync_discord)
    slack_http = services.slack_app is not None and settings.slack_app_token is None
    if slack_http or "alerts" in running:
        from bot.http_app import build_http_app

        services.http_app = build_http_app(conversation, alert_token=settings.alert_token,
                                           max_bytes=settings.cyberops_alert_max_bytes,
                                           slack_app=services.slack_app if slack_http else None)
        if not conversation.surfaces:
            notes.append("alerts: no chat surface runs, so incidents opened by alerts are posted nowhere")
    defence = conversation.defence

    def post(schedule) -> None:
        surface = conversation.surfaces.get(schedule.surface)
        if surface is not None:
            post_report(defence, surface, schedule.channel)

    services.scheduler = ReportScheduler(reports=defence.reports, chat=ChatMemory(defence.store), post=post,
                                         timezone=settings.cyberops_tz)
    conversation.scheduler = services.scheduler
    return services


def inventory_scenario(settings: Settings, notes: list[str]) -> str | None:
    """``CYBEROPS_INVENTORY``: import the exports now, write the scenario beside the database, run it.

    Re-importing on every start keeps the twin in step with the inventory; hosts keep their
    twin state by name (the loop remaps its saved twin).
    """
    from pathlib import Path

    from bot.twin_cli import write_import
    from twin.importers import read_inventory

    files = [f.strip() for f in settings.cyberops_inventory.split(",") if f.strip()]
    if not files:
        return None
    imported = read_inventory(files)
    out = Path(settings.cyberops_db).resolve().with_name("cyberops-inventory-scenario.yaml")
    result = write_import(imported.graph, out, sources=files)
    changes = result["changes"]
    notes.append(f"inventory: {imported.graph.number_of_nodes()} hosts from {len(files)} file(s) -> {out}"
                 + (f" ({len(changes['added'])} added, {len(changes['retired'])} retired)" if changes else ""))
    return str(out)


def clock(conversation, *, tick_seconds: float, stop: threading.Event) -> None:
    """The live twin's clock: a step every ``tick_seconds`` (0: only expiry checks and held posts and replies, the
    twin moves when asked)."""
    period = tick_seconds if tick_seconds > 0 else EXPIRY_CHECK_SECONDS
    while not stop.wait(period):
        try:
            if tick_seconds > 0:
                conversation.tick()
            else:
                conversation.expire()
                conversation.deliver_held()
        except Exception:  # one bad step must not stop the clock
            log.exception("the twin's clock step failed")


def start_clock(conversation, *, tick_seconds: float, stop: threading.Event) -> list[threading.Thread]:
    """The twin's clock and the publisher that posts what it produced, each in a thread of its own, until
    ``stop``: a chat platform that is slow or down never holds the clock up."""
    publisher = conversation.publisher = Publisher(conversation)
    threads = [threading.Thread(target=publisher.run, args=(stop,), daemon=True, name="cyberops-publisher"),
               threading.Thread(target=clock, args=(conversation,), daemon=True, name="cyberops-clock",
                                kwargs={"tick_seconds": tick_seconds, "stop": stop})]
    for thread in threads:
        thread.start()
    return threads


def serve(settings: Settings, *, sync_discord: bool = False, say=print) -> int:
    install_redaction(bot_secrets(settings))  # before anything can log: no token, key or secret in any log line
    services = build_services(settings, sync_discord=sync_discord)
    for note in services.notes:
        say(note)
    scheduled = services.scheduler.start()
    say(f"reports: {scheduled} schedule(s) restored; time zone {settings.cyberops_tz}")
    say(f"twin: {settings.cyberops_scenario}, a step every {settings.cyberops_tick_seconds:g} s"
        if settings.cyberops_tick_seconds > 0 else f"twin: {settings.cyberops_scenario}, steps only when asked")
    stop = threading.Event()
    start_clock(services.conversation, tick_seconds=settings.cyberops_tick_seconds, stop=stop)
    try:
        _run_surfaces(services, settings, say)
    finally:
        stop.set()
        services.scheduler.shutdown()
        services.conversation.defence.close_connections()
    return 0


def _run_surfaces(services: Services, settings: Settings, say) -> None:
    """Discord, Slack Socket Mode and the HTTP app (alerts, /metrics, Slack's HTTP mode): the last one
    configured of those runs in this thread, the others in the background."""
    runs = []
    if services.discord_bot is not None:
        from bot.discord_bot import run_discord

        runs.append(("discord: connecting", functools.partial(run_discord, services.discord_bot,
                                                              settings.discord_token.get_secret_value())))
    if services.slack_app is not None and settings.slack_app_token is not None:
        from bot.slack_app import serve_slack_socket

        runs.append(("slack: Socket Mode", functools.partial(serve_slack_socket, services.slack_app,
                                                             settings.slack_app_token.get_secret_value())))
    if services.http_app is not None:
        from bot.http_app import serve_http

        routes = ", ".join(["GET /healthz", "GET /metrics"]
                           + ["POST /alerts", "POST /alerts/alertmanager"] * services.http_app.intake.enabled
                           + ["POST /slack/events"] * (services.http_app.slack is not None))
        runs.append((f"http: {settings.cyberops_host}:{settings.cyberops_port} ({routes})",
                     functools.partial(serve_http, services.http_app, settings.cyberops_host, settings.cyberops_port)))
    *background, (last_note, last) = runs
    for note, run in background:
        threading.Thread(target=run, daemon=True, name=f"cyberops-{note.split(':')[0]}").start()
        say(note + " (in the background)")
    say(last_note)
    last()
