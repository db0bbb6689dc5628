"""Where the map puts things: subnets as clusters (a hub and ring, or a grid) and hosts inside them
(radial trees for tree-like subnets, force layouts for the rest), computed once per network."""

from __future__ import annotations

import math
import weakref
from collections import deque
from dataclasses import dataclass

import networkx as nx
import numpy as np

from twin.network import Network

MAP_SIZE = (12.0, 8.0)  # inches; at DPI 110 that is 1320 x 880 pixels
AXES = (0.01, 0.09, 0.77, 0.83)  # the map's part of the figure; the legend sits to its right


def subnet_links(net: Network) -> dict[tuple[int, int], int]:
    """Gateway links counted per pair of subnets (lower index first)."""
    ends = np.sort(net.subnet_of[net.edges[net.gateway]], axis=1)
    pairs, counts = np.unique(ends, axis=0, return_counts=True)
    return {(int(a), int(b)): int(c) for (a, b), c in zip(pairs, counts)}


@dataclass
class _Layout:
    """Where a network's subnets (and, once asked for, its hosts) go on the map."""

    centres: np.ndarray  # (S, 2) cluster centres
    spacing: float  # smallest distance between two centres
    hub: bool  # one subnet in the middle of a ring, rather than a grid
    hosts: np.ndarray | None = None  # (N, 2), computed on first use in hosts mode

    def radii(self, net: Network, share: float) -> np.ndarray:
        """Cluster radii ~ sqrt(hosts), the largest ``share`` of the spacing; small ones stay legible."""
        sizes = np.diff(net.subnet_start).astype(float)
        return share * self.spacing * np.clip(np.sqrt(sizes / sizes.max()), 0.72, 1.0)

    def host_radii(self, net: Network) -> np.ndarray:
        return self.radii(net, 0.42 if self.hub else 0.37)  # grid cells keep room for their text


_layouts: weakref.WeakKeyDictionary[Network, _Layout] = weakref.WeakKeyDictionary()


def layout_of(net: Network) -> _Layout:
    """The network's layout, computed once per network: a hub in a ring, else a snake grid."""
    if net in _layouts:
        return _layouts[net]
    s = net.n_subnets
    partners = np.zeros(s, dtype=int)
    for a, b in subnet_links(net):
        partners[a] += 1
        partners[b] += 1
    hub = int(np.argmax(partners))
    if 4 <= s <= 13 and partners[hub] == s - 1 and (partners == s - 1).sum() == 1:
        k = s - 1  # a hub linked to every other subnet goes in the middle, flat-topped ring around
        angles = math.pi / 2 + (math.pi / k if k % 2 == 0 else 0.0) - 2 * math.pi * np.arange(k) / k
        centres = np.insert(np.column_stack([np.cos(angles), np.sin(angles)]), hub, 0.0, axis=0)
        layout = _Layout(centres, min(1.0, 2 * math.sin(math.pi / k)), hub=True)
    else:  # square cells as large as the map allows; snake order keeps subnet i next to i+1
        width, height = MAP_SIZE[0] * AXES[2], MAP_SIZE[1] * AXES[3]
        cols = max(range(1, s + 1), key=lambda c: (min(width / c, height / math.ceil(s / c)), -c))
        rows = math.ceil(s / cols)
        centres = np.zeros((s, 2))
        for i in range(s):
            r, c = divmod(i, cols)
            in_row = min(cols, s - r * cols)
            c = c if r % 2 == 0 else in_row - 1 - c
            centres[i] = (c + (cols - in_row) / 2, rows - 1 - r)  # a short last row is centred
        layout = _Layout(centres, 1.0, hub=False)
    _layouts[net] = layout
    return layout


def host_positions(net: Network) -> np.ndarray:
    """(N, 2) host positions: each subnet's own layout scaled into its cluster."""
    layout = layout_of(net)
    if layout.hosts is None:
        radii = layout.host_radii(net)
        pos = np.zeros((net.n_nodes, 2))
        for s in range(net.n_subnets):
            pos[net.subnet_slice(s)] = layout.centres[s] + radii[s] * _subnet_layout(net, s)
        layout.hosts = pos
    return layout.hosts


def _subnet_layout(net: Network, s: int) -> np.ndarray:
    """Local positions of subnet ``s`` within the unit disc, deterministic."""
    g = net.subnet_graph(s)
    n = g.number_of_nodes()
    if n <= 2:
        return np.array([[0.0, 0.0], [0.0, -0.6]])[:n] if n else np.zeros((0, 2))
    connected = nx.is_connected(g)
    if connected and g.number_of_edges() == n - 1 or n > 300:
        xy = _radial_tree(g, _root(net, s))  # trees, and graphs too big for a force layout
    else:
        layout = nx.kamada_kawai_layout(g) if connected and n <= 80 else nx.spring_layout(g, seed=7)
        xy = np.array([layout[i] for i in range(n)])
        xy -= (xy.max(axis=0) + xy.min(axis=0)) / 2
    return xy / max(float(np.linalg.norm(xy, axis=1).max()), 1e-9)


def _root(net: Network, s: int) -> int:
    """The local host a subnet's tree hangs from: its gateway end, a gateway role, or the hub."""
    sl = net.subnet_slice(s)
    ends = net.edges[net.gateway].ravel()
    ends = ends[(ends >= sl.start) & (ends < sl.stop)]
    if ends.size:
        return int(np.bincount(ends - sl.start).argmax())
    for k, role in enumerate(net.roles[sl]):
        if role in ("gateway", "router"):
            return k
    return int(net.degree[sl].argmax())


def _radial_tree(g: nx.Graph, root: int) -> np.ndarray:
    """Radial layout of a BFS tree: depth is the radius, each leaf an equal slice of angle.

    Hosts the root cannot reach hang off it as extra subtrees, so nothing is lost."""
    n = g.number_of_nodes()
    children: list[list[int]] = [[] for _ in range(n)]
    depth = [-1] * n
    order: list[int] = []  # parents before children
    for start in [root, *range(n)]:
        if depth[start] >= 0:
            continue
        if start != root:
            children[root].append(start)
        depth[start] = 0 if start == root else 1
        queue = deque([start])
        while queue:
            u = queue.popleft()
            order.append(u)
            for v in sorted(g.adj[u]):
                if depth[v] < 0:
                    depth[v] = depth[u] + 1
                    children[u].append(v)
                    queue.append(v)
    leaves = [1] * n
    for u in reversed(order):
        if children[u]:
            leaves[u] = sum(leaves[c] for c in children[u])
    angle, lo_of = np.zeros(n), [0.0] * n
    for u in order:  # each child takes a slice of its parent's slice, by its leaf count
        lo, width = lo_of[u], 2 * math.pi * leaves[u] / leaves[root]
        angle[u] = lo + width / 2
        for c in children[u]:
            lo_of[c] = lo
            lo += 2 * math.pi * leaves[c] / leaves[root]
    radius = np.array(depth, dtype=float)
    return np.column_stack([radius * np.cos(angle), radius * np.sin(angle)])


# ----------------------------------------------------------------------- drawing
