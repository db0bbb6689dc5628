"""Operator-intent recognition on a labelled set: accuracy, confusion, false confirms, speed.

A false confirm (any message not labelled ``confirm`` read as ``confirm``) is the one error
that changes the network without consent, so it is counted apart.  Latency is per single
message after loading, as the chat layer calls it; load time is model + example vectors.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from graph.intents import INTENTS, IntentRecogniser, read_messages
from graph.intent_slots import TwinNames

DEFAULT_SET = Path(__file__).resolve().parents[1] / "tests" / "data" / "intents.jsonl"


def bench_intents(path: str | Path = DEFAULT_SET, *, recogniser: IntentRecogniser | None = None,
                  repeats: int = 3) -> dict:
    """Figures for the labelled JSONL set at ``path`` (``{"text", "intent"}`` per line)."""
    rows = read_messages(path, labelled=True)
    names = TwinNames.demo()  # built before timing: the twin is the chat layer's, not the model's
    load_s = None
    if recogniser is None:
        start = time.perf_counter()
        recogniser = IntentRecogniser(names=names)
        load_s = round(time.perf_counter() - start, 3)
    texts = [row["text"] for row in rows]
    predicted = [r["intent"] for r in recogniser.recognise_many(texts, names=names)]
    recogniser.recognise(texts[0], names=names)  # warm-up
    latencies = []
    for _ in range(repeats):
        for text in texts:
            start = time.perf_counter()
            recogniser.recognise(text, names=names)
            latencies.append((time.perf_counter() - start) * 1000)
    confusion: dict[str, Counter] = defaultdict(Counter)
    for row, guess in zip(rows, predicted):
        confusion[row["intent"]][guess] += 1
    correct = sum(row["intent"] == guess for row, guess in zip(rows, predicted))
    return {
        "set": str(path),
        "messages": len(rows),
        "correct": correct,
        "accuracy": round(correct / len(rows), 4),
        "false_confirms": [row["text"] for row, guess in zip(rows, predicted)
                           if guess == "confirm" and row["intent"] != "confirm"],
        "errors": [{"text": row["text"], "label": row["intent"], "predicted": guess}
                   for row, guess in zip(rows, predicted) if guess != row["intent"]],
        "per_intent": {intent: {"n": sum(confusion[intent].values()), "correct": confusion[intent][intent],
                                "confused_with": {k: v for k, v in confusion[intent].items() if k != intent}}
                       for intent in INTENTS if confusion[intent]},
        "latency_ms": {"p50": round(float(np.percentile(latencies, 50)), 2),
                       "p95": round(float(np.percentile(latencies, 95)), 2)},
        "load_s": load_s,
    }


def format_report(result: dict) -> str:
    """Plain-text summary: headline figures, then one line per intent with its confusions."""
    lines = [
        f"set: {result['set']} ({result['messages']} messages)",
        f"accuracy: {result['accuracy']:.1%} ({result['correct']}/{result['messages']})",
        f"false confirms: {len(result['false_confirms'])}" + "".join(f"\n  {t!r}" for t in result["false_confirms"]),
        f"latency per message: p50 {result['latency_ms']['p50']} ms, p95 {result['latency_ms']['p95']} ms",
        f"load: {result['load_s']} s" if result["load_s"] is not None else "load: (given)",
        "per intent (correct/n, then what else it was read as):",
    ]
    for intent, row in result["per_intent"].items():
        others = ", ".join(f"{k} {v}" for k, v in sorted(row["confused_with"].items(), key=lambda kv: -kv[1]))
        lines.append(f"  {intent:<9} {row['correct']:>3}/{row['n']:<3} {others}")
    return "\n".join(lines)
