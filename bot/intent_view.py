"""Terminal view of ``cyberops intent``: one message as a coloured one-liner or JSON, or a
JSONL file of messages as JSONL results (read and checked whole before any output)."""

from __future__ import annotations

import json
import sys

from rich.console import Console
from rich.markup import escape

from graph.intent_model import IntentModelError
from graph.intent_slots import SLOT_KINDS, TwinNames
from twin.errors import InputError


def _names(scenario: str | None) -> TwinNames | None:
    if scenario is None:
        return None  # the demo twin's, cached by graph.intent_slots
    from twin.build import build_network
    from twin.scenario import load_scenario

    return TwinNames.from_network(build_network(load_scenario(scenario)))


def _slots(label: str, slots: dict[str, list[str]]) -> str:
    parts = [f"{kind}=" + ",".join(escape(v) for v in slots[kind]) for kind in SLOT_KINDS if slots[kind]]
    return f"  {label} " + " ".join(parts) if parts else ""


def one_line(result: dict) -> str:
    """Rich markup: intent and confidence, then targets, exclusions, schedule and any question back."""
    colour = "green" if result["confidence"] >= 0.6 else "yellow"
    line = f"[bold {colour}]{result['intent']}[/] {result['confidence']:.2f}"
    line += _slots("targets", result["targets"]) + _slots("[red]except[/]", result["exclude"])
    if result["schedule"]:
        line += f"  schedule [cyan]{result['schedule']['cron']}[/] ({escape(result['schedule']['text'])})"
    if result.get("clarify"):
        line += f"  [italic]{escape(result['clarify'])}[/]"
    return line


def run_intent(text: str | None, *, jsonl: str | None, as_json: bool, scenario: str | None,
               console: Console | None = None) -> int:
    """Print what ``text`` (or each line of ``jsonl``) asks for; 1 if the model cannot load."""
    if (text is None) == (jsonl is None):
        raise InputError("command line", "TEXT/--jsonl", "give either a message or --jsonl FILE")
    from graph.intents import read_messages, shared_recogniser

    rows = read_messages(jsonl) if jsonl is not None else None
    names = _names(scenario)
    try:
        recogniser = shared_recogniser()
    except IntentModelError as exc:
        print(f"cyberops: error: {exc}", file=sys.stderr)
        return 1
    if rows is not None:
        for result in recogniser.recognise_many([row["text"] for row in rows], names=names):
            print(json.dumps(result, ensure_ascii=False))
        return 0
    result = recogniser.recognise(text, names=names)
    if as_json:
        print(json.dumps(result, ensure_ascii=False))
    else:
        (console or Console(highlight=False, soft_wrap=True)).print(one_line(result))
    return 0
