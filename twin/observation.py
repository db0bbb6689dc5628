"""What a defender observes: per-host features, the same for any network size or shape.

Per-host features (not a fixed-size flat vector) are what let one set of weights act
on a 10-host and a 1,000-host region alike.  Only what a real defender can know is
used: visible (not true) compromise, its own isolations and patches, the topology.
"""

from __future__ import annotations

import numpy as np

from twin.network import UNREACHABLE, Network

FEATURES: tuple[str, ...] = (
    "visible_compromise",  # the defender has seen this host compromised
    "isolated",
    "vulnerability",
    "entry",
    "high_value",
    "hvn_proximity",  # 1 / (1 + hops to the nearest high-value host); 0 if none reachable
    "degree",  # links / the region's largest degree
    "visible_neighbours",  # share of the host's neighbours seen compromised
    "time",  # step / horizon, the same for every host
)
N_FEATURES = len(FEATURES)


class FeatureBuilder:
    """Precomputes the static features of ``hosts`` (global indices) once."""

    def __init__(self, network: Network, hosts: np.ndarray) -> None:
        self.hosts = np.asarray(hosts, dtype=np.int64)
        hops = network.hvn_hops[self.hosts]
        deg = network.degree[self.hosts].astype(np.float32)
        self.static = np.zeros((len(self.hosts), N_FEATURES), dtype=np.float32)
        self.static[:, 3] = network.entry[self.hosts]
        self.static[:, 4] = network.high_value[self.hosts]
        self.static[:, 5] = np.where(hops >= UNREACHABLE, 0.0, 1.0 / (1.0 + hops))
        self.static[:, 6] = deg / max(1.0, float(deg.max(initial=0.0)))
        # neighbour lists of the hosts, as one flat array and owners, for a bincount
        indptr, indices = network.csr_indptr, network.csr_indices
        self._owner = np.repeat(np.arange(len(self.hosts)), np.diff(indptr)[self.hosts])
        self._nbr = np.concatenate([indices[indptr[h] : indptr[h + 1]] for h in self.hosts]) if len(self.hosts) else np.zeros(0, np.int64)
        self._deg = np.maximum(network.degree[self.hosts], 1).astype(np.float32)

    def build(self, visible: np.ndarray, isolated: np.ndarray, vulnerability: np.ndarray, time: float) -> np.ndarray:
        """Features for one twin, from its ``(N,)`` state rows."""
        x = self.static.copy()
        x[:, 0] = visible[self.hosts]
        x[:, 1] = isolated[self.hosts]
        x[:, 2] = vulnerability[self.hosts]
        seen = np.bincount(self._owner, weights=visible[self._nbr], minlength=len(self.hosts))
        x[:, 7] = seen / self._deg
        x[:, 8] = time
        return x


def edge_index(network: Network, hosts: np.ndarray) -> np.ndarray:
    """``(2, 2E)`` base links among ``hosts`` in local numbering, both directions."""
    local = np.full(network.n_nodes, -1, dtype=np.int64)
    local[hosts] = np.arange(len(hosts))
    e = local[network.edges]
    e = e[(e >= 0).all(axis=1)]
    return np.concatenate([e, e[:, ::-1]]).T.copy()
