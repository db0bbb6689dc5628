"""Play episodes of a scenario with a defender and measure what the paper measures.

Availability of an episode is the mean over its *horizon* of the per-step availability,
so the steps after a high-value host is lost count 0 (the episode stops there).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

from rl_agents.baselines import Defender
from twin.build import build_network, build_simulator
from twin.envs import paper_reward
from twin.network import Network
from twin.scenario import Scenario
from twin.sim import NOOP, StepMetrics


@dataclass(frozen=True)
class EpisodeResult:
    episode: int
    steps: int
    availability: float  # mean over the horizon, 0 after an HVN loss
    healthy_ratio: float  # mean over the steps played
    hvn_lost: bool
    max_compromised: int
    final_compromised: int
    final_isolated: int
    actions: int  # atomic defender actions taken (no-ops not counted)
    episode_return: float  # sum of the paper's reward (twin.envs.paper_reward) over the steps


@dataclass(frozen=True)
class PhaseSummary:
    phase: str
    episodes: int
    availability: float
    availability_ci95: float
    healthy_ratio: float
    hvn_loss_rate: float
    mean_steps: float
    mean_max_compromised: float

    def as_dict(self) -> dict:
        return asdict(self)


StepCallback = Callable[[int, int, StepMetrics], None]


def play_episodes(
    scenario: Scenario,
    defender: Defender,
    *,
    episodes: int | None = None,
    seed: int | None = None,
    network: Network | None = None,
    on_step: StepCallback | None = None,
) -> list[EpisodeResult]:
    """Play ``episodes`` episodes one after another on the scenario's network."""
    network = network or build_network(scenario)
    sim = build_simulator(scenario, network=network, seed=seed)
    budget = scenario.defender.actions_per_step
    results = []
    for ep in range(episodes or scenario.episodes):
        sim.reset()
        avail_sum = healthy_sum = 0.0
        max_comp = actions = steps = 0
        episode_return = 0.0
        counts = (0, 0)
        metrics = None
        while not sim.done[0]:
            kinds, nodes = defender.act(sim, budget)
            metrics = sim.step(kinds, nodes)
            actions += int(np.count_nonzero(kinds != NOOP))
            now = (int(metrics.visible[0]), int(metrics.isolated[0]))
            episode_return += paper_reward(counts, now, bool(metrics.hvn_lost[0]))
            counts = now
            steps += 1
            avail_sum += float(metrics.availability[0])
            healthy_sum += float(metrics.healthy_ratio[0])
            max_comp = max(max_comp, int(metrics.compromised[0]))
            if on_step:
                on_step(ep, steps, metrics)
        assert metrics is not None
        results.append(
            EpisodeResult(
                episode=ep,
                steps=steps,
                availability=avail_sum / scenario.horizon,
                healthy_ratio=healthy_sum / steps,
                hvn_lost=bool(metrics.hvn_lost[0]),
                max_compromised=max_comp,
                final_compromised=int(metrics.compromised[0]),
                final_isolated=int(metrics.isolated[0]),
                actions=actions,
                episode_return=episode_return,
            )
        )
    return results


def summarise(phase: str, results: list[EpisodeResult]) -> PhaseSummary:
    avail = np.array([r.availability for r in results])
    ci = 1.96 * avail.std(ddof=1) / np.sqrt(len(avail)) if len(avail) > 1 else 0.0
    return PhaseSummary(
        phase=phase,
        episodes=len(results),
        availability=float(avail.mean()),
        availability_ci95=float(ci),
        healthy_ratio=float(np.mean([r.healthy_ratio for r in results])),
        hvn_loss_rate=float(np.mean([r.hvn_lost for r in results])),
        mean_steps=float(np.mean([r.steps for r in results])),
        mean_max_compromised=float(np.mean([r.max_compromised for r in results])),
    )
