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
  internet as well as from its neighbours, so neither is a target.
* A new compromise is seen by the defender with probability ``p_detect``, at the
  moment it happens; an unseen compromise stays unseen until the host is reset.
* Each step: the defender's actions in order, then ``intensity`` attack attempts one
  after another (each sees the previous ones' successes), then the metrics.  An episode
  ends at the horizon or when a high-value host is truly compromised (defender loses).

Random draws follow a fixed protocol so that a slow reference implementation (in
``tests/``) can replay the very same trajectory; each attack attempt draws, in order:
``random`` — ``u(B)``; ``recon`` — ``u(B,S)`` then ``u(B,N)``; ``impact`` — ``u(B,N)``;
``penetrate`` — ``u(B)`` then ``u(B,N)``; then every mode draws ``u(B)`` for success and
``u(B)`` for detection.  Draws happen even when no host is attackable.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from twin.availability import AvailabilityCache
from twin.network import MIN_VULNERABILITY, UNREACHABLE, Network

ACTIONS: tuple[str, ...] = ("noop", "isolate", "recover", "reset", "patch")
"""Defender action kinds, by code.  ``noop`` lets a fixed-size action vector say 'no action'."""
NOOP, ISOLATE, RECOVER, RESET, PATCH = range(5)

ATTACK_MODES: tuple[str, ...] = ("random", "recon", "penetrate", "impact")
PENETRATE_IMPACT_P = 0.4
PATCH_STEP = 0.5
#: Above this many hosts, "who is linked to a compromise" uses a sparse product.
DENSE_LIMIT = 512


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
        self._entry = network.entry[None, :]
        self._hvn = network.high_value
        hops = network.hvn_hops.astype(np.float64)
        self._neg_hops = -np.where(hops >= UNREACHABLE, 1e9, hops)[None, :]
        adj = sp.csr_matrix(
            (np.ones(2 * len(network.edges), np.float32),
             (np.r_[network.edges[:, 0], network.edges[:, 1]],
              np.r_[network.edges[:, 1], network.edges[:, 0]])),
            shape=(n, n),
        )
        self._adj = adj.toarray() if n <= DENSE_LIMIT else adj
        self._sub_onehot = np.zeros((network.n_subnets, n), dtype=bool)
        self._sub_onehot[network.subnet_of, np.arange(n)] = True
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
        if self.network.vulnerability is not None:
            self.vulnerability[idx] = self.network.vulnerability
        else:
            self.vulnerability[idx] = self.rng.uniform(MIN_VULNERABILITY, 1.0, (idx.size, n))
        for arr in (self.compromised, self.visible, self.isolated):
            arr[idx] = False
        self.t[idx] = 0
        self.hvn_lost[idx] = False
        self.attack_targets[idx] = -1
        self.attack_success[idx] = False
        self.availability_cache.reset(idx)

    # --------------------------------------------------------------- defender
    def act(self, kinds: np.ndarray, nodes: np.ndarray) -> np.ndarray:
        """Apply one defender action per environment; returns which ones changed state.

        ``kinds`` and ``nodes`` are ``(B,)`` integer arrays (kind codes from ``ACTIONS``).
        """
        kinds = np.asarray(kinds, dtype=np.int64).reshape(self.batch)
        nodes = np.asarray(nodes, dtype=np.int64).reshape(self.batch)
        rows = self._rows
        changed = np.zeros(self.batch, dtype=bool)
        iso = self.isolated[rows, nodes]
        m = (kinds == ISOLATE) & ~iso
        if m.any():  # isolate: cut every link of the host
            self.isolated[rows[m], nodes[m]] = True
            changed |= m
        m = (kinds == RECOVER) & iso
        if m.any():  # recover: links come back to neighbours that are not isolated
            self.isolated[rows[m], nodes[m]] = False
            changed |= m
        links_changed = changed.copy()
        m = (kinds == RESET) & (self.compromised[rows, nodes] | self.visible[rows, nodes])
        if m.any():  # reset: the host is clean again (and seen as clean)
            self.compromised[rows[m], nodes[m]] = False
            self.visible[rows[m], nodes[m]] = False
            changed |= m
        m = (kinds == PATCH) & (self.vulnerability[rows, nodes] > MIN_VULNERABILITY)
        if m.any():  # patch: v <- max(v - 0.5, 0.01), which lowers 1/(2-v)
            v = self.vulnerability[rows[m], nodes[m]]
            self.vulnerability[rows[m], nodes[m]] = np.maximum(v - PATCH_STEP, MIN_VULNERABILITY)
            changed |= m
        if links_changed.any():
            self.availability_cache.mark_dirty(rows[links_changed], self.network.subnet_of[nodes[links_changed]])
        return changed

    # --------------------------------------------------------------- attacker
    def attackable(self) -> np.ndarray:
        """``(B, N)`` bool: hosts an attacker could try next (see module docstring)."""
        spreading = (self.compromised & ~self.isolated).astype(np.float32)
        if isinstance(self._adj, np.ndarray):
            linked = spreading @ self._adj > 0
        else:
            linked = (self._adj @ spreading.T).T > 0
        return ~self.compromised & ~self.isolated & (linked | self._entry)

    def _choose(self, attackable: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One target per environment, by the attack mode; returns (targets, valid)."""
        rng, b, n = self.rng, self.batch, self.network.n_nodes
        if self.mode == "random":
            targets = np.minimum((rng.random(b) * n).astype(np.int64), n - 1)
            return targets, np.ones(b, dtype=bool)
        valid = attackable.any(axis=1)
        if self.mode == "recon":
            has = (attackable[:, None, :] & self._sub_onehot[None]).any(axis=2)  # (B,S)
            sub = np.argmax(np.where(has, rng.random(has.shape), -1.0), axis=1)
            pool = attackable & self._sub_onehot[sub]
            score = np.where(pool, rng.random((b, n)), -1.0)
        elif self.mode == "impact":
            score = np.where(attackable, self._neg_hops + 0.5 * rng.random((b, n)), -np.inf)
        else:  # penetrate
            impact = rng.random(b) < PENETRATE_IMPACT_P
            u = rng.random((b, n))
            by_hops = self._neg_hops + 0.5 * u
            by_vuln = self.vulnerability + 1e-9 * u
            score = np.where(attackable, np.where(impact[:, None], by_hops, by_vuln), -np.inf)
        return np.argmax(score, axis=1), valid

    def attack(self, live: np.ndarray | None = None) -> None:
        """Run ``intensity`` attack attempts in the ``live`` environments (default: all)."""
        rng, rows = self.rng, self._rows
        live = np.ones(self.batch, dtype=bool) if live is None else live
        self.attack_targets[:] = -1
        self.attack_success[:] = False
        for k in range(self.intensity):
            need = self.mode != "random"
            targets, valid = self._choose(self.attackable() if need else None)
            success_u = rng.random(self.batch) * 100.0
            detect_u = rng.random(self.batch)
            valid &= live
            v = self.vulnerability[rows, targets]
            hit = valid & (100.0 / (2.0 - v) > success_u) & ~self.compromised[rows, targets]
            self.attack_targets[valid, k] = targets[valid]
            self.attack_success[:, k] = hit
            if hit.any():
                self.compromised[rows[hit], targets[hit]] = True
                seen = hit & (detect_u < self.p_detect)
                self.visible[rows[seen], targets[seen]] = True

    # ------------------------------------------------------------------- step
    def step(self, kinds: np.ndarray | None = None, nodes: np.ndarray | None = None) -> StepMetrics:
        """Defender actions, then attacks, then metrics.

        ``kinds``/``nodes`` are ``(B, K)`` (K actions per environment, applied in order)
        or ``(B,)``; None means no defender action.  Environments whose episode is over
        are left as they are; call :meth:`reset` on them.
        """
        playing = ~self.done
        if kinds is not None:
            kinds = np.asarray(kinds, dtype=np.int64).reshape(self.batch, -1)
            nodes = np.asarray(nodes, dtype=np.int64).reshape(self.batch, -1)
            kinds = np.where(playing[:, None], kinds, NOOP)
            for k in range(kinds.shape[1]):
                self.act(kinds[:, k], nodes[:, k])
        self.attack(playing)
        self.hvn_lost |= playing & (self.compromised & self._hvn).any(axis=1)
        self.t += playing
        return self.metrics()

    @property
    def done(self) -> np.ndarray:
        return self.hvn_lost | (self.t >= self.horizon)

    def metrics(self) -> StepMetrics:
        n = self.network.n_nodes
        comp = self.compromised.sum(axis=1)
        iso = self.isolated.sum(axis=1)
        unhealthy = (self.compromised | self.isolated).sum(axis=1)
        avail = self.availability_cache.availability(self.isolated)
        return StepMetrics(
            availability=np.where(self.hvn_lost, 0.0, avail),
            healthy_ratio=1.0 - unhealthy / n,
            compromised=comp,
            visible=self.visible.sum(axis=1),
            isolated=iso,
            hvn_lost=self.hvn_lost.copy(),
            done=self.done,
        )
