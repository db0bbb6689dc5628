"""Availability: per-subnet global efficiency of the current links over that of the base.

Global efficiency is the mean of ``1/d(u, v)`` over ordered pairs of distinct hosts
(``networkx.global_efficiency``); only the links inside a subnet count, gateway links
do not.  Only isolation changes links, so values are cached per (environment, subnet)
and recomputed only for the pairs marked dirty.

Subnets larger than ``exact_limit`` hosts are estimated from ``sources`` source hosts
fixed per subnet (the same sources for the base and the current graph); the estimate's
error is measured by ``cyberops bench availability`` and recorded in BENCHMARKS.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from twin.kernels import batch_efficiency_sum
from twin.network import Network


@dataclass(frozen=True)
class _Subnet:
    start: int
    n: int
    indptr: np.ndarray
    indices: np.ndarray
    sources: np.ndarray  # every host when exact

    def efficiency(self, keep: np.ndarray) -> np.ndarray:
        """Efficiency for each row of ``keep`` (``(D, n)`` bool, False = isolated)."""
        if self.n < 2:
            return np.zeros(len(keep))
        sums = batch_efficiency_sum(self.indptr, self.indices, keep, self.sources)
        return sums / (len(self.sources) * (self.n - 1))


def _local_subnet(network: Network, s: int, sources: int, exact_limit: int, rng: np.random.Generator) -> _Subnet:
    sl = network.subnet_slice(s)
    n = sl.stop - sl.start
    inner = network.edges[(network.subnet_of[network.edges[:, 0]] == s) & ~network.gateway] - sl.start
    both = np.concatenate([inner, inner[:, ::-1]])
    both = both[np.argsort(both[:, 0], kind="stable")]
    indptr = np.concatenate([[0], np.cumsum(np.bincount(both[:, 0], minlength=n))]).astype(np.int64)
    src = np.arange(n) if n <= exact_limit else np.sort(rng.choice(n, size=min(sources, n), replace=False))
    return _Subnet(sl.start, n, indptr, both[:, 1].astype(np.int64).copy(), src.astype(np.int64))


class AvailabilityCache:
    """Cached efficiency ratios for a batch of twins of one network."""

    def __init__(self, network: Network, *, batch: int, sources: int = 128, exact_limit: int = 300) -> None:
        pick = np.random.default_rng(0)  # fixed: the same sources on every run
        self._subnets = [_local_subnet(network, s, sources, exact_limit, pick) for s in range(network.n_subnets)]
        self.exact = all(len(sub.sources) == sub.n for sub in self._subnets)
        self.base = np.array([sub.efficiency(np.ones((1, sub.n), bool))[0] for sub in self._subnets])
        self.current = np.tile(self.base, (batch, 1))
        self.dirty = np.zeros((batch, network.n_subnets), dtype=bool)

    def reset(self, envs: np.ndarray) -> None:
        self.current[envs] = self.base
        self.dirty[envs] = False

    def mark_dirty(self, envs: np.ndarray, subnets: np.ndarray) -> None:
        self.dirty[envs, subnets] = True

    def ratios(self, isolated: np.ndarray) -> np.ndarray:
        """``(B, S)`` efficiency of each subnet now over its base efficiency (1 if the base is 0)."""
        if self.dirty.any():
            for s in np.flatnonzero(self.dirty.any(axis=0)):
                envs = np.flatnonzero(self.dirty[:, s])
                sub = self._subnets[s]
                self.current[envs, s] = sub.efficiency(~isolated[envs, sub.start : sub.start + sub.n])
            self.dirty[:] = False
        safe = np.where(self.base > 0, self.base, 1.0)
        return np.where(self.base > 0, self.current / safe, 1.0)

    def availability(self, isolated: np.ndarray) -> np.ndarray:
        """``(B,)`` mean over subnets of the efficiency ratio."""
        return self.ratios(isolated).mean(axis=1)
