"""The fast attack/defence simulator: a batch of independent twins stepped as arrays.

Rules (ARCHITECTURE.md, Yawning Titan's model as the CyberOps-Bots paper uses it):

* A host has a vulnerability ``v`` in [0.01, 1], a true compromise flag, a flag for
  whether the defender has seen that compromise, and an isolation flag.
* A link is up exactly when neither end is isolated.  (``isolate`` cuts every link of
  a host; ``recover`` restores links to the neighbours that are not isolated, so a
  link comes back once both ends are recovered: the two statements are the same.)
* An attack on a host with vulnerability ``v`` succeeds when
  ``100 / (2 - v) > U(0, 100)``, i.e. with probability ``1 / (2 - v)``.
* A host is *attackable* when it is not compromised, not isolated, and is either an
  entry host or linked (by an up link) to a truly compromised host.  Attacks on a host
  the attacker already holds would be wasted, and an isolated host is cut off from the
  internet as well as from its neighbours, so neither is a target.  The ``random``
  attacker picks any host uniformly; its attempt fails on a held or isolated host.
* A new compromise is seen by the defender with probability ``p_detect``, at the
  moment it happens; an unseen compromise stays unseen until the host is reset.
* Each step: the defender's actions in order, then ``intensity`` attack attempts one
  after another (each sees the previous ones' successes), then the metrics.  An episode
  ends at the horizon or when a high-value host is truly compromised (defender loses).

Random draws follow a fixed protocol so that a slow reference implementation (in
``tests/``) can replay the very same trajectory; each attack attempt draws, in order:
``random`` — ``u(B)``; ``recon`` — ``u(B,S)`` then ``u(B,N)``; ``impact`` — ``u(B,N)``;
``penetrate`` — ``u(B)`` then ``u(B,N)``; then every mode draws ``u(B)`` for success and
``u(B)`` for detection.  Draws happen even when no host is attackable, and for
environments whose episode is over.  All attempts of a step come from one block of
draws in that order (the same numbers as drawing them one by one).

The per-host work (actions, target choice, the attackable set) runs in the compiled
kernels of :mod:`twin.kernels`; this class owns the state and the protocol.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from twin import kernels
from twin.availability import AvailabilityCache
from twin.network import MIN_VULNERABILITY, UNREACHABLE, Network

ACTIONS: tuple[str, ...] = ("noop", "isolate", "recover", "reset", "patch")
"""Defender action kinds, by code.  ``noop`` lets a fixed-size action vector say 'no action'."""
NOOP, ISOLATE, RECOVER, RESET, PATCH = (
    kernels.NOOP, kernels.ISOLATE, kernels.RECOVER, kernels.RESET, kernels.PATCH
)
ATTACK_MODES: tuple[str, ...] = ("random", "recon", "penetrate", "impact")  # kernel codes 0..3
PENETRATE_IMPACT_P = kernels.PENETRATE_IMPACT_P
PATCH_STEP = kernels.PATCH_STEP


@dataclass(frozen=True)
class StepMetrics:
    """What one step did, per environment of the batch."""

    availability: np.ndarray  # (B,) mean over subnets of efficiency ratio; 0 once an HVN is lost
    healthy_ratio: np.ndarray  # (B,) 1 - |compromised or isolated| / N
    compromised: np.ndarray  # (B,) truly compromised hosts
    visible: np.ndarray  # (B,) compromises the defender sees
    isolated: np.ndarray  # (B,) isolated hosts
    hvn_lost: np.ndarray  # (B,) bool: a high-value host is truly compromised
    done: np.ndarray  # (B,) bool: episode over (horizon or HVN lost)


class Simulator:
    """``batch`` independent copies of one network, stepped together.

    State arrays are ``(batch, n_nodes)``; read them freely, change them only through
    :meth:`act`, :meth:`attack`, :meth:`step` and :meth:`reset`.
    """

    def __init__(
        self,
        network: Network,
        *,
        mode: str = "recon",
        intensity: int = 2,
        p_detect: float = 0.5,
        horizon: int = 30,
        batch: int = 1,
        seed: int | None = None,
        availability_sources: int = 128,
        exact_availability_limit: int = 300,
    ) -> None:
        if mode not in ATTACK_MODES:
            raise ValueError(f"attack mode {mode!r} is not one of {', '.join(ATTACK_MODES)}")
        if intensity < 0:
            raise ValueError(f"attack intensity must be >= 0, not {intensity}")
        self.network = network
        self.mode = mode
        self.intensity = int(intensity)
        self.p_detect = float(p_detect)
        self.horizon = int(horizon)
        self.batch = int(batch)
        self.rng = np.random.default_rng(seed)
        n, b = network.n_nodes, self.batch
        self._rows = np.arange(b)
        self._mode_code = ATTACK_MODES.index(mode)
        self._hvn = network.high_value
        hops = network.hvn_hops.astype(np.float64)
        self._neg_hops = -np.where(hops >= UNREACHABLE, 1e9, hops)
        self.availability_cache = AvailabilityCache(
            network, batch=b, sources=availability_sources,
            exact_limit=exact_availability_limit,
        )
        self.compromised = np.zeros((b, n), dtype=bool)
        self.visible = np.zeros((b, n), dtype=bool)
        self.isolated = np.zeros((b, n), dtype=bool)
        self.vulnerability = np.zeros((b, n), dtype=np.float64)
        self.t = np.zeros(b, dtype=np.int64)
        self.hvn_lost = np.zeros(b, dtype=bool)
        #: last step's attack targets (-1 where no attempt) and whether each succeeded
        self.attack_targets = np.full((b, self.intensity), -1, dtype=np.int64)
        self.attack_success = np.zeros((b, self.intensity), dtype=bool)
        self.reset()

    # ------------------------------------------------------------------ reset
    def reset(self, envs: np.ndarray | None = None) -> None:
        """Start a new episode in ``envs`` (a bool mask or indices; all when None)."""
        idx = self._rows if envs is None else np.asarray(envs)
        if idx.dtype == bool:
            idx = np.flatnonzero(idx)
        if idx.size == 0:
            return
        n = self.network.n_nodes
        given = self.network.vulnerability
        if given is None or np.isnan(given).any():
            self.vulnerability[idx] = self.rng.uniform(MIN_VULNERABILITY, 1.0, (idx.size, n))
        if given is not None:
            known = ~np.isnan(given)
            self.vulnerability[np.ix_(idx, np.flatnonzero(known))] = given[known]
        for arr in (self.compromised, self.visible, self.isolated):
            arr[idx] = False
        self.t[idx] = 0
        self.hvn_lost[idx] = False
        self.attack_targets[idx] = -1
        self.attack_success[idx] = False
        self.availability_cache.reset(idx)

    # --------------------------------------------------------------- defender
    def act(self, kinds: np.ndarray, nodes: np.ndarray) -> np.ndarray:
        """Apply defender actions; returns which ones changed the network.

        ``kinds`` and ``nodes`` are ``(B,)`` (one action per environment) or ``(B, K)``
        (K actions per environment, applied in order); kind codes from ``ACTIONS``.
        """
        kinds = np.ascontiguousarray(kinds, dtype=np.int64).reshape(self.batch, -1)
        nodes = np.ascontiguousarray(nodes, dtype=np.int64).reshape(self.batch, -1)
        if kinds.size and (nodes.min() < 0 or nodes.max() >= self.network.n_nodes):
            raise IndexError(f"host index out of range 0..{self.network.n_nodes - 1}")
        if kinds.size and (kinds.min() < NOOP or kinds.max() > PATCH):
            raise ValueError(f"action kind out of range 0..{PATCH}")
        changed = np.zeros(kinds.shape, dtype=bool)
        kernels.act_batch(
            kinds, nodes, self.isolated, self.compromised, self.visible, self.vulnerability,
            self.network.subnet_of, self.availability_cache.dirty, changed,
        )
        return changed[:, 0] if changed.shape[1] == 1 else changed

    # --------------------------------------------------------------- attacker
    def attackable(self) -> np.ndarray:
        """``(B, N)`` bool: hosts an attacker could try next (see module docstring)."""
        net = self.network
        return kernels.attackable_batch(
            self.compromised, self.isolated, net.csr_indptr, net.csr_indices, net.entry
        )

    def attack(self, live: np.ndarray | None = None) -> None:
        """Run ``intensity`` attack attempts in the ``live`` environments (default: all)."""
        b, n, s = self.batch, self.network.n_nodes, self.network.n_subnets
        live = np.ones(b, dtype=bool) if live is None else np.asarray(live, dtype=bool)
        choice = {"random": b, "recon": b * s + b * n, "impact": b * n, "penetrate": b + b * n}[self.mode]
        draws = self.rng.random(self.intensity * (choice + 2 * b))
        net = self.network
        kernels.attack_batch(
            self._mode_code, draws, s, live, self.compromised, self.visible, self.isolated,
            self.vulnerability, net.csr_indptr, net.csr_indices, net.entry, self._neg_hops,
            net.subnet_of, self.p_detect, self.attack_targets, self.attack_success,
        )

    # ------------------------------------------------------------------- step
    def step(
        self, kinds: np.ndarray | None = None, nodes: np.ndarray | None = None, *, availability: bool = True
    ) -> StepMetrics:
        """Defender actions, then attacks, then metrics.

        ``kinds``/``nodes`` are ``(B, K)`` (K actions per environment, applied in order)
        or ``(B,)``; None means no defender action.  Environments whose episode is over
        are left as they are; call :meth:`reset` on them.
        """
        playing = ~self.done
        if kinds is not None:
            kinds = np.asarray(kinds, dtype=np.int64).reshape(self.batch, -1)
            nodes = np.asarray(nodes, dtype=np.int64).reshape(self.batch, -1)
            self.act(np.where(playing[:, None], kinds, NOOP), nodes)
        self.attack(playing)
        self.hvn_lost |= playing & (self.compromised & self._hvn).any(axis=1)
        self.t += playing
        return self.metrics(availability=availability)

    @property
    def done(self) -> np.ndarray:
        return self.hvn_lost | (self.t >= self.horizon)

    def metrics(self, *, availability: bool = True) -> StepMetrics:
        n = self.network.n_nodes
        comp = self.compromised.sum(axis=1)
        iso = self.isolated.sum(axis=1)
        unhealthy = (self.compromised | self.isolated).sum(axis=1)
        if availability:
            avail = np.where(self.hvn_lost, 0.0, self.availability_cache.availability(self.isolated))
        else:
            avail = np.full(self.batch, np.nan)
        return StepMetrics(
            availability=avail,
            healthy_ratio=1.0 - unhealthy / n,
            compromised=comp,
            visible=self.visible.sum(axis=1),
            isolated=iso,
            hvn_lost=self.hvn_lost.copy(),
            done=self.done,
        )
