"""``FlatMarlDefender``: the trained flat-marl policy acting on a network of any size.

A fixed-size network can only be made to fit: the observation of a smaller network is
zero-padded to the trained host count, that of a larger one truncated (hosts beyond it
are invisible and untouchable), and an action on a host the network does not have is a
no-op.  That is what the paper's kind of baseline can do on a new scale without retraining.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from rl_agents.flat_marl import AGENT, FlatMarlPolicy, GlobalObservation, decode
from rl_agents.weights import verified_state
from twin.envs import HVN_LOSS_PENALTY, paper_reward
from twin.network import Network
from twin.scenario import Scenario
from twin.sim import NOOP, Simulator


def load_policy(path_or_default: Path | str = AGENT) -> tuple[FlatMarlPolicy, dict]:
    """Load and verify the policy and manifest: ``"flat-marl"`` (shipped), a run folder or a ``.pt`` file.

    Raises :class:`rl_agents.weights.WeightsError` for a missing file, another agent's
    manifest, a sha256 mismatch or features the twin no longer gives.
    """
    state, manifest = verified_state(path_or_default, shipped=(AGENT,), agents=(AGENT,))
    policy = FlatMarlPolicy(**manifest["policy"])
    policy.load_state_dict(state)
    policy.eval()
    return policy, manifest


class FlatMarlDefender:
    """The Defender protocol over a trained :class:`FlatMarlPolicy`, on a network of any size.

    The observation is zero-padded or truncated to the trained host count; an action on a
    host beyond the network is a no-op.  Agent ``k`` fills action slot ``k``; with a budget
    above the trained agent count the ids repeat, below it the first ``budget`` agents act.
    """

    name = AGENT

    def __init__(self, policy: FlatMarlPolicy, *, sample: bool = False, seed: int | None = None) -> None:
        self.policy = policy.eval()
        self.sample = sample
        self.generator = torch.Generator().manual_seed(0 if seed is None else seed)
        self._observe: tuple[Network, GlobalObservation] | None = None

    def act(self, sim: Simulator, budget: int) -> tuple[np.ndarray, np.ndarray]:
        if self._observe is None or self._observe[0] is not sim.network:
            self._observe = (sim.network, GlobalObservation(sim.network, self.policy.config["n_hosts"]))
        if budget <= 0:
            return np.full((sim.batch, 0), NOOP, dtype=np.int64), np.zeros((sim.batch, 0), dtype=np.int64)
        with torch.no_grad():
            logits = self.policy.logits(self._observe[1](sim))  # (B, agents, actions)
        agents = np.arange(budget) % logits.shape[1]
        logits = logits[:, agents]
        if self.sample:
            probs = torch.softmax(logits, -1).reshape(-1, logits.shape[-1])
            action = torch.multinomial(probs, 1, generator=self.generator).reshape(logits.shape[:2])
        else:
            action = logits.argmax(-1)
        return decode(action.numpy(), self.policy.config["n_hosts"], sim.network.n_nodes)


def load_flat_marl(path_or_default: Path | str = AGENT, *, sample: bool = False,
                   seed: int | None = None) -> FlatMarlDefender:
    """The flat-marl defender from verified weights (default: the shipped ones), greedy unless ``sample``."""
    policy, _ = load_policy(path_or_default)
    return FlatMarlDefender(policy, sample=sample, seed=seed)


def batched_episodes(scenario: Scenario, defender, *, episodes: int, seed: int, network: Network | None = None) -> dict[str, float]:
    """Mean availability (over the horizon, 0 after a loss), HVN-loss rate and paper return of
    ``episodes`` episodes played in one batch."""
    from twin.build import build_network, build_simulator

    network = network or build_network(scenario)
    sim = build_simulator(scenario, network=network, batch=episodes, seed=seed)
    budget = scenario.defender.actions_per_step
    avail, ret = np.zeros(episodes), np.zeros(episodes)
    counts = (sim.visible.sum(1), sim.isolated.sum(1))
    while not sim.done.all():
        alive = ~sim.done
        kinds, hosts = defender.act(sim, budget)
        m = sim.step(kinds, hosts)
        now = (sim.visible.sum(1), sim.isolated.sum(1))
        ret += alive * (paper_reward(counts, now, False) + np.where(m.hvn_lost & alive, HVN_LOSS_PENALTY, 0.0))
        counts = now
        avail += alive * m.availability
    return {"availability": float(avail.mean() / scenario.horizon), "hvn_loss_rate": float(sim.hvn_lost.mean()),
            "episode_return": float(ret.mean())}


def compare_on_scenario(policy: FlatMarlPolicy, scenario_name: str, *, episodes: int, seed: int) -> dict[str, dict]:
    """flat-marl (greedy) against random and sleep on the same episodes (same seed)."""
    from rl_agents.baselines import RandomDefender, SleepDefender
    from twin.scenario import load_scenario

    scenario = load_scenario(scenario_name)
    return {d.name: batched_episodes(scenario, d, episodes=episodes, seed=seed)
            for d in (FlatMarlDefender(policy), RandomDefender(seed=seed), SleepDefender())}
