"""The per-region agents' network: one set of weights for regions of any size and shape.

The paper's agents read a fixed 30-vector and scored 30 fixed actions, so a 31st host
(or a different tree) meant retraining.  Here every host is described by the same
per-host features (:mod:`twin.observation`), mixed with its neighbours' by a few rounds
of message passing over the region's links, and scored by one shared head: the number
of logits follows the number of hosts, and relabelling hosts relabels the logits.

Message passing uses the *current* links: a link is down when either end is isolated
(feature ``isolated``), and a down link carries nothing, just as it carries no attack.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from twin.network import MIN_VULNERABILITY
from twin.observation import FEATURES, N_FEATURES

AGENT_ACTIONS: dict[str, str] = {"fortify": "patch", "block": "isolate", "purge": "reset", "recover": "recover"}
"""Agent name -> the one atomic action kind it takes (paper: Fortify, Block, Purge, Recover)."""

DENSE_LIMIT = 128
"""Regions up to this many hosts aggregate with a dense matrix product, larger ones with index_add_."""

_COL = {name: i for i, name in enumerate(FEATURES)}


def action_mask(kind: str, nodes: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
    """True where ``kind`` (an action or an agent name) would change nothing, as far as the defender can tell.

    ``nodes`` is ``(..., n, N_FEATURES)``.  Exact for isolate (already isolated), recover
    (not isolated) and patch (already at the floor).  For reset the defender cannot know:
    a host never seen compromised may still be held, but resetting blind is a guess, so
    reset is masked to the hosts seen compromised (as the paper's Purge agent and the
    greedy defender do).
    """
    kind = AGENT_ACTIONS.get(kind, kind)
    isolated = nodes[..., _COL["isolated"]] > 0.5
    if kind == "isolate":
        return isolated
    if kind == "recover":
        return ~isolated
    if kind == "reset":
        return nodes[..., _COL["visible_compromise"]] < 0.5
    if kind == "patch":
        return nodes[..., _COL["vulnerability"]] <= MIN_VULNERABILITY + 1e-6
    raise ValueError(f"unknown action kind {kind!r}; choose one of {', '.join(AGENT_ACTIONS.values())}")


def _layer(n_in: int, n_out: int, std: float = np.sqrt(2)) -> nn.Linear:
    """Orthogonal init, zero bias (CleanRL's ``layer_init``): steadier early PPO updates."""
    layer = nn.Linear(n_in, n_out)
    nn.init.orthogonal_(layer.weight, std)
    nn.init.zeros_(layer.bias)
    return layer


def serving_threads() -> None:
    """One intra-op thread for the agents in a serving process (``cyberops serve``/``demo``).

    A region's forward pass takes about a millisecond: too small to gain from a second thread,
    while a bot has other threads (HTTP, Slack, the clock, checkpoint writes) whose cores torch's
    spinning workers would fight for; on a busy 2-core machine passes took 50x longer.
    """
    torch.set_num_threads(1)


class RegionPolicy(nn.Module):
    """Per-host logits and a region value from per-host features and a link list.

    ``forward(nodes, edges, mask)``: ``nodes`` is ``(n, F)`` or ``(B, n, F)`` (a batch of
    same-size regions sharing one ``edges``), ``edges`` is ``(2, E)`` local host indices
    with both directions listed, ``mask`` is an optional bool ``(n,)``/``(B, n)`` of hosts
    to rule out (see :func:`action_mask`).  Returns ``(logits, value)`` of shapes
    ``(B, n)`` and ``(B,)`` (batch dimension dropped for unbatched input).
    """

    def __init__(self, n_features: int = N_FEATURES, hidden: int = 24, rounds: int = 3) -> None:
        super().__init__()
        self.config = {"n_features": n_features, "hidden": hidden, "rounds": rounds}
        self.encoder = nn.Sequential(_layer(n_features, hidden), nn.Tanh())
        # per round: the host's own state and the mean of its live neighbours', mixed
        self.self_mix = nn.ModuleList(_layer(hidden, hidden) for _ in range(rounds))
        self.neighbour_mix = nn.ModuleList(_layer(hidden, hidden) for _ in range(rounds))
        self.score = nn.Sequential(_layer(hidden, hidden), nn.Tanh(), _layer(hidden, 1, std=0.01))
        self.value = nn.Sequential(_layer(2 * hidden, hidden), nn.Tanh(), _layer(hidden, 1, std=1.0))

    @staticmethod
    def _neighbour_mean(h: torch.Tensor, src: torch.Tensor, dst: torch.Tensor, up: torch.Tensor) -> torch.Tensor:
        """Mean of ``h`` over each host's neighbours across live links (0 with none): any size."""
        total = torch.zeros_like(h).index_add_(1, dst, h[:, src] * up.unsqueeze(-1))
        count = torch.zeros(h.shape[:2], dtype=h.dtype, device=h.device).index_add_(1, dst, up)
        return total / count.clamp(min=1.0).unsqueeze(-1)

    def forward(
        self, nodes: torch.Tensor, edges: torch.Tensor | np.ndarray, mask: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        single = nodes.dim() == 2
        x = nodes.unsqueeze(0) if single else nodes
        n = x.shape[1]
        edges = torch.as_tensor(edges, dtype=torch.long, device=x.device)
        src, dst = edges[0], edges[1]
        live = 1.0 - (x[..., _COL["isolated"]] > 0.5).to(x.dtype)  # (B, n)
        if n <= DENSE_LIMIT:
            # the same mean as a (B, n, n) matrix product: ~4x faster on training-size regions
            base = torch.zeros(n, n, dtype=x.dtype, device=x.device).index_put_(
                (dst, src), torch.ones_like(dst, dtype=x.dtype), accumulate=True)
            adjacency = base * live.unsqueeze(2) * live.unsqueeze(1)  # a link is up when neither end is isolated
            inverse_degree = 1.0 / adjacency.sum(-1, keepdim=True).clamp(min=1.0)

            def neighbour_mean(h: torch.Tensor) -> torch.Tensor:
                return torch.bmm(adjacency, h) * inverse_degree
        else:
            up = live[:, src] * live[:, dst]  # (B, E)

            def neighbour_mean(h: torch.Tensor) -> torch.Tensor:
                return self._neighbour_mean(h, src, dst, up)
        h = self.encoder(x)
        for self_mix, neighbour_mix in zip(self.self_mix, self.neighbour_mix):
            h = h + torch.tanh(self_mix(h) + neighbour_mix(neighbour_mean(h)))
        logits = self.score(h).squeeze(-1)
        if mask is not None:
            mask = mask.unsqueeze(0) if single else mask
            # a row with every host ruled out has nothing useful to do: leave it finite
            # (no NaN from softmax) and let the caller see mask.all()
            rule_out = mask & ~mask.all(dim=-1, keepdim=True)
            logits = logits.masked_fill(rule_out, float("-inf"))
        value = self.value(torch.cat([h.mean(dim=1), h.amax(dim=1)], dim=-1)).squeeze(-1)
        return (logits[0], value[0]) if single else (logits, value)

    @torch.no_grad()
    def choose(
        self, nodes: np.ndarray, edges: np.ndarray, kind: str, *, generator: torch.Generator | None = None,
        exclude: np.ndarray | None = None,
    ) -> int | None:
        """The host (local index) to act on, or None when the action would change nothing anywhere.

        Greedy (argmax) unless a ``generator`` is given, then sampled from the policy;
        ``exclude`` (bool per host) rules out hosts already taken by other actions.
        """
        x = torch.as_tensor(np.asarray(nodes, dtype=np.float32))
        mask = action_mask(kind, x)
        if exclude is not None:
            mask = mask | torch.as_tensor(exclude, dtype=torch.bool)
        if bool(mask.all()):
            return None
        logits, _ = self(x, edges, mask)
        if generator is None:
            return int(torch.argmax(logits))
        return int(torch.multinomial(torch.softmax(logits, dim=-1), 1, generator=generator))

    @torch.no_grad()
    def scores(self, nodes: np.ndarray, edges: np.ndarray) -> torch.Tensor:
        """Every host's raw score (no mask): what :meth:`pick` chooses from, reusable while the features hold."""
        logits, _ = self(torch.as_tensor(np.asarray(nodes, dtype=np.float32)), edges, None)
        return logits

    @staticmethod
    def pick(scores: torch.Tensor, nodes: np.ndarray, kind: str, *, exclude: np.ndarray | None = None) -> int | None:
        """Greedy :meth:`choose` from precomputed ``scores``: the same host, without another forward pass."""
        mask = action_mask(kind, torch.as_tensor(np.asarray(nodes, dtype=np.float32)))
        if exclude is not None:
            mask = mask | torch.as_tensor(exclude, dtype=torch.bool)
        if bool(mask.all()):
            return None
        return int(torch.argmax(scores.masked_fill(mask, float("-inf"))))


def parameter_count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
