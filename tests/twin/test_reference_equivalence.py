"""The array core (twin/sim.py) plays exactly like the plain reference (tests/reference_sim.py).

Same seed, same defender actions: the same trajectory, step by step, for every attack
mode and intensity on several topologies.  Then the batched core against the reference
in distribution, where trajectories cannot match draw for draw.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from reference_sim import ReferenceTwin

from twin.network import Network
from twin.sim import ACTIONS, ATTACK_MODES, Simulator
from twin.topology import assemble, fat_tree, tree, watts_strogatz


def _with_given_vulnerabilities(net: Network, rng: np.random.Generator, share: float) -> Network:
    """The network, with a vulnerability given for about ``share`` of its hosts."""
    g = net.graph.copy()
    for node in g.nodes:
        if rng.random() < share:
            g.nodes[node]["vulnerability"] = float(rng.uniform(0.01, 1.0))
    return Network.from_graph(g)


def make_network(topology: str, seed: int) -> Network:
    rng = np.random.default_rng(seed)
    if topology == "tree":
        return assemble([tree(12, rng) for _ in range(3)], entry=2, high_value=1, rng=rng)
    if topology == "watts_strogatz":
        return assemble([watts_strogatz(24, rng)], entry=2, high_value=2, rng=rng)
    if topology == "fat_tree":  # also: every vulnerability given by the network
        net = assemble([fat_tree(20, rng) for _ in range(2)], entry=2, high_value=1, rng=rng)
        return _with_given_vulnerabilities(net, rng, share=1.0)
    if topology == "gateway_links":  # also: some vulnerabilities given, the rest drawn
        net = assemble([tree(14, rng), watts_strogatz(12, rng)], entry=1, high_value=1,
                       gateway_links=3, rng=rng)
        return _with_given_vulnerabilities(net, rng, share=0.5)
    raise ValueError(topology)


TOPOLOGIES = ("tree", "watts_strogatz", "fat_tree", "gateway_links")
STATE = ("compromised", "visible", "isolated", "vulnerability")


def random_actions(defender: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """1 to 3 actions, of any kind, on any hosts."""
    k = int(defender.integers(1, 4))
    return defender.integers(0, len(ACTIONS), k), defender.integers(0, n, k)


def play_both(net: Network, *, mode: str, intensity: int, seed: int, episodes: int = 2) -> dict:
    """Play the core and the reference side by side; fail at the first difference.

    Each episode ends with one more step after it is over (frozen, yet drawing its numbers).
    """
    horizon = (6, 12, 25)[seed % 3]  # short ones so that some episodes reach the horizon
    sim = Simulator(net, mode=mode, intensity=intensity, p_detect=0.5, horizon=horizon, seed=seed)
    ref = ReferenceTwin(net.graph, mode=mode, intensity=intensity, p_detect=0.5, horizon=horizon,
                        rng=np.random.default_rng(seed))
    assert ref.names == list(net.names)
    defender = np.random.default_rng(10_000 + seed)
    seen = {"steps": 0, "hvn_lost": 0, "horizon": 0, "compromised": 0, "isolated": 0}
    for episode in range(episodes):
        steps_over = step = 0
        while steps_over < 2:  # play it out, then one step more
            step += 1
            kinds, nodes = random_actions(defender, net.n_nodes)
            got = sim.step(kinds[None], nodes[None])
            want = ref.step([(ACTIONS[k], int(h)) for k, h in zip(kinds, nodes)])
            where = f"{mode=} {intensity=} {seed=} {episode=} {step=}"
            for name, arr in ref.arrays().items():
                diff = np.flatnonzero(getattr(sim, name)[0] != arr)
                assert diff.size == 0, f"{where}: {name} differs at hosts {[net.names[i] for i in diff]}"
            targets = [-1 if t is None else t for t in ref.last_targets]
            assert sim.attack_targets[0].tolist() == targets, where
            assert got.availability[0] == pytest.approx(want.availability, rel=1e-9, abs=1e-12), where
            assert got.healthy_ratio[0] == pytest.approx(want.healthy_ratio, rel=1e-12), where
            assert (got.compromised[0], got.visible[0], got.isolated[0]) == (
                want.compromised, want.visible, want.isolated), where
            assert (bool(got.hvn_lost[0]), bool(got.done[0])) == (want.hvn_lost, want.done), where
            assert sim.t[0] == ref.t, where
            seen["steps"] += 1
            seen["compromised"] += want.compromised
            seen["isolated"] += want.isolated
            steps_over += want.done
            if steps_over == 1:
                seen["hvn_lost" if want.hvn_lost else "horizon"] += 1
        sim.reset()
        ref.reset()
    return seen


@pytest.mark.parametrize("topology", TOPOLOGIES)
@pytest.mark.parametrize("mode", ATTACK_MODES)
def test_the_core_replays_the_reference_trajectory_exactly(mode: str, topology: str) -> None:
    total: dict[str, int] = {}
    for intensity in (1, 2, 3, 4):
        for seed in range(5):
            net = make_network(topology, seed)
            for key, value in play_both(net, mode=mode, intensity=intensity, seed=seed).items():
                total[key] = total.get(key, 0) + value
    # the comparison saw real play: compromises, isolations, and both ways an episode ends
    assert total["compromised"] > 0 and total["isolated"] > 0
    assert total["hvn_lost"] > 0 and total["horizon"] > 0, total


# ----------------------------------------------------------------- in distribution
def _z(a: np.ndarray, b: np.ndarray) -> float:
    se = math.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))
    return 0.0 if se == 0 else float((a.mean() - b.mean()) / se)


def _reference_outcomes(
    net: Network, mode: str, intensity: int, episodes: int
) -> tuple[np.ndarray, np.ndarray]:
    lost, comp = [], []
    for seed in range(episodes):
        ref = ReferenceTwin(net.graph, mode=mode, intensity=intensity, horizon=10,
                            rng=np.random.default_rng(seed))
        defender = np.random.default_rng(50_000 + seed)
        while not ref.done:
            kinds, nodes = random_actions(defender, ref.n)
            ref.step([(ACTIONS[k], int(h)) for k, h in zip(kinds, nodes)])
        lost.append(ref.hvn_lost)
        comp.append(len(ref.compromised))
    return np.array(lost, dtype=float), np.array(comp, dtype=float)


def _batched_outcomes(
    net: Network, mode: str, intensity: int, rounds: int
) -> tuple[np.ndarray, np.ndarray]:
    batch = 64
    sim = Simulator(net, mode=mode, intensity=intensity, horizon=10, batch=batch, seed=7)
    defender = np.random.default_rng(8)
    lost, comp = [], []
    for _ in range(rounds):
        while not sim.done.all():
            k = int(defender.integers(1, 4))  # the same count in every env, kinds and hosts per env
            sim.step(defender.integers(0, len(ACTIONS), (batch, k)), defender.integers(0, net.n_nodes, (batch, k)))
        lost.extend(sim.hvn_lost)
        comp.extend(sim.compromised.sum(axis=1))
        sim.reset()
    return np.array(lost, dtype=float), np.array(comp, dtype=float)


@pytest.mark.parametrize("mode, intensity", [("recon", 2), ("penetrate", 1)])
def test_a_batch_of_64_has_the_reference_distribution_of_outcomes(mode: str, intensity: int) -> None:
    net = make_network("gateway_links", 3)
    ref_lost, ref_comp = _reference_outcomes(net, mode, intensity, episodes=320)
    core_lost, core_comp = _batched_outcomes(net, mode, intensity, rounds=5)
    assert 0.15 < ref_lost.mean() < 0.85, "pick a network where the outcome is in doubt"
    assert abs(_z(core_lost, ref_lost)) < 4, (core_lost.mean(), ref_lost.mean())
    assert abs(_z(core_comp, ref_comp)) < 4, (core_comp.mean(), ref_comp.mean())
