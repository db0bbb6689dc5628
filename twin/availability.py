"""Availability: per-subnet global efficiency of the current links over that of the base.

Global efficiency is the mean of ``1/d(u, v)`` over ordered pairs of distinct hosts
(``networkx.global_efficiency``).  Only isolation changes links, so values are cached
per (environment, subnet) and recomputed only for the pairs marked dirty.

Subnets larger than ``exact_limit`` hosts are estimated from ``sources`` source hosts
fixed per subnet (the same sources for the base and the current graph, so the ratio is
unbiased by the choice); the estimate's error is measured in BENCHMARKS.md.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import shortest_path

from twin.network import Network


def efficiency(
    n: int, u: np.ndarray, v: np.ndarray, keep: np.ndarray | None = None,
    sources: np.ndarray | None = None,
) -> float:
    """Global efficiency of the graph on ``n`` nodes with edges ``(u[i], v[i])``.

    ``keep`` drops every edge touching a host where it is False (isolated hosts);
    ``sources`` restricts the sum to pairs starting at those hosts (an estimate).
    """
    if n < 2:
        return 0.0
    if keep is not None:
        up = keep[u] & keep[v]
        u, v = u[up], v[up]
    if len(u) == 0:
        return 0.0
    graph = sp.csr_matrix((np.ones(len(u), np.float32), (u, v)), shape=(n, n))
    dist = shortest_path(graph, directed=False, unweighted=True, indices=sources)
    with np.errstate(divide="ignore"):
        inv = 1.0 / dist
    inv[~np.isfinite(inv)] = 0.0  # unreachable pairs; the diagonal is d=0 -> inf
    pairs = (n if sources is None else len(sources)) * (n - 1)
    return float(inv.sum() / pairs)


def dense_efficiency(adj: np.ndarray) -> np.ndarray:
    """Global efficiency of a stack of small graphs, ``adj`` of shape ``(D, n, n)``.

    Breadth-first search from every host at once by boolean matrix products: after
    ``k`` products, the hosts newly reached are exactly those at distance ``k``.
    """
    d, n = adj.shape[0], adj.shape[1]
    if n < 2:
        return np.zeros(d)
    adj = adj.astype(np.float32)
    reach = (adj > 0) | np.eye(n, dtype=bool)[None]
    frontier = adj
    count = adj.sum(axis=(1, 2), dtype=np.float64)  # pairs at distance 1
    total = count.copy()
    for k in range(2, n):
        nxt = ((frontier @ adj) > 0) & ~reach
        new = nxt.sum(axis=(1, 2), dtype=np.float64)
        if not new.any():
            break
        total += new / k
        reach |= nxt
        frontier = nxt.astype(np.float32)
    return total / (n * (n - 1))


class AvailabilityCache:
    """Cached efficiency ratios for a batch of twins of one network."""

    def __init__(
        self, network: Network, *, batch: int, sources: int = 128, exact_limit: int = 300,
        dense_limit: int = 96,
    ) -> None:
        self.dense_limit = dense_limit
        self.network = network
        self.batch = batch
        self._local: list[tuple[int, int, np.ndarray, np.ndarray, np.ndarray | None]] = []
        pick = np.random.default_rng(0)  # fixed: the same sources every run
        for s in range(network.n_subnets):
            sl = network.subnet_slice(s)
            n = sl.stop - sl.start
            inner = network.edges[(network.subnet_of[network.edges[:, 0]] == s) & ~network.gateway]
            u, v = inner[:, 0] - sl.start, inner[:, 1] - sl.start
            src = None if n <= exact_limit else np.sort(pick.choice(n, size=min(sources, n), replace=False))
            self._local.append((sl.start, n, u, v, src))
        self._dense = {}
        for s, (_, n, u, v, _src) in enumerate(self._local):
            if n <= dense_limit:
                a = np.zeros((n, n), dtype=np.float32)
                a[u, v] = a[v, u] = 1.0
                self._dense[s] = a
        self.base = np.array([efficiency(n, u, v, sources=src) for _, n, u, v, src in self._local])
        self.current = np.tile(self.base, (batch, 1))
        self.dirty = np.zeros((batch, network.n_subnets), dtype=bool)

    def reset(self, envs: np.ndarray) -> None:
        self.current[envs] = self.base
        self.dirty[envs] = False

    def mark_dirty(self, envs: np.ndarray, subnets: np.ndarray) -> None:
        self.dirty[envs, subnets] = True

    def ratios(self, isolated: np.ndarray) -> np.ndarray:
        """``(B, S)`` efficiency of each subnet now over its base efficiency."""
        if self.dirty.any():
            for s in np.flatnonzero(self.dirty.any(axis=0)):
                envs = np.flatnonzero(self.dirty[:, s])
                start, n, u, v, src = self._local[s]
                keep = ~isolated[envs, start : start + n]
                if s in self._dense:  # all dirty twins of this subnet in one batch
                    adj = self._dense[s][None] * keep[:, :, None] * keep[:, None, :]
                    self.current[envs, s] = dense_efficiency(adj)
                else:
                    for row, b in enumerate(envs):
                        self.current[b, s] = efficiency(n, u, v, keep=keep[row], sources=src)
            self.dirty[:] = False
        safe = np.where(self.base > 0, self.base, 1.0)
        return np.where(self.base > 0, self.current / safe, 1.0)

    def availability(self, isolated: np.ndarray) -> np.ndarray:
        """``(B,)`` mean over subnets of the efficiency ratio."""
        return self.ratios(isolated).mean(axis=1)
