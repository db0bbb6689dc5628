"""Time to build a posture report (scorecard, risks, recommendations, map and trend PNGs).

The twin first runs a few steps of its attack with the hierarchical defender's actions
applied, so the report has compromises, isolations, attack paths and a trend to draw.
Timed: :func:`bot.report_view.make_report`, the same call chat reports and
``cyberops report`` use (the first build of a process includes matplotlib's import and
the map layout, reported separately from the warm builds).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from twin.scenario import Scenario, load_scenario, scenario_from_dict

LARGE = {
    "name": "bench-5k", "seed": 5, "horizon": 1000,
    "topology": {"subnets": 10, "nodes_per_subnet": 500, "generator": "tree", "entry_nodes": 2,
                 "high_value_nodes": 2, "gateway_links": 3},
    "attack": {"mode": "recon", "intensity": 6, "p_detect": 0.5},
    "defender": {"actions_per_step": 8},
}


def bench_report(scenario: Scenario, *, steps: int = 10, repeats: int = 3) -> dict:
    from bot.report_view import make_report
    from graph.runtime import Defence
    from memory.long_term import OperatorPolicy
    from memory.store import open_store

    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(Path(tmp) / "r.db")
        defence = Defence(scenario=scenario, store=store, restore=False)
        defence.long.save_policy(OperatorPolicy(autonomy={k: "auto" for k in ("isolate", "patch", "reset", "recover")}))
        defence.open_incident(max_cycles=steps)
        start = time.perf_counter()
        make_report(defence, scope="bench")
        first = time.perf_counter() - start
        warm = []
        for _ in range(repeats):
            start = time.perf_counter()
            report, images = make_report(defence, scope="bench")
            warm.append(time.perf_counter() - start)
        out = {"scenario": scenario.name, "hosts": defence.sim.network.n_nodes, "steps": steps,
               "first_s": round(first, 2), "warm_p50_s": round(statistics.median(warm), 2),
               "map_kb": round(len(images["map"]) / 1024), "paths": len(report.paths)}
        defence.close_connections()
        store.close()
    return out


def scenarios(which: str) -> list[Scenario]:
    chosen = {"demo": [load_scenario("demo")], "5k": [scenario_from_dict(LARGE, source="bench-5k")]}
    return chosen.get(which) or chosen["demo"] + chosen["5k"]
