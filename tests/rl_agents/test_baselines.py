"""Hand-written defenders: what each may see, what each does, and that greedy is worth beating."""

from __future__ import annotations

import numpy as np
import pytest

from rl_agents.baselines import GreedyDefender, RandomDefender, SleepDefender
from rl_agents.defenders import make_defender
from rl_agents.evaluation import play_episodes, summarise
from twin.scenario import load_scenario
from twin.sim import ISOLATE, NOOP, PATCH, RECOVER, RESET, Simulator


class Blindfold:
    """A simulator stand-in that fails the test if the defender reads the true compromise."""

    def __init__(self, sim: Simulator) -> None:
        self._sim = sim

    def __getattr__(self, name: str):
        if name == "compromised":
            raise AssertionError("the defender read Simulator.compromised")
        return getattr(self._sim, name)


@pytest.fixture
def ladder(tiny_network):
    """hvn - a - b - c - door, plus a second and third host next to hvn (a2, a3); hvn hops 0..4."""
    return tiny_network(
        [("hvn", "a"), ("a", "b"), ("b", "c"), ("c", "door"), ("hvn", "a2"), ("hvn", "a3")],
        entry=("door",), high_value=("hvn",),
        vulnerability={"hvn": 0.5, "a": 0.9, "a2": 0.95, "a3": 0.6, "b": 1.0, "c": 0.3, "door": 0.01},
    )


def sim_of(net, batch: int = 1) -> Simulator:
    return Simulator(net, intensity=0, batch=batch, seed=0)


def seen(sim: Simulator, *names: str, env: int = 0) -> None:
    for name in names:
        h = sim.network.host(name)
        sim.compromised[env, h] = sim.visible[env, h] = True


def plan(net, kinds: np.ndarray, nodes: np.ndarray, env: int = 0) -> list[tuple[int, str]]:
    """The non-noop actions of one environment as (kind, host name), in order."""
    return [(int(k), net.names[int(n)]) for k, n in zip(kinds[env], nodes[env]) if k != NOOP]


# ------------------------------------------------------------ sleep and random
def test_sleep_never_acts_whatever_it_sees(ladder):
    sim = sim_of(ladder, batch=3)
    seen(sim, "a", "c", env=1)
    sim.act(np.array([ISOLATE, NOOP, ISOLATE]), np.array([1, 0, 2]))
    kinds, nodes = SleepDefender().act(sim, 4)
    assert kinds.shape == nodes.shape == (3, 4)
    assert (kinds == NOOP).all()


def test_random_acts_with_every_kind_on_hosts_in_range_and_never_noop(ladder):
    sim = sim_of(ladder, batch=64)
    kinds, nodes = RandomDefender(seed=1).act(sim, 5)
    assert kinds.shape == nodes.shape == (64, 5)
    assert set(np.unique(kinds).tolist()) == {ISOLATE, RECOVER, RESET, PATCH}
    assert nodes.min() >= 0 and nodes.max() < ladder.n_nodes
    assert set(np.unique(nodes).tolist()) == set(range(ladder.n_nodes))
    sim.step(kinds, nodes)  # the simulator accepts them


def test_random_is_seeded(ladder):
    sim = sim_of(ladder, batch=4)

    def draws(seed: int) -> list[np.ndarray]:
        agent = RandomDefender(seed=seed)
        return [a for _ in range(3) for a in agent.act(sim, 3)]

    assert all(np.array_equal(x, y) for x, y in zip(draws(1), draws(1)))
    assert not all(np.array_equal(x, y) for x, y in zip(draws(1), draws(2)))


def test_make_defender_builds_each_baseline_by_name_and_rejects_others():
    assert isinstance(make_defender("sleep"), SleepDefender)
    assert isinstance(make_defender("greedy"), GreedyDefender)
    assert isinstance(make_defender("random", seed=3), RandomDefender)
    with pytest.raises(ValueError, match="unknown defender 'ppo'"):
        make_defender("ppo")


# ------------------------------------------------------------ greedy
def test_greedy_never_reads_the_true_compromise(ladder):
    sim = sim_of(ladder, batch=2)
    seen(sim, "c")
    sim.compromised[:, ladder.host("a")] = True  # held, unseen
    GreedyDefender().act(Blindfold(sim), 4)  # raises if it peeks


def test_greedy_leaves_an_unseen_compromise_alone_and_acts_as_if_the_host_were_clean(ladder):
    clean, fooled = sim_of(ladder), sim_of(ladder)
    for sim in (clean, fooled):
        seen(sim, "c")
    fooled.compromised[0, ladder.host("a")] = True  # one hop from the high-value host, but unseen
    kinds, nodes = GreedyDefender().act(fooled, 2)
    assert (RESET, "a") not in plan(ladder, kinds, nodes) and (ISOLATE, "a") not in plan(ladder, kinds, nodes)
    expected = GreedyDefender().act(clean, 2)
    assert np.array_equal(kinds, expected[0]) and np.array_equal(nodes, expected[1])


def test_greedy_resets_the_seen_compromises_nearest_the_high_value_hosts_first(ladder):
    sim = sim_of(ladder)
    seen(sim, "door", "b", "c")  # 4, 2 and 3 hops from hvn
    kinds, nodes = GreedyDefender().act(sim, 2)
    assert plan(ladder, kinds, nodes) == [(RESET, "b"), (RESET, "c")]


def test_greedy_isolates_last_hop_compromises_it_cannot_also_reset_this_step(ladder):
    sim = sim_of(ladder)
    seen(sim, "a", "a2", "a3", "door")  # three one hop from hvn
    kinds, nodes = GreedyDefender().act(sim, 2)
    actions = plan(ladder, kinds, nodes)
    assert [k for k, _ in actions] == [ISOLATE, RESET]
    assert {h for _, h in actions} <= {"a", "a2", "a3"} and len({h for _, h in actions}) == 2


def test_greedy_recovers_isolated_hosts_that_show_no_compromise(ladder):
    sim = sim_of(ladder)
    sim.act(np.array([[ISOLATE, ISOLATE]]), np.array([[ladder.host("b"), ladder.host("c")]]))
    seen(sim, "c")  # isolated and seen compromised: reset it, don't reconnect it
    kinds, nodes = GreedyDefender().act(sim, 2)
    assert plan(ladder, kinds, nodes) == [(RESET, "c"), (RECOVER, "b")]


def test_greedy_patches_with_the_spare_budget_nearest_the_high_value_hosts_most_vulnerable_first(ladder):
    sim = sim_of(ladder)
    kinds, nodes = GreedyDefender().act(sim, 3)
    assert plan(ladder, kinds, nodes) == [(PATCH, "hvn"), (PATCH, "a2"), (PATCH, "a")]
    seen(sim, "b")
    kinds, nodes = GreedyDefender().act(sim, 3)
    assert plan(ladder, kinds, nodes) == [(RESET, "b"), (PATCH, "hvn"), (PATCH, "a2")]


def test_greedy_does_not_patch_hosts_already_at_the_floor(ladder):
    sim = sim_of(ladder)
    kinds, nodes = GreedyDefender().act(sim, 7)
    patched = {h for _, h in plan(ladder, kinds, nodes)}
    assert patched == set(ladder.names) - {"door"}  # door's vulnerability is 0.01 already


@pytest.mark.parametrize("budget", [0, 1, 3])
def test_greedy_takes_at_most_its_budget_in_every_environment(ladder, budget):
    sim = sim_of(ladder, batch=3)
    seen(sim, "a", "a2", "a3", "b", "c", "door", env=0)
    sim.act(np.array([ISOLATE, ISOLATE, NOOP]), np.array([1, 4, 0]))
    kinds, nodes = GreedyDefender().act(sim, budget)
    assert kinds.shape == nodes.shape == (3, budget)
    assert ((kinds != NOOP).sum(axis=1) <= budget).all()
    if budget:
        assert (kinds[0] != NOOP).sum() == budget
    sim.step(kinds, nodes)


def test_greedy_plans_each_environment_of_a_batch_from_its_own_state(ladder):
    batch = sim_of(ladder, batch=2)
    seen(batch, "b", env=1)
    kinds, nodes = GreedyDefender().act(batch, 2)
    alone = sim_of(ladder)
    seen(alone, "b")
    one = GreedyDefender().act(alone, 2)
    assert np.array_equal(kinds[1], one[0][0]) and np.array_equal(nodes[1], one[1][0])
    assert (RESET, "b") not in plan(ladder, kinds, nodes, env=0)


def test_greedy_loses_high_value_hosts_far_less_often_than_sleep_on_paper_base():
    scenario = load_scenario("paper-base")
    rates = {}
    for name in ("sleep", "greedy"):
        results = play_episodes(scenario, make_defender(name, seed=1), episodes=40, seed=0)
        rates[name] = summarise(name, results)
    assert rates["sleep"].hvn_loss_rate >= 0.4  # the attacker is a real threat on paper-base
    assert rates["greedy"].hvn_loss_rate <= rates["sleep"].hvn_loss_rate - 0.3
    assert rates["greedy"].availability > rates["sleep"].availability
