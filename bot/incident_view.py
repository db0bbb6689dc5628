"""``cyberops run-incident``: drive one incident through the defence loop without chat.

Decisions come from ``--approve``: ``all``, ``none`` (reject everything), or a script
file with one decision per confirmation, in order (``approve``, ``reject``, or
``edit -HOST -HOST`` to drop hosts; ``#`` starts a comment); when the script runs out,
the rest are rejected.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

from rich.console import Console

from twin.errors import InputError

WHO = "run-incident"


def load_decision_script(path: str) -> list[tuple[str, list[str]]]:
    """Parse a decision script; InputError naming the file and line on a bad one."""
    file = Path(path)
    if not file.is_file():
        raise InputError(path, "", "no such decision script")
    decisions = []
    for number, raw in enumerate(file.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        word, *rest = line.split()
        if word not in ("approve", "reject", "edit"):
            raise InputError(path, f"line {number}", f"{word!r} is not approve, reject or edit")
        if word != "edit" and rest:
            raise InputError(path, f"line {number}", f"{word} takes no hosts")
        if word == "edit" and (not rest or not all(h.startswith("-") and len(h) > 1 for h in rest)):
            raise InputError(path, f"line {number}", "edit needs hosts to drop, each as -HOST")
        decisions.append((word, [h[1:] for h in rest]))
    return decisions


def choose_planner(which: str):
    """``embedded``; ``llm`` (needs the OpenAI settings); ``auto``: the LLM when configured, else embedded."""
    from graph.llm_planner import llm_planner_from_env
    from graph.planning import EmbeddedPlanner

    llm = llm_planner_from_env() if which in ("auto", "llm") else None
    if which == "llm" and llm is None:
        raise InputError("command line", "--planner", "llm needs CYBEROPS_LLM_MODEL and OPENAI_BASE_URL or "
                                                      "OPENAI_API_KEY in the environment")
    return llm or EmbeddedPlanner()


def run_incident(scenario_name: str, *, approve: str, script: str | None, steps: int | None, db: str,
                 as_json: bool, planner: str = "auto", console: Console | None = None) -> int:
    from graph.runtime import Defence
    from memory.store import open_store
    from twin.scenario import load_scenario

    if steps is not None and steps < 1:
        raise InputError("command line", "--steps", f"must be at least 1, not {steps}")
    if approve not in ("all", "none", "script"):
        raise InputError("command line", "--approve", f"{approve!r} is not all, none or script")
    if (approve == "script") != (script is not None):
        raise InputError("command line", "--approve", "'script' needs a FILE (--approve script FILE), and only it")
    decisions = load_decision_script(script) if script else []
    scenario = load_scenario(scenario_name)
    console = console or Console(stderr=as_json)
    store = open_store(db)
    defence = Defence(scenario=scenario, store=store, restore=False, planner=choose_planner(planner))
    asked: list[dict[str, Any]] = []

    def decide(payload: dict[str, Any]) -> tuple[str, list[str]]:
        if approve == "all":
            decision = ("approve", [])
        elif approve == "none":
            decision = ("reject", [])
        else:
            decision = decisions.pop(0) if decisions else ("reject", [])
        asked.append({"interrupt_id": payload["interrupt_id"], "decision": decision[0], "drop": decision[1]})
        if not as_json:
            _print_confirmation(console, payload, decision)
        return decision

    start = time.perf_counter()
    status = defence.open_incident(title=f"run-incident: {scenario.name}", max_cycles=steps)
    status = defence.run(status.incident, decide, by=WHO)
    seconds = time.perf_counter() - start
    actions = defence.short.actions(status.incident)
    audit_ok = defence.audit.verify() is None
    history = status.state.get("history", [])
    report = {
        "incident": status.incident, "scenario": scenario.name, "planner": defence.planner.name,
        "outcome": status.outcome,
        "steps": len(history), "seconds": round(seconds, 3),
        "availability": history[-1]["availability_after"] if history else None,
        "confirmations": len(asked),
        "actions": dict(Counter(a.status for a in actions)),
        "executed": dict(Counter(a.kind for a in actions if a.status == "executed")),
        "audit_entries": len(defence.audit.entries(incident=status.incident)), "audit_chain_ok": audit_ok,
        "db": db, "history": history,
    }
    defence.close_connections()
    store.close()
    if as_json:
        print(json.dumps(report))
    else:
        console.print(f"[bold]{status.incident}[/] closed: {status.outcome}")
        console.print(f"{report['steps']} steps in {seconds:.1f} s; availability at close "
                      f"{report['availability']:.0%}; actions {report['actions']}; executed {report['executed']}")
        console.print(f"audit: {report['audit_entries']} entries, chain {'OK' if audit_ok else 'BROKEN'} "
                      f"(cyberops audit --db {db} --incident {status.incident})")
    return 0 if audit_ok else 1


def _print_confirmation(console: Console, payload: dict[str, Any], decision: tuple[str, list[str]]) -> None:
    console.print(f"[cyan]step {payload['cycle']}[/] {payload['summary']}")
    for note in payload.get("notes", []):
        console.print(f"   [dim]{note}[/]")
    for a in payload["actions"]:
        console.print(f"   {a['kind']:<8} {', '.join(a['targets']):<22} [dim]{a['source']}: {a['reason']}[/]")
    drop = f" (drop {', '.join(decision[1])})" if decision[1] else ""
    console.print(f"   → {decision[0]}{drop}")
