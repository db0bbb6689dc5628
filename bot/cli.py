"""``cyberops``: the command line, the composition root of the whole bot.

Subcommands build what they need (scenario, twin, defender) and render results; any
bad input file ends in one line on stderr naming file, field and problem, exit 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from rl_agents.defenders import DEFENDER_NAMES
from twin.errors import InputError

EXIT_BAD_INPUT = 2
TRAINABLE_AGENTS = ("fortify", "block", "purge", "recover", "flat-marl")


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
                    "overall the mean and 95% confidence interval over seeds of availability, healthy ratio, "
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cyberops",
        description="CyberOps-Bots: an incident-response bot for cloud networks, with a digital twin, "
                    "RL defence agents and a planner.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_sim(sub)
    from bot.bench_cli import add_bench_commands

    add_bench_commands(sub)
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
