"""Every defender by name: the one place the CLI, the evaluation and the planner look them up."""

from __future__ import annotations

from rl_agents.baselines import Defender, GreedyDefender, RandomDefender, SleepDefender

DEFENDER_NAMES: tuple[str, ...] = ("hierarchical", "flat-marl", "greedy", "random", "sleep")


def make_defender(name: str, *, seed: int | None = None) -> Defender:
    """A fresh defender; learned ones load (and verify) their shipped weights."""
    if name == "sleep":
        return SleepDefender()
    if name == "random":
        return RandomDefender(seed=seed)
    if name == "greedy":
        return GreedyDefender()
    if name == "hierarchical":
        from rl_agents.hierarchical import HierarchicalDefender

        return HierarchicalDefender()
    if name == "flat-marl":
        from rl_agents.flat_marl_defender import load_flat_marl

        return load_flat_marl()
    raise ValueError(f"unknown defender {name!r}; choose from {', '.join(DEFENDER_NAMES)}")
