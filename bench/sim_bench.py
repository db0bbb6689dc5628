"""Simulator throughput: steps per second for one environment and for a batch.

Workload (pessimistic for availability, whose cache is invalidated by every link
change): one tree subnet of ``nodes`` hosts, 2 entry and 2 high-value hosts, the recon
attacker at intensity 2, and a random defender taking one action per step (isolate,
recover, reset or patch, uniformly, on a uniformly random host).  Episodes of 30 steps;
finished environments are reset, and resets are counted in the time.
"""

from __future__ import annotations

import json
import time

import numpy as np

from twin.network import Network
from twin.sim import Simulator
from twin.topology import assemble, tree


def _network(nodes: int, seed: int) -> Network:
    rng = np.random.default_rng(seed)
    return assemble([tree(nodes, rng)], entry=2, high_value=2, rng=rng)


def _run(net: Network, batch: int, steps: int, seed: int, availability: bool) -> float:
    sim = Simulator(net, mode="recon", intensity=2, horizon=30, batch=batch, seed=seed)
    rng = np.random.default_rng(seed + 1)
    kinds = rng.integers(1, 5, size=(steps, batch))
    nodes = rng.integers(0, net.n_nodes, size=(steps, batch))
    start = time.perf_counter()
    for i in range(steps):
        sim.step(kinds[i], nodes[i], availability=availability)
        done = sim.done
        if done.any():
            sim.reset(done)
    return steps * batch / (time.perf_counter() - start)


def default_steps(nodes: int) -> int:
    return int(max(100, min(5000, 2_000_000 // max(nodes, 1))))


def bench_sim(nodes: int, *, batch: int = 1024, steps: int | None = None, seed: int = 0) -> dict:
    """Measure and return the figures as a dict (one JSON object for the CLI)."""
    net = _network(nodes, seed)
    single_steps = steps or default_steps(nodes)
    batched_steps = max(10, min(200, single_steps))
    single = _run(net, 1, single_steps, seed, availability=True)
    batched = _run(net, batch, batched_steps, seed, availability=True)
    batched_raw = _run(net, batch, batched_steps, seed, availability=False)
    return {
        "nodes": nodes,
        "edges": int(len(net.edges)),
        "batch": batch,
        "single_steps": single_steps,
        "batched_steps": batched_steps,
        "single_steps_per_s": round(single, 1),
        "batched_env_steps_per_s": round(batched, 1),
        "batched_env_steps_per_s_without_availability": round(batched_raw, 1),
        "workload": "tree subnet, recon x2, random defender 1 action/step, availability every step",
    }


if __name__ == "__main__":  # pragma: no cover - manual use
    import sys

    print(json.dumps(bench_sim(int(sys.argv[1]) if len(sys.argv) > 1 else 30)))
