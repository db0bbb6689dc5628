"""Playing episodes and summarising them the way the paper measures."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rl_agents.baselines import SleepDefender
from rl_agents.defenders import make_defender
from rl_agents.evaluation import EpisodeResult, PhaseSummary, play_episodes, summarise
from twin.scenario import scenario_from_dict
from twin.sim import ISOLATE, NOOP, Simulator


def scenario(horizon: int = 10, intensity: int = 1, budget: int = 1, episodes: int = 4, seed: int = 0):
    return scenario_from_dict({
        "name": "eval-test", "seed": seed, "episodes": episodes, "horizon": horizon,
        "topology": {"subnets": 2, "nodes_per_subnet": 8, "entry_nodes": 1, "high_value_nodes": 1},
        "attack": {"mode": "recon", "intensity": intensity, "p_detect": 1.0},
        "defender": {"actions_per_step": budget},
    })


class IsolateOnce:
    """Isolates one host on the first step of each episode, then waits."""

    name = "isolate-once"

    def __init__(self, host: int) -> None:
        self.host = host

    def act(self, sim: Simulator, budget: int) -> tuple[np.ndarray, np.ndarray]:
        first = sim.t[0] == 0
        return np.array([[ISOLATE if first else NOOP]]), np.array([[self.host]])


def result(availability: float, lost: bool = False, steps: int = 30) -> EpisodeResult:
    return EpisodeResult(episode=0, steps=steps, availability=availability, healthy_ratio=0.5, hvn_lost=lost,
                         max_compromised=2, final_compromised=1, final_isolated=0, actions=0, episode_return=0.0)


# ------------------------------------------------------------ play_episodes
def test_after_a_high_value_loss_the_rest_of_the_horizon_counts_zero_availability(tiny_network):
    # door -> a -> hvn with certain attacks: the door, a and hvn fall on steps 1, 2, 3
    net = tiny_network([("door", "a"), ("a", "hvn")], entry=("door",), high_value=("hvn",))
    (ep,) = play_episodes(scenario(horizon=10), SleepDefender(), episodes=1, network=net)
    assert ep.hvn_lost and ep.steps == 3
    assert ep.availability == pytest.approx(2 / 10)  # steps 1-2 fully available, the rest 0
    assert ep.healthy_ratio == pytest.approx((2 / 3 + 1 / 3 + 0) / 3)
    assert (ep.max_compromised, ep.final_compromised, ep.final_isolated, ep.actions) == (3, 3, 0, 0)


def test_availability_is_the_mean_over_the_horizon_of_each_steps_efficiency_ratio(tiny_network):
    # no entry host: nothing is attacked; isolating c leaves only a-b of the path a-b-c
    net = tiny_network([("a", "b"), ("b", "c")])
    (ep,) = play_episodes(scenario(horizon=5), IsolateOnce(net.host("c")), episodes=1, network=net)
    base = (1 + 1 + 0.5) / 3  # global efficiency of a 3-host path
    assert not ep.hvn_lost and ep.steps == 5 and ep.actions == 1
    assert ep.availability == pytest.approx((1 / 3) / base)
    assert ep.healthy_ratio == pytest.approx(2 / 3) and ep.final_isolated == 1


def test_play_episodes_plays_the_asked_number_of_episodes_or_the_scenarios():
    sc = scenario(horizon=6, episodes=3)
    assert [r.episode for r in play_episodes(sc, SleepDefender(), episodes=5)] == [0, 1, 2, 3, 4]
    results = play_episodes(sc, SleepDefender())
    assert len(results) == 3
    assert all(1 <= r.steps <= 6 and 0 <= r.availability <= 1 for r in results)
    assert all(r.steps == 6 for r in results if not r.hvn_lost)


def test_every_step_is_reported_to_the_callback_in_order():
    sc = scenario(horizon=4)
    calls: list[tuple[int, int]] = []
    results = play_episodes(sc, SleepDefender(), episodes=3, on_step=lambda ep, step, m: calls.append((ep, step)))
    expected = [(r.episode, s) for r in results for s in range(1, r.steps + 1)]
    assert calls == expected


def test_the_defenders_actions_are_counted_without_noops():
    sc = scenario(horizon=5, budget=3)
    results = play_episodes(sc, make_defender("random", seed=2), episodes=2)
    assert [r.actions for r in results] == [3 * r.steps for r in results]
    assert all(r.actions == 0 for r in play_episodes(sc, SleepDefender(), episodes=2))


def test_the_same_seed_plays_the_same_episodes_and_another_seed_others():
    sc = scenario(horizon=10, intensity=2, episodes=6)
    first = play_episodes(sc, make_defender("greedy"), seed=3)
    assert first == play_episodes(sc, make_defender("greedy"), seed=3)
    assert first != play_episodes(sc, make_defender("greedy"), seed=4)


# ------------------------------------------------------------ summarise
def test_one_episode_has_a_zero_confidence_interval():
    summary = summarise("base", [result(0.7, lost=True, steps=4)])
    assert summary == PhaseSummary(
        phase="base", episodes=1, availability=0.7, availability_ci95=0.0, healthy_ratio=0.5,
        hvn_loss_rate=1.0, mean_steps=4.0, mean_max_compromised=2.0,
    )


def test_summary_means_rates_and_a_95_percent_interval_over_episodes():
    results = [result(0.2, lost=True, steps=10), result(0.6), result(1.0), result(1.0)]
    s = summarise("A1", results)
    assert (s.phase, s.episodes) == ("A1", 4)
    assert s.availability == pytest.approx(0.7)
    assert s.availability_ci95 == pytest.approx(1.96 * np.std([0.2, 0.6, 1.0, 1.0], ddof=1) / math.sqrt(4))
    assert s.hvn_loss_rate == 0.25 and s.mean_steps == 25.0
    assert set(s.as_dict()) == {
        "phase", "episodes", "availability", "availability_ci95", "healthy_ratio",
        "hvn_loss_rate", "mean_steps", "mean_max_compromised",
    }


def test_identical_episodes_have_a_zero_interval():
    assert summarise("x", [result(0.5)] * 3).availability_ci95 == 0.0


def test_the_episode_return_sums_the_paper_reward_and_counts_the_hvn_loss_penalty(tiny_network):
    from twin.envs import HVN_LOSS_PENALTY
    from twin.scenario import scenario_from_dict

    # an entry host next to the high-value host, vulnerability 1: lost at the first step
    net = tiny_network([("door", "crown")], entry=("door",), high_value=("crown",))
    sc = scenario_from_dict({"name": "t", "episodes": 1, "horizon": 5, "attack": {"mode": "impact", "intensity": 2, "p_detect": 0.0}})
    [result] = play_episodes(sc, SleepDefender(), network=net, seed=0)
    assert result.hvn_lost and result.steps == 1
    assert result.episode_return == HVN_LOSS_PENALTY
