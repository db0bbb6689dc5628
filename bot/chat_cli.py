"""The chat-facing subcommands: ``cyberops demo``, ``cyberops serve``, ``cyberops hosts``.

Each builds the defence loop and the conversation core and wires the surfaces to them
(this is the composition root for chat).
"""

from __future__ import annotations

import argparse
import json

from twin.errors import InputError


def add_chat_commands(sub: argparse._SubParsersAction) -> None:
    d = sub.add_parser(
        "demo", help="the demo network under a live attack, in a chat-like terminal",
        description="Run the defence loop on a live twin in the terminal: incidents open as compromises are "
                    "seen, the plan is posted with its reasons, and you approve, reject, ask (\"why?\", "
                    "\"status\", \"isolate HOST but not the database\") or use /commands. Enter moves the twin "
                    "one step (or --tick S runs it on its own). Without a terminal (or with --auto) a scripted "
                    "operator plays the session.",
    )
    d.add_argument("--scenario", default="demo", metavar="FILE", help="scenario file or shipped name (default: demo)")
    d.add_argument("--db", metavar="PATH", help="memory database (default: $CYBEROPS_DB or ./cyberops.db)")
    d.add_argument("--tick", type=float, default=0.0, metavar="S", help="seconds per twin step (default: 0 = on Enter)")
    d.add_argument("--steps", type=int, metavar="N", help="stop after N steps (default: the scenario's horizon)")
    d.add_argument("--auto", action="store_true", help="let the scripted operator play, even on a terminal")
    d.set_defaults(func=_cmd_demo)

    r = sub.add_parser(
        "report", help="write the posture report (Markdown + map and trend PNGs) to a folder",
        description="Build the posture report of the twin in the memory database (or the scenario's fresh twin): "
                    "IPDRR scorecard with trends, open incidents, actions and who approved them, top risks, "
                    "recommendations, a map of the twin and the availability/compromise trend.",
    )
    r.add_argument("--scenario", default="demo", metavar="FILE", help="scenario file or shipped name (default: demo)")
    r.add_argument("--db", metavar="PATH", help="memory database (default: $CYBEROPS_DB or ./cyberops.db)")
    r.add_argument("--out", required=True, metavar="DIR", help="folder for report.md, map.png and trend.png")
    r.add_argument("--json", action="store_true", help="print a JSON summary")
    r.set_defaults(func=_cmd_report)

    v = sub.add_parser(
        "serve", help="run the configured Slack/Discord surfaces, the twin's clock and the report scheduler",
        description="Run every chat surface whose settings are present (environment or .env): Slack in HTTP mode "
                    "(POST /slack/events, GET /healthz on CYBEROPS_PORT) or Socket Mode with SLACK_APP_TOKEN, and "
                    "Discord; plus the live twin (a step every CYBEROPS_TICK_SECONDS), confirmation expiry and "
                    "scheduled reports. Says which surfaces run and why the others don't.",
    )
    v.add_argument("--sync-discord", action="store_true",
                   help="publish the /cyberops commands to Discord on start (needed once, not every start)")
    v.add_argument("--check", action="store_true", help="print which surfaces would run, and exit")
    v.set_defaults(func=_cmd_serve)

    h = sub.add_parser("hosts", help="list the twin's hosts (name, subnet, role, entry, high value)",
                       description="List the hosts of a scenario's twin with subnet, role and entry/high-value marks.")
    h.add_argument("--scenario", default="demo", metavar="FILE", help="scenario file or shipped name (default: demo)")
    h.add_argument("--json", action="store_true", help="one JSON object per host")
    h.set_defaults(func=_cmd_hosts)


def build_conversation(scenario_name: str, db: str, *, surfaces: dict, channels: dict, approvers=None,
                       live: bool = True, restore: bool = True, confirm_timeout: float | None = None,
                       executor=None):
    """The defence loop on a live twin, and the conversation core over it (``executor``: where approved
    actions go besides the twin; None = simulate)."""
    from bot.conversation import Conversation
    from graph.llm_planner import llm_planner_from_env
    from graph.planning import EmbeddedPlanner
    from graph.runtime import DEFAULT_CONFIRM_TIMEOUT, Defence
    from memory.store import open_store
    from twin.scenario import load_scenario

    from rl_agents.policy import serving_threads

    serving_threads()
    scenario = load_scenario(scenario_name)
    store = open_store(db)
    defence = Defence(scenario=scenario, store=store, tick_on_act=not live, restore=restore,
                      planner=llm_planner_from_env() or EmbeddedPlanner(),
                      confirm_timeout=confirm_timeout or DEFAULT_CONFIRM_TIMEOUT, executor=executor)
    return Conversation(defence=defence, surfaces=surfaces, channels=channels, approvers=approvers)


def _cmd_demo(args: argparse.Namespace) -> int:
    from rich.console import Console

    from bot.console import CHANNEL, ConsoleSurface, interactive, run_demo
    from bot.log_redaction import bot_secrets, install_redaction
    from memory.store import default_db_path

    install_redaction(bot_secrets())  # the LLM's API key (and any chat token in the environment) stays out of logs
    if args.tick < 0:
        raise InputError("command line", "--tick", f"must be 0 or more, not {args.tick}")
    if args.steps is not None and args.steps < 1:
        raise InputError("command line", "--steps", f"must be at least 1, not {args.steps}")
    console = Console(highlight=False)  # our text carries its own emphasis
    surface = ConsoleSurface(console)
    conversation = build_conversation(args.scenario, args.db or default_db_path(), surfaces={"console": surface},
                                      channels={"console": CHANNEL}, restore=False)
    steps = args.steps or conversation.defence.scenario.horizon
    auto = args.auto or not interactive()
    summary = run_demo(conversation, surface, console, auto=auto, steps=steps, tick_seconds=args.tick)
    console.print(f"\n[bold]Demo over[/]: {summary['steps']} steps, {summary['incidents']} incident(s), "
                  f"{summary['executed']} action(s) executed, availability {summary['availability']:.0%}, "
                  f"audit chain {'OK' if summary['audit_ok'] else 'BROKEN'} "
                  f"(cyberops audit --db {conversation.defence.store.path}).")
    conversation.defence.close_connections()
    return 0 if summary["audit_ok"] else 1


def load_settings():
    """Settings from the environment and .env; a bad value is one clear line naming the variable."""
    from pydantic import ValidationError

    from bot.settings import Settings

    try:
        return Settings()
    except ValidationError as exc:
        err = exc.errors()[0]
        name = str(err["loc"][0]).upper() if err["loc"] else "settings"
        raise InputError("environment", name, err["msg"]) from None


def _cmd_serve(args: argparse.Namespace) -> int:
    from bot.serve import serve

    settings = load_settings()
    if args.check:
        for name, why in settings.surfaces().items():
            print(f"{name}: {'would run' if why is None else 'off — ' + why}")
        return 0
    return serve(settings, sync_discord=args.sync_discord)


def _cmd_report(args: argparse.Namespace) -> int:
    from bot.report_view import write_report
    from graph.runtime import Defence
    from memory.store import default_db_path, open_store
    from twin.scenario import load_scenario

    scenario = load_scenario(args.scenario)
    store = open_store(args.db or default_db_path())
    defence = Defence(scenario=scenario, store=store, tick_on_act=False)
    try:
        result = write_report(defence, args.out)
    finally:
        defence.close_connections()
        store.close()
    if args.json:
        print(json.dumps(result))
    else:
        scores = ", ".join(f"{k} {v}" for k, v in result["scores"].items())
        print(f"wrote {', '.join(result['files'])} to {result['out']} in {result['seconds']:.1f} s ({scores})")
    return 0


def _cmd_hosts(args: argparse.Namespace) -> int:
    from twin.build import build_network
    from twin.scenario import load_scenario

    net = build_network(load_scenario(args.scenario))
    rows = [{"name": name, "subnet": net.subnets[net.subnet_of[i]], "role": net.roles[i],
             "entry": bool(net.entry[i]), "high_value": bool(net.high_value[i])} for i, name in enumerate(net.names)]
    if args.json:
        for row in rows:
            print(json.dumps(row))
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{len(rows)} hosts in {net.n_subnets} subnets")
    for column in ("name", "subnet", "role", "entry", "high value"):
        table.add_column(column)
    for r in rows:
        table.add_row(r["name"], r["subnet"], r["role"], "yes" if r["entry"] else "", "yes" if r["high_value"] else "")
    Console().print(table)
    return 0
