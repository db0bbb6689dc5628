"""Many concurrent incidents on one large live twin: can the loop keep up with its clock?

Opens ``incidents`` incidents on the 10,000-host twin of ``bench cycle`` (each from an
operator request on a different host; every action class on auto, so no cycle waits for a
person), then times ticks of the live twin: one twin step, then the next cycle of every
open incident, as ``cyberops serve``'s clock does.  The target of issue 8 is that a tick
takes under the clock's period (1 s) with 100 incidents open.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from bench.cycle_bench import LARGE


def bench_incidents(*, incidents: int = 100, ticks: int = 3) -> dict:
    from graph.planning import PlannedAction
    from graph.runtime import Defence
    from memory.long_term import OperatorPolicy
    from memory.store import open_store
    from twin.scenario import scenario_from_dict

    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(Path(tmp) / "incidents.db")
        defence = Defence(scenario=scenario_from_dict(LARGE, source="bench-10k"), store=store, tick_on_act=False,
                          restore=False)
        defence.long.save_policy(OperatorPolicy(autonomy={k: "auto" for k in ("isolate", "patch", "reset", "recover")}))
        net = defence.sim.network
        start = time.perf_counter()
        ids = [defence.open_incident(title=f"bench {i}", requests=[PlannedAction(
                   "patch", (net.names[(i * 97) % net.n_nodes],), "operator", None, "bench")]).incident
               for i in range(incidents)]
        opened = time.perf_counter() - start
        per_tick, open_counts = [], []
        for _ in range(ticks):
            start = time.perf_counter()
            defence.tick_twin()
            live = [row["id"] for row in defence.short.incidents(status="open")]
            for incident in live:
                defence.next_cycle(incident)
            per_tick.append(time.perf_counter() - start)
            open_counts.append(len(live))
        defence.close_connections()
        store.close()
    return {"hosts": net.n_nodes, "incidents": len(ids), "open_s": round(opened, 2),
            "tick_s": [round(t, 2) for t in per_tick], "open_per_tick": open_counts,
            "per_incident_cycle_ms": round(1000 * statistics.median(
                t / max(1, n) for t, n in zip(per_tick, open_counts)), 1),
            "keeps_up_with_1s_tick": max(per_tick) <= 1.0}
