"""The shipped learned defenders, loaded from rl_agents/weights/, beat a random defender on paper-base."""

from __future__ import annotations

import numpy as np
import pytest

from rl_agents.defenders import make_defender
from rl_agents.evaluation import play_episodes
from twin.build import build_network
from twin.scenario import load_scenario

EPISODES = 30


@pytest.fixture(scope="module")
def paper_base():
    scenario = load_scenario("paper-base")
    return scenario, build_network(scenario)


def _outcomes(name, scenario, network):
    results = play_episodes(scenario, make_defender(name, seed=1), episodes=EPISODES, seed=0, network=network)
    return np.array([r.availability for r in results]), np.array([r.hvn_lost for r in results])


@pytest.mark.parametrize("name", ["hierarchical", "flat-marl"])
def test_a_shipped_learned_defender_beats_random_on_paper_base_by_a_clear_margin(name, paper_base):
    avail, lost = _outcomes(name, *paper_base)
    rand_avail, rand_lost = _outcomes("random", *paper_base)
    # Welch's t on per-episode availability (loss-aware: 0 after an HVN loss): a clear margin
    diff = avail.mean() - rand_avail.mean()
    se = np.sqrt(avail.var(ddof=1) / len(avail) + rand_avail.var(ddof=1) / len(rand_avail))
    assert diff / se > 3.0, (avail.mean(), rand_avail.mean())
    assert lost.mean() < rand_lost.mean()
