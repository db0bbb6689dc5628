"""Hand-written defenders: the yardsticks every learned defender must beat.

A defender sees what a real one sees: the topology, which compromises are visible,
which hosts it isolated, and the vulnerabilities (it knows what it patched).  It never
reads ``Simulator.compromised``.  Each returns ``(kinds, nodes)`` of shape ``(B, K)``
with ``K = budget`` atomic actions per environment (``NOOP`` pads).
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from twin.network import UNREACHABLE
from twin.sim import ISOLATE, NOOP, PATCH, RECOVER, RESET, Simulator


class Defender(Protocol):
    name: str

    def act(self, sim: Simulator, budget: int) -> tuple[np.ndarray, np.ndarray]: ...


def _empty(batch: int, budget: int) -> tuple[np.ndarray, np.ndarray]:
    return np.full((batch, budget), NOOP, dtype=np.int64), np.zeros((batch, budget), dtype=np.int64)


class SleepDefender:
    """Does nothing: how the network fares undefended."""

    name = "sleep"

    def act(self, sim: Simulator, budget: int) -> tuple[np.ndarray, np.ndarray]:
        return _empty(sim.batch, budget)


class RandomDefender:
    """Uniformly random action kinds on uniformly random hosts."""

    name = "random"

    def __init__(self, *, seed: int | None = None) -> None:
        self.rng = np.random.default_rng(seed)

    def act(self, sim: Simulator, budget: int) -> tuple[np.ndarray, np.ndarray]:
        shape = (sim.batch, budget)
        kinds = self.rng.integers(ISOLATE, PATCH + 1, size=shape)
        nodes = self.rng.integers(0, sim.network.n_nodes, size=shape)
        return kinds, nodes


class GreedyDefender:
    """A sensible hand-written responder, in priority order with its budget:

    1. isolate a visible compromise that is one hop from a high-value host and that
       the budget cannot also reset this step (stop the last hop first);
    2. reset visible compromises, nearest the high-value hosts first;
    3. recover isolated hosts that show no compromise;
    4. patch the most vulnerable unpatched hosts nearest the high-value hosts.
    """

    name = "greedy"

    def act(self, sim: Simulator, budget: int) -> tuple[np.ndarray, np.ndarray]:
        kinds, nodes = _empty(sim.batch, budget)
        hops = sim.network.hvn_hops
        near = np.where(hops >= UNREACHABLE, 1e6, hops)
        for b in range(sim.batch):
            plan: list[tuple[int, int]] = []
            seen = np.flatnonzero(sim.visible[b])
            seen = seen[np.argsort(near[seen], kind="stable")]
            resets = list(seen[:budget])
            last_hop = [int(x) for x in seen[budget:] if near[x] <= 1 and not sim.isolated[b, x]]
            plan += [(ISOLATE, x) for x in last_hop[:budget]]
            plan += [(RESET, int(x)) for x in resets][: budget - len(plan)]
            clean_isolated = np.flatnonzero(sim.isolated[b] & ~sim.visible[b])
            plan += [(RECOVER, int(x)) for x in clean_isolated][: max(0, budget - len(plan))]
            spare = budget - len(plan)
            if spare > 0:
                patchable = np.flatnonzero(sim.vulnerability[b] > 0.011)
                order = np.lexsort((-sim.vulnerability[b, patchable], near[patchable]))
                plan += [(PATCH, int(x)) for x in patchable[order[:spare]]]
            for k, (kind, node) in enumerate(plan[:budget]):
                kinds[b, k], nodes[b, k] = kind, node
        return kinds, nodes
