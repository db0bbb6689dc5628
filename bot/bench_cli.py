"""``cyberops bench …``: the benchmarks that print the figures in BENCHMARKS.md."""

from __future__ import annotations

import argparse
import json
import time

from bench.reliability import PARTS
from twin.errors import InputError


def add_bench_commands(sub: argparse._SubParsersAction) -> None:
    _add_bench(sub)


def _add_bench(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="benchmarks that print figures", description="Benchmarks that print figures.")
    bsub = p.add_subparsers(dest="bench", required=True, metavar="BENCH")
    s = bsub.add_parser(
        "sim", help="simulator steps per second, one environment and batched",
        description="Simulator throughput on one tree subnet of N hosts (recon attacker x2, "
                    "random defender with one action per step, availability every step).",
    )
    s.add_argument("--nodes", type=int, default=30, metavar="N", help="hosts in the subnet (default: 30)")
    s.add_argument("--batch", type=int, default=1024, metavar="B", help="environments in the batched run (default: 1024)")
    s.add_argument("--steps", type=int, metavar="S", help="steps per environment (default: scaled to N)")
    s.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (default: 0)")
    s.add_argument("--json", action="store_true", help="print one JSON object")
    s.set_defaults(func=_cmd_bench_sim)
    a = bsub.add_parser(
        "availability", help="error and cost of the sampled availability estimate",
        description="Compare the sampled availability estimate (used above 300 hosts per subnet) "
                    "with the exact value on random isolation patterns.",
    )
    a.add_argument("--nodes", type=int, default=1000, metavar="N", help="hosts in the subnet (default: 1000)")
    a.add_argument("--sources", type=int, default=128, metavar="K", help="sampled source hosts (default: 128)")
    a.add_argument("--generator", default="tree", choices=["tree", "watts_strogatz", "fat_tree"])
    a.add_argument("--trials", type=int, default=40, metavar="T", help="isolation patterns per level (default: 40)")
    a.add_argument("--seed", type=int, default=0, metavar="S")
    a.set_defaults(func=_cmd_bench_availability)
    i = bsub.add_parser(
        "intents", help="operator-intent accuracy, false confirms and latency on a labelled set",
        description="Recognise every message of a labelled JSONL set ({\"text\", \"intent\"} per line) and "
                    "report accuracy, per-intent confusion, false confirms, p50/p95 latency and load time.",
    )
    i.add_argument("--data", metavar="FILE", help="labelled JSONL set (default: tests/data/intents.jsonl)")
    i.add_argument("--json", action="store_true", help="print one JSON object")
    i.set_defaults(func=_cmd_bench_intents)
    c = bsub.add_parser(
        "cycle", help="time of one perceive→plan→confirm→act→reflect cycle of the defence loop",
        description="Time cycles of the defence loop (embedded planner, SQLite checkpointer on a file) on the "
                    "demo network and a 10,000-host twin: with every action class on auto (no interrupt), and "
                    "with a confirmation resumed by an approval each cycle.",
    )
    c.add_argument("--twin", choices=["demo", "10k", "all"], default="all", help="which twin (default: all)")
    c.add_argument("--cycles", type=int, default=20, metavar="N", help="timed cycles per path (default: 20)")
    c.add_argument("--json", action="store_true", help="print one JSON object per twin")
    c.set_defaults(func=_cmd_bench_cycle)
    r = bsub.add_parser(
        "report", help="time to build a posture report (scorecard, map and trend PNGs)",
        description="Build posture reports on the demo network and on a 5,000-host twin after a few steps of "
                    "attack and defence; report the first build (imports, layout) and the warm median.",
    )
    r.add_argument("--twin", choices=["demo", "5k", "all"], default="all", help="which twin (default: all)")
    r.add_argument("--json", action="store_true", help="print one JSON object per twin")
    r.set_defaults(func=_cmd_bench_report)
    k = bsub.add_parser(
        "kill", help="SIGKILL the bot at random points of incidents, restart, and count what was lost or doubled",
        description="Each trial kills a worker process driving incidents at a random moment (while planning, "
                    "while a confirmation is pending, between approval and execution, during execution or "
                    "reflection), restarts from the same SQLite file, finishes the incidents and checks that "
                    "every approved action ran exactly once and no confirmation was lost or decided twice.",
    )
    k.add_argument("--trials", type=int, default=100, metavar="N", help="kill points to try (default: 100)")
    k.add_argument("--seed", type=int, default=0, metavar="S", help="first trial's seed (default: 0)")
    k.add_argument("--live", action="store_true",
                   help="drive incidents on a live twin with a ticking clock, as `cyberops serve` does "
                        "(default: one run-incident loop at a time)")
    k.add_argument("--json", action="store_true", help="print one JSON object")
    k.set_defaults(func=_cmd_bench_kill)
    m = bsub.add_parser(
        "incidents", help="many concurrent incidents on a 10,000-host live twin: time per tick",
        description="Let the attacker run WARMUP steps on a 10,000-host live twin, open N incidents (each on an "
                    "operator's request for one host, so each defends that host's subnet; every action class on "
                    "auto) and time ticks: one twin step plus the next cycle of every open incident, as cyberops "
                    "serve's clock runs them (without chat posts). Prints wall and CPU seconds per tick.",
    )
    m.add_argument("--incidents", type=int, default=100, metavar="N", help="incidents to open (default: 100)")
    m.add_argument("--ticks", type=int, default=5, metavar="T", help="ticks to time (default: 5)")
    m.add_argument("--warmup", type=int, default=20, metavar="W",
                   help="attacker steps before the incidents open (default: 20)")
    m.add_argument("--json", action="store_true", help="print one JSON object")
    m.set_defaults(func=_cmd_bench_incidents)
    k = bsub.add_parser(
        "slack", help="Slack ack latency under concurrent /cyberops requests, and approve-click-to-action time",
        description="Serve the real Bolt app on 127.0.0.1 against a local fake Web API (from tests/) and measure "
                    "the ack latency of signed /cyberops status requests sent N at a time from another process, "
                    "and the time from a signed approve click to the plan's actions executed (demo twin).",
    )
    k.add_argument("--concurrency", type=int, default=50, metavar="N", help="requests at a time (default: 50)")
    k.add_argument("--rounds", type=int, default=4, metavar="R", help="timed rounds of N requests (default: 4)")
    k.add_argument("--clicks", type=int, default=10, metavar="C", help="timed approve clicks (default: 10)")
    k.add_argument("--json", action="store_true", help="print one JSON object")
    k.set_defaults(func=_cmd_bench_slack)
    load = bsub.add_parser(
        "slack-load", help="1,000 signed Slack requests from 50 concurrent clients: acks, errors, duplicate actions",
        description="Serve the app `cyberops serve` runs (Slack over HTTP) on 127.0.0.1 against a local fake Web API "
                    "(from tests/), defend the demo twin live with 10 incidents open, and send signed requests from "
                    "another process: ~60% /cyberops status|hosts|incidents, ~25% thread messages and mentions, "
                    "~15% approve/reject clicks on posted confirmations (half pressed twice). Reports acks within "
                    "3 s, errors, ack p50/p99 and duplicate actions; exit 1 when a target is missed.",
    )
    load.add_argument("--requests", type=int, default=1000, metavar="N", help="requests in all (default: 1000)")
    load.add_argument("--clients", type=int, default=50, metavar="C", help="concurrent clients (default: 50)")
    load.add_argument("--json", action="store_true", help="print one JSON object")
    load.set_defaults(func=_cmd_bench_slack_load)
    h = bsub.add_parser(
        "hostile", help="a fixed catalogue of hostile inputs: how many tried, how many rejected with no effect",
        description="Serve the app `cyberops serve` runs (Slack over HTTP, alerts on) on 127.0.0.1 against a local "
                    "fake Web API and chat-completions server (from tests/), the demo twin defended live, and send "
                    "forged, stale and replayed Slack requests, clicks by non-approvers and on stale or broken "
                    "buttons, oversized text, operator messages that try to approve, bad alerts, and LLM tool calls "
                    "that try to approve or act on a protected host. Reports tried/rejected per category and "
                    "lost or duplicated actions; exit 1 when anything got through.",
    )
    h.add_argument("--json", action="store_true", help="print one JSON object")
    h.set_defaults(func=_cmd_bench_hostile)
    _add_bench_reliability(bsub)


def _add_bench_reliability(bsub: argparse._SubParsersAction) -> None:
    r = bsub.add_parser(
        "reliability", help="issue 8's figures in one run: kill points, Slack load, hostile inputs, incidents",
        description="Run the kill-point (run-incident and live-twin), Slack-load, hostile-input and many-incidents "
                    "benches one after another "
                    "(with progress), then print one summary table: kill points survived/tried, Slack requests "
                    "served/sent with ack p50/p99, hostile inputs rejected/tried, the tick time with N incidents "
                    "open against 1 s, and the actions lost and duplicated over all parts (target 0), each PASS "
                    "or MISS against issue 8's targets. Exit status 1 when any target is missed (or a part fails), "
                    "0 when every one is met. At the defaults it takes about 25-35 minutes on 2 cores.",
    )
    r.add_argument("--only", default=",".join(PARTS), metavar="PARTS",
                   help=f"comma-separated parts to run, of {','.join(PARTS)} (default: all)")
    r.add_argument("--kill-trials", type=int, default=100, metavar="N", help="kill points to try (default: 100)")
    r.add_argument("--kill-live-trials", type=int, default=50, metavar="N",
                   help="kill points to try on a live twin, as serve runs it (default: 50)")
    r.add_argument("--requests", type=int, default=1000, metavar="N", help="Slack requests in all (default: 1000)")
    r.add_argument("--clients", type=int, default=50, metavar="C", help="concurrent Slack clients (default: 50)")
    r.add_argument("--incidents", type=int, default=100, metavar="N",
                   help="incidents open on the 10,000-host twin (default: 100)")
    r.add_argument("--ticks", type=int, default=5, metavar="T", help="ticks to time with them (default: 5)")
    r.add_argument("--tick-target", type=float, default=1.0, metavar="S",
                   help="longest tick that passes, in seconds (default: 1, the clock's period)")
    r.add_argument("--seed", type=int, default=0, metavar="S",
                   help="first kill trial's seed and the Slack mix's (default: 0)")
    r.add_argument("--json", action="store_true", help="print one JSON object (progress goes to stderr)")
    r.set_defaults(func=_cmd_bench_reliability)


def _cmd_bench_reliability(args: argparse.Namespace) -> int:
    from rich.console import Console

    from bench.reliability import run_parts, summary_rows, summary_table, targets_met

    parts = tuple(dict.fromkeys(p.strip() for p in args.only.split(",") if p.strip()))
    unknown = [p for p in parts if p not in PARTS]
    if not parts or unknown:
        raise InputError("command line", "--only", (f"unknown part {unknown[0]!r}" if unknown else "name at least "
                                                    "one part") + f"; choose from {','.join(PARTS)}")
    if args.kill_trials < 1 or args.kill_live_trials < 1 or args.requests < 20 or args.clients < 1 or args.incidents < 1 or args.ticks < 1:
        raise InputError("command line", "--kill-trials/--kill-live-trials/--requests/--clients/--incidents/--ticks",
                         "need kill trials >= 1 (both kinds), requests >= 20, clients >= 1, incidents >= 1, ticks >= 1")
    started = time.monotonic()
    results = run_parts(parts, kill_trials=args.kill_trials, kill_live_trials=args.kill_live_trials,
                        requests=args.requests, clients=args.clients,
                        incidents=args.incidents, ticks=args.ticks, seed=args.seed, tick_target_s=args.tick_target,
                        console=Console(stderr=args.json))
    rows = summary_rows(results, tick_target_s=args.tick_target)
    met = targets_met(rows)
    seconds = time.monotonic() - started
    if args.json:
        print(json.dumps({"summary": rows, "targets_met": met, "seconds": round(seconds, 1), "parts": results}))
    else:
        Console().print(summary_table(rows, seconds=seconds))
    return 0 if met else 1


def _cmd_bench_slack(args: argparse.Namespace) -> int:
    from bench.slack_bench import bench_slack, format_report

    if args.concurrency < 1 or args.rounds < 1 or args.clicks < 1:
        raise InputError("command line", "--concurrency/--rounds/--clicks", "each must be at least 1")
    result = bench_slack(concurrency=args.concurrency, rounds=args.rounds, clicks=args.clicks)
    print(json.dumps(result) if args.json else format_report(result))
    return 0


def _cmd_bench_hostile(args: argparse.Namespace) -> int:
    from bench.hostile import bench_hostile, format_report

    result = bench_hostile()
    print(json.dumps(result) if args.json else format_report(result))
    return 0 if result["all_rejected"] else 1


def _cmd_bench_slack_load(args: argparse.Namespace) -> int:
    from bench.slack_load import bench_slack_load, format_report

    if args.requests < 20 or args.clients < 1:
        raise InputError("command line", "--requests/--clients", "need requests >= 20 and clients >= 1")
    result = bench_slack_load(requests=args.requests, clients=args.clients)
    print(json.dumps(result) if args.json else format_report(result))
    return 0 if result["meets_targets"] else 1


def _cmd_bench_incidents(args: argparse.Namespace) -> int:
    from bench.incidents_bench import bench_incidents

    if args.incidents < 1 or args.ticks < 1 or args.warmup < 0:
        raise InputError("command line", "--incidents/--ticks/--warmup", "need at least 1 incident and tick, "
                         "and no negative warm-up")
    result = bench_incidents(incidents=args.incidents, ticks=args.ticks, warmup=args.warmup)
    print(json.dumps(result) if args.json else json.dumps(result, indent=1))
    return 0


def _cmd_bench_kill(args: argparse.Namespace) -> int:
    from bench.kill_points import run

    if args.trials < 1:
        raise InputError("command line", "--trials", f"must be at least 1, not {args.trials}")
    progress = None if args.json else (lambda i, r: print(
        f"trial {i}/{args.trials}: killed during {r['stage']}: {'OK' if not r['problems'] else r['problems'][:2]}",
        flush=True))
    result = run(args.trials, seed=args.seed, progress=progress, live=args.live)
    print(json.dumps(result) if args.json else json.dumps(result, indent=1))
    return 0 if result["failed"] == 0 else 1


def _cmd_bench_report(args: argparse.Namespace) -> int:
    from bench.report_bench import bench_report, scenarios

    for scenario in scenarios(args.twin):
        result = bench_report(scenario)
        if args.json:
            print(json.dumps(result))
        else:
            print(f"{result['scenario']} ({result['hosts']} hosts): first report {result['first_s']} s, "
                  f"then {result['warm_p50_s']} s (map {result['map_kb']} KB, {result['paths']} attack paths)")
    return 0


def _cmd_bench_cycle(args: argparse.Namespace) -> int:
    from bench.cycle_bench import bench_cycle, scenarios

    if args.cycles < 1:
        raise InputError("command line", "--cycles", f"must be at least 1, not {args.cycles}")
    for scenario in scenarios(args.twin):
        result = bench_cycle(scenario, cycles=args.cycles)
        if args.json:
            print(json.dumps(result))
        else:
            print(f"{result['scenario']} ({result['hosts']} hosts): auto cycle p50 {result['auto_p50_ms']} ms "
                  f"(max {result['auto_max_ms']}), confirmed cycle p50 {result['confirmed_p50_ms']} ms "
                  f"(max {result['confirmed_max_ms']}) over {args.cycles} cycles")
    return 0


def _cmd_bench_availability(args: argparse.Namespace) -> int:
    from bench.availability_bench import bench_availability

    if args.nodes < 4 or args.sources < 1 or args.trials < 1:
        raise InputError("command line", "--nodes/--sources/--trials", "need nodes >= 4, sources >= 1, trials >= 1")
    print(json.dumps(bench_availability(args.nodes, sources=args.sources, generator=args.generator,
                                        trials=args.trials, seed=args.seed)))
    return 0


def _cmd_bench_intents(args: argparse.Namespace) -> int:
    from bench.intents import DEFAULT_SET, bench_intents, format_report

    result = bench_intents(args.data or DEFAULT_SET)
    print(json.dumps(result) if args.json else format_report(result))
    return 0


def _cmd_bench_sim(args: argparse.Namespace) -> int:
    from bench.sim_bench import bench_sim

    if args.nodes < 4 or args.batch < 1 or (args.steps is not None and args.steps < 1):
        raise InputError("command line", "--nodes/--batch/--steps", "need nodes >= 4, batch >= 1, steps >= 1")
    if args.seed < 0:  # numpy seeds are non-negative
        raise InputError("command line", "--seed", f"must be 0 or more, not {args.seed}")
    result = bench_sim(args.nodes, batch=args.batch, steps=args.steps, seed=args.seed)
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:>46}: {value}")
    return 0
