"""Gymnasium environments over the simulator.

* :class:`RegionEnv` — one region (subnet) of a network, one kind of atomic action,
  the action is a host index inside the region: what one pretrained agent sees.
* :class:`NetworkEnv` — the whole network with the scenario's action budget: what a
  flat (non-hierarchical) defender sees.

Observations are per-host feature matrices plus the region's link list (see
:mod:`twin.observation`), so their shape follows the network's size.

Default reward (the paper's): ``-0.1 I - 0.5 C + 0.2 (I_prev - I) + 0.7 (C_prev - C)``
with ``C`` and ``I`` the visible-compromised and isolated host counts in view, and
``-10`` when a high-value host falls (the episode terminates; the horizon truncates).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from twin.network import Network
from twin.observation import N_FEATURES, FeatureBuilder, edge_index
from twin.scenario import Scenario
from twin.sim import ACTIONS, NOOP, Simulator, StepMetrics

HVN_LOSS_PENALTY = -10.0


def paper_reward(prev: tuple[int, int], now: tuple[int, int], lost: bool) -> float:
    """The CyberOps-Bots default reward on (compromised seen, isolated) counts."""
    (c0, i0), (c1, i1) = prev, now
    return -0.1 * i1 - 0.5 * c1 + 0.2 * (i0 - i1) + 0.7 * (c0 - c1) + (HVN_LOSS_PENALTY if lost else 0.0)


RewardFn = Callable[[tuple[int, int], tuple[int, int], bool], float]


def _obs_space(n: int, e: int) -> spaces.Dict:
    return spaces.Dict({
        "nodes": spaces.Box(0.0, 1.0, shape=(n, N_FEATURES), dtype=np.float32),
        "edges": spaces.Box(0, max(n - 1, 0), shape=(2, e), dtype=np.int64),
    })


class _SimEnv(gym.Env):
    """Shared plumbing: one simulator (batch 1), a view of some hosts, the reward."""

    metadata = {"render_modes": []}

    def __init__(self, sim: Simulator, hosts: np.ndarray, reward: RewardFn) -> None:
        self.sim = sim
        self.hosts = np.asarray(hosts, dtype=np.int64)
        self.features = FeatureBuilder(sim.network, self.hosts)
        self.edges = edge_index(sim.network, self.hosts)
        self.reward_fn = reward
        self.observation_space = _obs_space(len(self.hosts), self.edges.shape[1])
        self._counts = (0, 0)

    def _observe(self) -> dict[str, np.ndarray]:
        s = self.sim
        x = self.features.build(s.visible[0], s.isolated[0], s.vulnerability[0], s.t[0] / s.horizon)
        return {"nodes": x, "edges": self.edges.copy()}

    def _count(self) -> tuple[int, int]:
        return int(self.sim.visible[0, self.hosts].sum()), int(self.sim.isolated[0, self.hosts].sum())

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        if seed is not None:
            self.sim.rng = np.random.default_rng(seed)
        self.sim.reset()
        self._counts = self._count()
        return self._observe(), {}

    def _advance(self, kinds: np.ndarray, nodes: np.ndarray):
        m: StepMetrics = self.sim.step(kinds[None], nodes[None])
        counts = self._count()
        lost = bool(m.hvn_lost[0])
        reward = self.reward_fn(self._counts, counts, lost)
        self._counts = counts
        truncated = bool(self.sim.t[0] >= self.sim.horizon) and not lost
        info = {
            "availability": float(m.availability[0]), "healthy_ratio": float(m.healthy_ratio[0]),
            "compromised": int(m.compromised[0]), "isolated": int(m.isolated[0]), "hvn_lost": lost,
        }
        return self._observe(), float(reward), lost, truncated, info


class RegionEnv(_SimEnv):
    """One region of ``network``; each step the agent picks one host for ``action``.

    The attacker plays on the whole network; only the region is observed and acted on.
    """

    def __init__(
        self, network: Network, *, action: str, region: int = 0, mode: str = "recon",
        intensity: int = 2, p_detect: float = 0.5, horizon: int = 30, seed: int | None = None,
        reward: RewardFn = paper_reward,
    ) -> None:
        if action not in ACTIONS[1:]:
            raise ValueError(f"action must be one of {', '.join(ACTIONS[1:])}, not {action!r}")
        if not 0 <= region < network.n_subnets:
            raise ValueError(f"region {region} is not a subnet index (0..{network.n_subnets - 1})")
        sim = Simulator(network, mode=mode, intensity=intensity, p_detect=p_detect, horizon=horizon, seed=seed)
        sl = network.subnet_slice(region)
        super().__init__(sim, np.arange(sl.start, sl.stop), reward)
        self.kind = ACTIONS.index(action)
        self.action_space = spaces.Discrete(len(self.hosts))

    @classmethod
    def from_scenario(cls, scenario: Scenario, *, action: str, region: int = 0, network: Network | None = None, **kw) -> RegionEnv:
        from twin.build import build_network

        a = scenario.attack
        return cls(network or build_network(scenario), action=action, region=region, mode=a.mode,
                   intensity=a.intensity, p_detect=a.p_detect, horizon=scenario.horizon,
                   seed=kw.pop("seed", scenario.seed), **kw)

    def step(self, action: int):
        a = np.asarray(action)
        # integers only: int(2.7) would quietly act on host 2
        if a.size != 1 or not np.issubdtype(a.dtype, np.integer) or not self.action_space.contains(int(a.item())):
            raise ValueError(f"action {action!r} is not a host index of this region (0..{len(self.hosts) - 1})")
        return self._advance(np.array([self.kind]), self.hosts[[int(a.item())]])


class NetworkEnv(_SimEnv):
    """The whole network; each step up to ``actions_per_step`` (kind, host) pairs.

    An action is an array of shape ``(K, 2)``: rows of (kind code from ``ACTIONS``,
    host index); kind 0 (``noop``) pads unused slots, and is the only kind when the budget is 0.
    """

    def __init__(
        self, network: Network, *, actions_per_step: int = 4, mode: str = "recon", intensity: int = 2,
        p_detect: float = 0.5, horizon: int = 30, seed: int | None = None, reward: RewardFn = paper_reward,
    ) -> None:
        sim = Simulator(network, mode=mode, intensity=intensity, p_detect=p_detect, horizon=horizon, seed=seed)
        super().__init__(sim, np.arange(network.n_nodes), reward)
        self.observation_space = spaces.Dict({
            **self.observation_space.spaces,
            "subnet": spaces.Box(0, network.n_subnets - 1, shape=(network.n_nodes,), dtype=np.int64),
        })
        k = max(1, actions_per_step)
        kinds = len(ACTIONS) if actions_per_step > 0 else 1  # no budget: one slot that can only say noop
        self.action_space = spaces.MultiDiscrete(np.tile([kinds, network.n_nodes], (k, 1)))

    @classmethod
    def from_scenario(cls, scenario: Scenario, *, network: Network | None = None, **kw) -> NetworkEnv:
        from twin.build import build_network

        a = scenario.attack
        return cls(network or build_network(scenario), actions_per_step=scenario.defender.actions_per_step,
                   mode=a.mode, intensity=a.intensity, p_detect=a.p_detect, horizon=scenario.horizon,
                   seed=kw.pop("seed", scenario.seed), **kw)

    def _observe(self) -> dict[str, np.ndarray]:
        return {**super()._observe(), "subnet": self.sim.network.subnet_of.copy()}

    def step(self, action):
        raw = np.asarray(action)
        if raw.shape != self.action_space.shape or not np.issubdtype(raw.dtype, np.integer):
            raise ValueError(f"action must be integers of shape {self.action_space.shape}: (kind, host) rows")
        action = raw.astype(np.int64)
        if not self.action_space.contains(action):
            kinds, hosts = self.action_space.nvec[0] - 1
            raise ValueError(f"action rows must be (kind 0..{kinds}, host 0..{hosts}), got {action.tolist()}")
        return self._advance(action[:, 0], action[:, 1])


__all__ = ["NOOP", "NetworkEnv", "RegionEnv", "paper_reward"]
