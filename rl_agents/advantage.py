"""Generalised advantage estimation, shared by both PPO trainers.

Each rollout plays one episode per environment from its start, so there is no
bootstrapping across episodes: a step's successor counts only while the
environment is still ``alive`` (its episode not over).
"""

from __future__ import annotations

import torch


def gae(
    reward: torch.Tensor, value: torch.Tensor, alive: torch.Tensor, *, gamma: float, lam: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(advantages, returns)`` for ``(T, B)`` rewards, values and alive flags."""
    steps, batch = reward.shape[0], reward.shape[1]
    advantages = torch.zeros_like(reward)
    last = torch.zeros(batch)
    for t in reversed(range(steps)):
        next_alive = alive[t + 1].float() if t + 1 < steps else torch.zeros(batch)
        next_value = value[t + 1] if t + 1 < steps else torch.zeros(batch)
        delta = reward[t] + gamma * next_value * next_alive - value[t]
        last = delta + gamma * lam * next_alive * last
        advantages[t] = last
    return advantages, advantages + value
