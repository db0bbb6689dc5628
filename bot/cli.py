"""``cyberops``: the command line, the composition root of the whole bot.

Subcommands build what they need (scenario, twin, defender) and render results; any
bad input file ends in one line on stderr naming file, field and problem, exit 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from rl_agents.defenders import DEFENDER_NAMES
from twin.errors import InputError

EXIT_BAD_INPUT = 2


def _add_sim(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "sim",
        help="simulate attacks and a defence on a scenario (default: the demo network)",
        description=(
            "Play a scenario's phases (the base, then each shift) with a defender, showing "
            "live progress, and print a summary per phase: availability, healthy ratio, "
            "high-value-host losses."
        ),
    )
    p.add_argument("--scenario", default="demo", metavar="FILE",
                   help="scenario file, or a shipped scenario's name (default: demo; see `cyberops scenarios`)")
    p.add_argument("--episodes", type=int, metavar="N", help="episodes per phase (default: the scenario's)")
    p.add_argument("--seed", type=int, metavar="S", help="random seed (default: the scenario's)")
    p.add_argument("--defender", default="hierarchical", choices=list(DEFENDER_NAMES),
                   help="who defends (default: hierarchical, the planner with the four pretrained agents; "
                        "greedy = a hand-written responder; flat-marl = the flat MAPPO baseline)")
    p.add_argument("--json", action="store_true", help="print the phase summaries as JSON, no progress display")
    p.set_defaults(func=_cmd_sim)


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
    k.add_argument("--json", action="store_true", help="print one JSON object")
    k.set_defaults(func=_cmd_bench_kill)
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
                    "another process: ~60%% /cyberops status|hosts|incidents, ~25%% thread messages and mentions, "
                    "~15%% approve/reject clicks on posted confirmations (half pressed twice). Reports acks within "
                    "3 s, errors, ack p50/p99 and duplicate actions; exit 1 when a target is missed.",
    )
    load.add_argument("--requests", type=int, default=1000, metavar="N", help="requests in all (default: 1000)")
    load.add_argument("--clients", type=int, default=50, metavar="C", help="concurrent clients (default: 50)")
    load.add_argument("--json", action="store_true", help="print one JSON object")
    load.set_defaults(func=_cmd_bench_slack_load)


def _cmd_bench_slack(args: argparse.Namespace) -> int:
    from bench.slack_bench import bench_slack, format_report

    if args.concurrency < 1 or args.rounds < 1 or args.clicks < 1:
        raise InputError("command line", "--concurrency/--rounds/--clicks", "each must be at least 1")
    result = bench_slack(concurrency=args.concurrency, rounds=args.rounds, clicks=args.clicks)
    print(json.dumps(result) if args.json else format_report(result))
    return 0


def _cmd_bench_slack_load(args: argparse.Namespace) -> int:
    from bench.slack_load import bench_slack_load, format_report

    if args.requests < 20 or args.clients < 1:
        raise InputError("command line", "--requests/--clients", "need requests >= 20 and clients >= 1")
    result = bench_slack_load(requests=args.requests, clients=args.clients)
    print(json.dumps(result) if args.json else format_report(result))
    return 0 if result["meets_targets"] else 1


def _cmd_bench_kill(args: argparse.Namespace) -> int:
    from bench.kill_points import run

    if args.trials < 1:
        raise InputError("command line", "--trials", f"must be at least 1, not {args.trials}")
    progress = None if args.json else (lambda i, r: print(
        f"trial {i}/{args.trials}: killed during {r['stage']}: {'OK' if not r['problems'] else r['problems'][:2]}",
        flush=True))
    result = run(args.trials, seed=args.seed, progress=progress)
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


TRAINABLE_AGENTS = ("fortify", "block", "purge", "recover", "flat-marl")


def _add_train(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train", help="train a per-region RL agent (PPO, random regions) or the flat-marl baseline",
        description="Train one of the four per-region agents (fortify=patch, block=isolate, purge=reset, "
                    "recover=recover) with PPO on random regions (structure, size, attacker, intensity), or "
                    "flat-marl (MAPPO-style PPO on paper-base), showing progress; writes metrics.csv, "
                    "summary.json, the weights and manifest.json to the run folder.",
    )
    p.add_argument("--agent", required=True, metavar="{" + ",".join(TRAINABLE_AGENTS) + "}",
                   help="which agent to train")
    p.add_argument("--steps", type=int, default=1_000_000, metavar="N",
                   help="environment steps to train for (default: 1000000, 5-7 minutes on one core)")
    p.add_argument("--seed", type=int, default=1, metavar="S", help="random seed (default: 1)")
    p.add_argument("--out", metavar="DIR", help="run folder (default: runs/<agent>-<seed>)")
    p.set_defaults(func=_cmd_train)


def _cmd_train(args: argparse.Namespace) -> int:
    if args.agent not in TRAINABLE_AGENTS:
        raise InputError("command line", "--agent", f"unknown agent {args.agent!r}; choose one of {', '.join(TRAINABLE_AGENTS)}")
    if args.steps < 1:
        raise InputError("command line", "--steps", f"must be 1 or more, not {args.steps}")
    if args.seed < 0:  # numpy seeds are non-negative
        raise InputError("command line", "--seed", f"must be 0 or more, not {args.seed}")
    out = args.out or f"runs/{args.agent}-{args.seed}"
    if args.agent == "flat-marl":  # the MAPPO baseline on paper-base (rl_agents/flat_marl.py)
        from rl_agents import flat_marl

        summary = flat_marl.train(flat_marl.Args(steps=args.steps, seed=args.seed), out)
        print(f"flat-marl: {summary['steps']} steps in {summary['wall_seconds']} s; held-out availability "
              f"{summary['held_out']['flat-marl']['availability']:.3f} (random "
              f"{summary['held_out']['random']['availability']:.3f}); weights and manifest in {out}")
        return 0
    from rl_agents.ppo import Args, train

    summary = train(Args(agent=args.agent, steps=args.steps, seed=args.seed), out)
    held = summary["held_out"]
    print(f"{args.agent}: {summary['steps']} steps in {summary['wall_seconds']} s; held-out return "
          f"{held['agent']['episode_return']:.2f} (random valid host {held['random_valid_host']['episode_return']:.2f}); "
          f"weights and manifest in {out}")
    return 0


def _add_eval(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval", help="compare defenders across a scenario's phases and shifts, with jumpstart",
        description="Run each defender through the scenario's phases (the base, then each shift, without "
                    "retraining) over several seeds, in parallel over the cores, and report per phase and "
                    "overall the mean and 95%% confidence interval over seeds of availability, healthy ratio, "
                    "HVN-loss rate, episode return and jumpstart against flat-marl (always played).",
    )
    p.add_argument("--scenario", default="paper-shifts", metavar="FILE",
                   help="scenario file or shipped name (default: paper-shifts)")
    p.add_argument("--defenders", default=",".join(DEFENDER_NAMES), metavar="A,B,...",
                   help=f"comma-separated defenders (default: {','.join(DEFENDER_NAMES)})")
    p.add_argument("--seeds", type=int, default=5, metavar="N", help="seeds per defender (default: 5)")
    p.add_argument("--episodes", type=int, metavar="E", help="episodes per phase (default: the scenario's)")
    p.add_argument("--k", type=int, default=5, metavar="K", help="episodes after a shift for jumpstart (default: 5)")
    p.add_argument("--workers", type=int, metavar="W", help="processes (default: one per core)")
    p.add_argument("--json", action="store_true", help="print one JSON object (progress goes to stderr)")
    p.set_defaults(func=_cmd_eval)


def _cmd_eval(args: argparse.Namespace) -> int:
    from bot.eval_view import run_eval

    return run_eval(args.scenario, defenders=args.defenders, seeds=args.seeds, episodes=args.episodes,
                    k=args.k, as_json=args.json, workers=args.workers)


def _add_scenarios(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("scenarios", help="list the shipped scenarios", description="List the shipped scenarios.")
    p.set_defaults(func=_cmd_scenarios)


def _add_audit(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "audit", help="print the audit log of actions, or verify its hash chain",
        description="Print the append-only audit log (every proposed, approved, rejected, expired, refused "
                    "and executed action, with who, when, why, targets and result), or with --verify check "
                    "its hash chain: exit 0 when intact, 1 naming the first broken row.",
    )
    p.add_argument("--db", metavar="PATH", help="memory database (default: $CYBEROPS_DB or ./cyberops.db)")
    p.add_argument("--incident", metavar="ID", help="only this incident's entries")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.add_argument("--verify", action="store_true", help="check the whole hash chain instead of printing it")
    p.set_defaults(func=_cmd_audit)


def _cmd_audit(args: argparse.Namespace) -> int:
    from bot.audit_view import run_audit
    from memory.store import default_db_path

    return run_audit(args.db or default_db_path(), incident=args.incident, as_json=args.json, verify=args.verify)


def _add_run_incident(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "run-incident", help="drive one incident through perceive→plan→confirm→act→reflect, without chat",
        description="Open an incident on the scenario's twin and run the defence loop (embedded planner) to its "
                    "end, answering every confirmation from --approve: all, none (reject all), or "
                    "'script FILE' (one line per confirmation: approve, reject, or edit -HOST ...; the rest are "
                    "rejected when it runs out). Everything is recorded in the memory database and its audit log.",
    )
    p.add_argument("--scenario", default="demo", metavar="FILE", help="scenario file or shipped name (default: demo)")
    p.add_argument("--approve", nargs="+", default=["all"], metavar="MODE",
                   help="all | none | script FILE (default: all)")
    p.add_argument("--steps", type=int, metavar="N", help="stop after N steps (default: until the incident ends)")
    p.add_argument("--planner", choices=["auto", "embedded", "llm"], default="auto",
                   help="auto (default): the LLM planner when CYBEROPS_LLM_MODEL and OPENAI_BASE_URL or "
                        "OPENAI_API_KEY are set, else the embedded one")
    p.add_argument("--db", metavar="PATH", help="memory database (default: $CYBEROPS_DB or ./cyberops.db)")
    p.add_argument("--json", action="store_true", help="print one JSON object (progress goes to stderr)")
    p.set_defaults(func=_cmd_run_incident)


def _cmd_run_incident(args: argparse.Namespace) -> int:
    from bot.incident_view import run_incident
    from memory.store import default_db_path

    mode, *rest = args.approve
    if len(rest) > 1 or (rest and mode != "script"):
        raise InputError("command line", "--approve", "give all, none, or script FILE")
    return run_incident(args.scenario, approve=mode, script=rest[0] if rest else None, steps=args.steps,
                        db=args.db or default_db_path(), as_json=args.json, planner=args.planner)


def _add_intent(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "intent", help="read an operator message as an intent with targets, exclusions and schedule",
        description="Recognise what a chat message asks for (offline MiniLM model plus rules): intent, "
                    "confidence, target and excluded hosts/subnets/roles of the twin, and a cron schedule. "
                    "Only an explicit confirmation word is ever read as confirm.",
    )
    p.add_argument("text", nargs="?", metavar="TEXT", help="the message (quote it)")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    p.add_argument("--jsonl", metavar="FILE", help='read one {"text": ...} per line, write one JSON result per line')
    p.add_argument("--scenario", metavar="NAME|FILE", help="take host/subnet/role names from this twin (default: demo)")
    p.set_defaults(func=_cmd_intent)


def _cmd_intent(args: argparse.Namespace) -> int:
    from bot.intent_view import run_intent

    return run_intent(args.text, jsonl=args.jsonl, as_json=args.json, scenario=args.scenario)


def _cmd_bench_intents(args: argparse.Namespace) -> int:
    from bench.intents import DEFAULT_SET, bench_intents, format_report

    result = bench_intents(args.data or DEFAULT_SET)
    print(json.dumps(result) if args.json else format_report(result))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cyberops",
        description="CyberOps-Bots: an incident-response bot for cloud networks, with a digital twin, "
                    "RL defence agents and a planner.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_sim(sub)
    _add_bench(sub)
    _add_eval(sub)
    _add_scenarios(sub)
    _add_train(sub)
    _add_audit(sub)
    _add_intent(sub)
    _add_run_incident(sub)
    from bot.chat_cli import add_chat_commands
    from bot.twin_cli import add_twin_commands

    add_chat_commands(sub)
    add_twin_commands(sub)
    return parser


def _cmd_sim(args: argparse.Namespace) -> int:
    from bot.sim_view import run_sim

    return run_sim(
        args.scenario, episodes=args.episodes, seed=args.seed, defender=args.defender, as_json=args.json
    )


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


def _cmd_scenarios(args: argparse.Namespace) -> int:
    from twin.scenario import load_scenario, shipped_scenarios

    for name, path in sorted(shipped_scenarios().items()):
        scenario = load_scenario(path)
        print(f"{name:<22} {scenario.description}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    from memory.store import MemoryUnavailable

    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (InputError, MemoryUnavailable) as exc:  # MemoryUnavailable: a locked, read-only, full or non-database --db
        print(f"cyberops: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("cyberops: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (| head): stop quietly
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
