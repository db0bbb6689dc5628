"""The network of record (a networkx graph) and its compiled array form.

networkx is the model people edit, import and render; the simulator works on the
arrays compiled from it once.  Host names are the node ids, so operators can name a
host in chat and every layer agrees on what it means.

Node attributes: ``subnet`` (str), ``role`` (str), ``entry`` (bool), ``high_value``
(bool) and optionally ``vulnerability`` (float in [0.01, 1]; drawn per episode when
absent).  An edge between two subnets is a gateway link.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from functools import cached_property

import networkx as nx
import numpy as np

#: Sentinel hop count for hosts with no path to any high-value host.
UNREACHABLE = 1 << 20

MIN_VULNERABILITY = 0.01


class NetworkError(ValueError):
    """A network that breaks the twin's rules (no subnets, an empty subnet, ...)."""


def _check_host(node: object, data: dict) -> None:
    for key in ("entry", "high_value"):
        if key in data and not isinstance(data[key], bool | np.bool_):
            raise NetworkError(f"host {node!r}: {key} must be true or false, not {data[key]!r}")
    v = data.get("vulnerability")
    if v is not None and (isinstance(v, bool) or not isinstance(v, int | float) or not MIN_VULNERABILITY <= v <= 1.0):
        raise NetworkError(f"host {node!r}: vulnerability must be a number in [0.01, 1], not {v!r}")


@dataclass(frozen=True, eq=False)
class Network:
    """A compiled, immutable view of a network graph.

    Hosts are numbered subnet by subnet (in subnet order, then in the graph's node
    order), so subnet ``s`` owns the index range ``subnet_start[s]:subnet_start[s+1]``.
    """

    graph: nx.Graph
    subnets: tuple[str, ...]
    names: tuple[str, ...]
    roles: tuple[str, ...]
    subnet_of: np.ndarray  # (N,) int
    subnet_start: np.ndarray  # (S+1,) int
    edges: np.ndarray  # (E, 2) int, u < v
    gateway: np.ndarray  # (E,) bool: link between two subnets
    entry: np.ndarray  # (N,) bool
    high_value: np.ndarray  # (N,) bool
    vulnerability: np.ndarray | None  # (N,) float, NaN where drawn per episode; None: all drawn
    index: dict[str, int] = field(repr=False)

    @classmethod
    def from_graph(cls, graph: nx.Graph) -> Network:
        """Compile ``graph``; raises :class:`NetworkError` on a graph the twin can't run."""
        if graph.number_of_nodes() == 0:
            raise NetworkError("the network has no hosts")
        graph = graph.copy()  # ours now: later edits by the caller cannot desync the arrays
        subnets: list[str] = []
        members: dict[str, list] = {}
        for node, data in graph.nodes(data=True):
            _check_host(node, data)
            raw = data.get("subnet", 0)
            sub = f"sub{raw}" if isinstance(raw, int) else str(raw)
            data["subnet"] = sub
            if sub not in members:
                subnets.append(sub)
                members[sub] = []
            members[sub].append(node)
        order = [node for sub in subnets for node in members[sub]]
        index = {str(node): i for i, node in enumerate(order)}
        if len(index) != len(order):
            raise NetworkError("two hosts share a name")
        pos = {node: i for i, node in enumerate(order)}
        sizes = [len(members[s]) for s in subnets]
        subnet_start = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        subnet_of = np.repeat(np.arange(len(subnets)), sizes).astype(np.int64)
        pairs = sorted(
            (min(pos[u], pos[v]), max(pos[u], pos[v])) for u, v in graph.edges() if u != v
        )
        edges = np.array(pairs, dtype=np.int64).reshape(-1, 2)
        gateway = subnet_of[edges[:, 0]] != subnet_of[edges[:, 1]]
        attrs = [graph.nodes[node] for node in order]
        entry = np.array([bool(a.get("entry", False)) for a in attrs])
        high_value = np.array([bool(a.get("high_value", False)) for a in attrs])
        vulns = [a.get("vulnerability") for a in attrs]
        vulnerability = None  # drawn per episode where not given (NaN marks those hosts)
        if any(v is not None for v in vulns):
            vulnerability = np.array([np.nan if v is None else v for v in vulns], dtype=np.float64)
        roles = tuple(str(a.get("role", "host")) for a in attrs)
        return cls(
            graph=graph,
            subnets=tuple(subnets),
            names=tuple(str(n) for n in order),
            roles=roles,
            subnet_of=subnet_of,
            subnet_start=subnet_start,
            edges=edges,
            gateway=gateway,
            entry=entry,
            high_value=high_value,
            vulnerability=vulnerability,
            index=index,
        )

    # ------------------------------------------------------------------ sizes
    @property
    def n_nodes(self) -> int:
        return len(self.names)

    @property
    def n_subnets(self) -> int:
        return len(self.subnets)

    def subnet_slice(self, s: int) -> slice:
        return slice(int(self.subnet_start[s]), int(self.subnet_start[s + 1]))

    # ------------------------------------------------------------- adjacency
    @cached_property
    def neighbours(self) -> list[np.ndarray]:
        """Base-graph neighbour indices of every host (gateway links included)."""
        return [self.csr_indices[a:b] for a, b in zip(self.csr_indptr[:-1], self.csr_indptr[1:])]

    @cached_property
    def _csr(self) -> tuple[np.ndarray, np.ndarray]:
        n = self.n_nodes
        both = np.concatenate([self.edges, self.edges[:, ::-1]])
        both = both[np.lexsort((both[:, 1], both[:, 0]))]
        indptr = np.zeros(n + 1, dtype=np.int64)
        np.add.at(indptr, both[:, 0] + 1, 1)
        return np.cumsum(indptr), both[:, 1].copy()

    @property
    def csr_indptr(self) -> np.ndarray:
        return self._csr[0]

    @property
    def csr_indices(self) -> np.ndarray:
        return self._csr[1]

    @cached_property
    def degree(self) -> np.ndarray:
        return np.diff(self.csr_indptr)

    @cached_property
    def hvn_hops(self) -> np.ndarray:
        """Hops from each host to the nearest high-value host on the base graph.

        The attacker plans on the network as built (it knows the topology, not the
        defender's isolations); ``UNREACHABLE`` where no high-value host is reachable.
        """
        hops = np.full(self.n_nodes, UNREACHABLE, dtype=np.int64)
        queue = deque(int(i) for i in np.flatnonzero(self.high_value))
        hops[list(queue)] = 0
        indptr, indices = self.csr_indptr, self.csr_indices
        while queue:
            u = queue.popleft()
            for v in indices[indptr[u] : indptr[u + 1]]:
                if hops[v] == UNREACHABLE:
                    hops[v] = hops[u] + 1
                    queue.append(int(v))
        return hops

    def subnet_graph(self, s: int) -> nx.Graph:
        """The base graph of subnet ``s`` alone (no gateway links), on local indices."""
        sl = self.subnet_slice(s)
        g = nx.Graph()
        g.add_nodes_from(range(sl.stop - sl.start))
        inner = self.edges[(self.subnet_of[self.edges[:, 0]] == s) & ~self.gateway]
        g.add_edges_from((int(u) - sl.start, int(v) - sl.start) for u, v in inner)
        return g

    def host(self, name: str) -> int:
        """Index of the host called ``name``; KeyError names the host when unknown."""
        try:
            return self.index[name]
        except KeyError:
            raise KeyError(f"no host called {name!r}") from None
