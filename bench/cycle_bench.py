"""Time of one perceive→plan→confirm→act→reflect cycle of the defence loop, embedded planner.

Measured through the compiled LangGraph graph with the SQLite checkpointer on a file
(durability "sync": every node's checkpoint is on disk before the next runs), so a cycle
includes memory and audit writes.  Two paths: ``auto`` (the autonomy policy lets every
action class run, no interrupt) and ``confirmed`` (every cycle interrupts and is resumed
with an approval through ``Defence.decide``).  The twin advances one step per cycle.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from twin.scenario import Scenario, load_scenario, scenario_from_dict

LARGE = {
    "name": "bench-10k", "seed": 1, "horizon": 1000,
    "topology": {"subnets": 10, "nodes_per_subnet": 1000, "generator": "tree", "entry_nodes": 3,
                 "high_value_nodes": 3},
    "attack": {"mode": "recon", "intensity": 4, "p_detect": 0.5},
    "defender": {"actions_per_step": 8},
}


def bench_cycle(scenario: Scenario, *, cycles: int = 20, warmup: int = 3) -> dict:
    from graph.runtime import Defence
    from memory.long_term import OperatorPolicy
    from memory.store import open_store

    out: dict = {"scenario": scenario.name, "cycles": cycles}
    with tempfile.TemporaryDirectory() as tmp:
        for path in ("auto", "confirmed"):
            store = open_store(Path(tmp) / f"{path}.db")
            t0 = time.perf_counter()
            defence = Defence(scenario=scenario, store=store, restore=False)
            out["hosts"] = defence.sim.network.n_nodes
            out[f"{path}_setup_s"] = round(time.perf_counter() - t0, 3)
            if path == "auto":
                defence.long.save_policy(OperatorPolicy(autonomy={k: "auto" for k in ("isolate", "patch", "reset", "recover")}))
            times = _cycles(defence, path, warmup + cycles, max_cycles=warmup + cycles + 1)[warmup:]
            out[f"{path}_p50_ms"] = round(1000 * statistics.median(times), 1)
            out[f"{path}_max_ms"] = round(1000 * max(times), 1)
            defence.close_connections()
            store.close()
    return out


def _cycles(defence, path: str, n: int, *, max_cycles: int) -> list[float]:
    """Seconds per cycle: from one reflect to the next (auto), or decide() to the next ask (confirmed)."""
    times = []
    if path == "auto":
        marks = [time.perf_counter()]
        defence.on_update = lambda incident, update: "reflect" in update and marks.append(time.perf_counter())
        defence.open_incident(max_cycles=n)
        return [b - a for a, b in zip(marks, marks[1:])]
    status = defence.open_incident(max_cycles=max_cycles)
    for _ in range(n):
        if status.pending is None:
            break
        start = time.perf_counter()
        defence.decide(status.incident, status.pending["interrupt_id"], "approve", by="bench")
        status = defence.status(status.incident)
        times.append(time.perf_counter() - start)
    return times


def scenarios(which: str) -> list[Scenario]:
    chosen = {"demo": [load_scenario("demo")], "10k": [scenario_from_dict(LARGE, source="bench-10k")]}
    return chosen.get(which) or chosen["demo"] + chosen["10k"]
