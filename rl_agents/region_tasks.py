"""Each agent's own training task: a random region, its opening, its reward (heterogeneous pre-training).

The paper pretrains one agent per action kind, each in its own single-subnet task with
its own reward; we keep that, fixed so the rewards say what we want and the regions
vary.  A task is ``batch`` episodes of one random region (one network, one shared link
list: the policy scores the whole batch in one call), stepped on the twin's batched
:class:`~twin.sim.Simulator`.  The agent takes one action of its kind per step, alone:
the other kinds are absent, so its reward reflects its own choices only.

It acts only when its kind has work (something to patch, a seen compromise to reset or
cut off, a clean-looking isolated host to bring back); otherwise the step passes with
no action and no decision is recorded.  Every task ends an episode with ``-10`` when a
high-value host (HVN) falls.  The per-kind rewards are written where they are computed,
in :meth:`RegionTask.step`.  Rewards may read the true state: they are the trainer's
judgement, never the agent's input.
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
import numpy as np
import scipy.sparse as sp

from twin.network import MIN_VULNERABILITY, UNREACHABLE, Network
from twin.observation import FeatureBuilder, edge_index
from twin.sim import ATTACK_MODES, ISOLATE, NOOP, PATCH, RECOVER, RESET, Simulator
from twin.topology import GENERATORS, assemble
from rl_agents.policy import AGENT_ACTIONS, action_mask

HVN_LOSS = -10.0
KIND_CODE = {"patch": PATCH, "isolate": ISOLATE, "reset": RESET, "recover": RECOVER}
INTENSITY = {"fortify": (1, 2), "block": (1, 2), "purge": (1, 2), "recover": (0, 2)}
"""Attack attempts per step on the one region.  Each agent acts alone, once a step, so
above 2 nearly every episode is lost whatever it does and the loss stops teaching."""


@dataclass(frozen=True)
class RegionSpec:
    """What a random region looks like: its structure, size, special hosts and attacker."""

    generator: str
    n_hosts: int
    entry: int
    high_value: int
    mode: str
    intensity: int
    p_detect: float


def sample_spec(agent: str, rng: np.random.Generator, *, sizes: tuple[int, int] = (10, 60)) -> RegionSpec:
    """A region drawn for ``agent``: structure, size, attack mode and intensity all random (A1-A4)."""
    lo, hi = INTENSITY[agent]
    return RegionSpec(
        generator=str(rng.choice(list(GENERATORS))),
        n_hosts=int(rng.integers(sizes[0], sizes[1] + 1)),
        entry=int(rng.integers(1, 3)),
        high_value=int(rng.integers(1, 3)),
        mode=str(rng.choice(ATTACK_MODES)),
        intensity=int(rng.integers(lo, hi + 1)),
        p_detect=float(rng.uniform(0.3, 0.9)),
    )


def build_region(spec: RegionSpec, rng: np.random.Generator) -> Network:
    """A one-subnet network for ``spec`` (host names as :func:`twin.topology.assemble` gives them)."""
    graph = GENERATORS[spec.generator](spec.n_hosts, rng)
    return assemble([graph], entry=spec.entry, high_value=spec.high_value, rng=rng)


def on_entry_hvn_paths(network: Network) -> np.ndarray:
    """``(n,)`` bool: hosts on some shortest path from an entry host to a high-value host."""
    g = network.subnet_graph(0)
    entries, hvns = np.flatnonzero(network.entry), np.flatnonzero(network.high_value)
    dist = {int(s): nx.single_source_shortest_path_length(g, int(s)) for s in (*entries, *hvns)}
    on = np.zeros(network.n_nodes, dtype=bool)
    for e in entries:
        for t in hvns:
            if int(t) not in dist[int(e)]:
                continue
            de, dt, length = dist[int(e)], dist[int(t)], dist[int(e)][int(t)]
            on |= np.array([de.get(h, UNREACHABLE) + dt.get(h, UNREACHABLE) == length for h in range(network.n_nodes)])
    return on


class RegionTask:
    """``batch`` episodes of one region for one agent: observe, step with a reward."""

    def __init__(self, agent: str, network: Network, spec: RegionSpec, *, batch: int, seed: int, horizon: int = 30) -> None:
        if agent not in AGENT_ACTIONS:
            raise ValueError(f"unknown agent {agent!r}; choose one of {', '.join(AGENT_ACTIONS)}")
        self.agent, self.kind = agent, AGENT_ACTIONS[agent]
        self.network, self.spec, self.horizon = network, spec, horizon
        self.rng = np.random.default_rng([seed, 1])
        self.sim = Simulator(network, mode=spec.mode, intensity=spec.intensity, p_detect=spec.p_detect,
                             horizon=horizon, batch=batch, seed=seed)
        n = network.n_nodes
        hosts = np.arange(n)
        self.edges = edge_index(network, hosts)
        self.static = FeatureBuilder(network, hosts).static
        # neighbour sums for the `visible_neighbours` feature, for the whole batch at once
        e = self.edges
        self._adjacency = sp.csr_matrix((np.ones(e.shape[1], np.float32), (e[0], e[1])), shape=(n, n))
        self._degree = np.maximum(network.degree, 1).astype(np.float32)
        hops = network.hvn_hops
        self.hops = np.where(hops >= UNREACHABLE, 1e6, hops).astype(np.float64)
        self.on_path = on_entry_hvn_paths(network) if self.kind == "patch" else np.zeros(n, bool)
        self._open()
        self._availability = self._raw_availability()

    # ---------------------------------------------------------------- opening
    def _open(self) -> None:
        """The kind's starting position: an attacker foothold for Block/Purge, isolations for Recover."""
        sim, b = self.sim, self.sim.batch
        if self.agent in ("block", "purge", "recover"):
            lo = 0 if self.agent == "recover" else 2
            for _ in range(int(self.rng.integers(lo, 5))):  # 2-4 free attack steps (paper: 2-4)
                sim.attack()
            hvn = np.flatnonzero(self.network.high_value)  # an HVN lost before play would end it at once
            sim.act(np.full((b, len(hvn)), RESET), np.tile(hvn, (b, 1)))
        if self.agent == "recover":
            # an earlier containment: every held host cut off, plus some clean ones by mistake
            n = self.network.n_nodes
            extra = self.rng.random((b, n)) < self.rng.uniform(0.05, 0.25, (b, 1))
            cut = (sim.compromised | extra) & ~self.network.high_value
            kinds = np.where(cut, ISOLATE, NOOP)
            sim.act(kinds, np.tile(np.arange(n), (b, 1)))

    # -------------------------------------------------------------- observing
    def observe(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Features ``(B, n, F)``, the kind's mask ``(B, n)`` and whether each env has work ``(B,)``."""
        s = self.sim
        vis = s.visible.astype(np.float32)
        x = np.repeat(self.static[None], s.batch, axis=0)
        x[..., 0] = vis
        x[..., 1] = s.isolated
        x[..., 2] = s.vulnerability
        x[..., 7] = (self._adjacency @ vis.T).T / self._degree
        x[..., 8] = (s.t / s.horizon)[:, None]
        mask = action_mask(self.kind, x)
        work = ~mask
        if self.kind == "isolate":  # cutting links only pays when a seen compromise is still linked
            work = work & s.visible
        elif self.kind == "recover":  # only clean-looking isolated hosts are worth bringing back
            work = work & ~s.visible
        return x, mask, work.any(axis=1) & ~s.done

    def _raw_availability(self) -> np.ndarray:
        """Availability from the links alone (not zeroed by an HVN loss, which has its own penalty)."""
        return self.sim.availability_cache.availability(self.sim.isolated).copy()

    # --------------------------------------------------------------- stepping
    def step(self, nodes: np.ndarray, acting: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Act on ``nodes`` (B,) where ``acting``, then attack; returns ``(reward, availability)`` (B,)."""
        s, rows = self.sim, np.arange(self.sim.batch)
        playing = ~s.done
        h = np.asarray(nodes, dtype=np.int64)
        was_compromised = s.compromised[rows, h].copy()
        was_visible = s.visible[rows, h].copy()
        vuln_before = s.vulnerability[rows, h].copy()
        was_isolated = s.isolated[rows, h].copy()
        seen = s.visible & ~s.isolated if self.kind == "isolate" else s.visible
        nearest = np.where(seen, self.hops[None], np.inf).min(axis=1)
        is_nearest = was_visible & (self.hops[h] <= nearest)
        metrics = s.step(np.where(acting, KIND_CODE[self.kind], NOOP), h)
        availability = self._raw_availability()
        gain = availability - self._availability
        self._availability = availability
        reward = np.zeros(s.batch)
        if self.kind == "patch":
            # Fortify: vulnerability removed, full weight on a shortest entry->HVN path
            # (where the impact attacker walks), a tenth elsewhere; at most +1 a step.
            reward = 2.0 * (vuln_before - s.vulnerability[rows, h]) * np.where(self.on_path[h], 1.0, 0.1)
        elif self.kind == "isolate":
            # Block: +1 for cutting off the seen compromise nearest an HVN, +0.3 for another
            # seen compromise, 0 for a clean host; minus twice the availability it costs.
            reward = np.where(is_nearest, 1.0, np.where(was_visible, 0.3, 0.0)) + 2.0 * gain
        elif self.kind == "reset":
            # Purge: +1 for cleaning the seen compromise nearest an HVN, +0.5 for another.
            reward = np.where(is_nearest, 1.0, np.where(was_visible & was_compromised, 0.5, 0.0))
        elif self.kind == "recover":
            # Recover: +1 for bringing back a clean host, -1 for reconnecting a held one
            # (it can spread again), plus twice the availability regained.
            reward = np.where(was_compromised, -1.0, 1.0) + 2.0 * gain
        # an action that changed nothing (a random yardstick may pick one) earns nothing
        effective = {"patch": vuln_before > MIN_VULNERABILITY, "isolate": ~was_isolated, "recover": was_isolated,
                     "reset": was_visible | was_compromised}[self.kind]
        reward = np.where(acting & effective, reward, 0.0) + np.where(playing & metrics.hvn_lost, HVN_LOSS, 0.0)
        return np.where(playing, reward, 0.0), metrics.availability
