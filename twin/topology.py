"""Topology generators: one subnet at a time, then the whole network.

Each generator returns an ``nx.Graph`` on nodes ``0..n-1`` with a ``role`` per node;
:func:`assemble` names the hosts, marks entry and high-value hosts, adds gateway
links between subnets and compiles the result into a :class:`~twin.network.Network`.
"""

from __future__ import annotations

from collections.abc import Callable

import networkx as nx
import numpy as np

from twin.network import Network, NetworkError

SubnetGenerator = Callable[[int, np.random.Generator], nx.Graph]


def tree(n: int, rng: np.random.Generator) -> nx.Graph:
    """A random tree grown breadth-first, as in the paper's ``create_tree``.

    Each parent, in index order, takes ``randint(1, min(n // 3, remaining))``
    children.  Unlike the paper's code the draws come from ``rng``, so subnets and
    episodes differ (the paper re-seeded with 42 and got one identical tree).
    """
    g = nx.Graph()
    g.add_node(0)
    nxt, parent = 1, 0
    while nxt < n:
        k = int(rng.integers(1, max(1, min(n // 3, n - nxt)) + 1))
        for child in range(nxt, nxt + k):
            g.add_edge(parent, child)
        nxt += k
        parent += 1
    depth = nx.single_source_shortest_path_length(g, 0)
    deepest = max(depth.values()) if depth else 0
    for node in g.nodes:
        d = depth[node]
        g.nodes[node]["role"] = (
            "gateway" if d == 0 else "web" if d == 1 else "db" if d == deepest and d > 1
            else "workstation" if g.degree(node) == 1 else "app"
        )
    return g


def watts_strogatz(n: int, rng: np.random.Generator, k: int = 4, p: float = 0.1) -> nx.Graph:
    """A connected small world (ring lattice of degree ``k``, rewired with ``p``)."""
    k = min(k, n - 1 - (n - 1) % 2) if n > 2 else 1
    if n <= 2:
        g = nx.path_graph(n)
    else:
        g = nx.connected_watts_strogatz_graph(n, max(k, 2), p, tries=200, seed=int(rng.integers(2**31)))
    roles = ("workstation", "workstation", "app", "web", "db")
    for node in g.nodes:
        g.nodes[node]["role"] = roles[int(rng.integers(len(roles)))]
    return g


def fat_tree(n: int, rng: np.random.Generator) -> nx.Graph:
    """A leaf-spine data-centre fabric: every leaf links every spine, hosts hang off leaves.

    With ``n`` nodes: about ``sqrt(n)/2`` spines (at least 1), ``sqrt(n)`` leaves
    (at least 1), the rest hosts spread round-robin over the leaves.  Leaf 0 is the
    border leaf, whose hosts face the internet.
    """
    if n < 3:
        g = nx.path_graph(n)
        for node in g.nodes:
            g.nodes[node]["role"] = "switch"
        return g
    spines = max(1, round(np.sqrt(n) / 2))
    leaves = max(1, min(round(np.sqrt(n)), n - spines - 1))
    g = nx.Graph()
    for s in range(spines):
        g.add_node(s, role="router")
    for leaf in range(spines, spines + leaves):
        g.add_node(leaf, role="switch")
        g.add_edges_from((leaf, s) for s in range(spines))
    host_roles = ("web", "app", "app", "db", "storage")
    for i, host in enumerate(range(spines + leaves, n)):
        leaf = spines + i % leaves
        role = "web" if leaf == spines else host_roles[int(rng.integers(len(host_roles)))]
        g.add_edge(host, leaf)
        g.nodes[host]["role"] = role
    return g


GENERATORS: dict[str, SubnetGenerator] = {
    "tree": tree,
    "watts_strogatz": watts_strogatz,
    "fat_tree": fat_tree,
}


def _entry_candidates(g: nx.Graph) -> list[int]:
    """Hosts that plausibly face the internet: gateways, web tier, border-leaf hosts."""
    facing = [n for n, d in g.nodes(data=True) if d.get("role") in ("gateway", "web")]
    return facing or list(g.nodes)


def mark_special(
    g: nx.Graph, *, entry: int, high_value: int, rng: np.random.Generator
) -> None:
    """Mark ``entry`` and ``high_value`` hosts of one subnet where none are marked.

    Entry hosts are drawn from the internet-facing roles; high-value hosts from the
    hosts farthest from the entries (crown jewels sit deep), never an entry host.
    """
    n = g.number_of_nodes()
    nodes = list(g.nodes)
    need_entry = entry > 0 and not any(g.nodes[v].get("entry") for v in nodes)
    need_hvn = high_value > 0 and not any(g.nodes[v].get("high_value") for v in nodes)
    if need_entry and entry > n:
        raise NetworkError(f"{entry} entry hosts do not fit in a subnet of {n}")
    if need_entry:
        cands = _entry_candidates(g)
        if len(cands) < entry:
            cands = cands + [v for v in nodes if v not in cands]
        for v in rng.choice(len(cands), size=entry, replace=False):
            g.nodes[cands[int(v)]]["entry"] = True
    if need_hvn:
        entries = [v for v in nodes if g.nodes[v].get("entry")]
        if high_value > n - len(entries):
            raise NetworkError(
                f"{len(entries)} entry + {high_value} high-value hosts do not fit in a subnet of {n}"
            )
        dist = nx.multi_source_dijkstra_path_length(g, entries) if entries else {}
        free = [v for v in nodes if not g.nodes[v].get("entry")]
        # farthest first; unreachable hosts count as farthest; random tie-break
        jitter = rng.random(len(free))
        ranked = sorted(
            range(len(free)), key=lambda i: (-dist.get(free[i], n + 1), jitter[i])
        )
        for i in ranked[:high_value]:
            g.nodes[free[i]]["high_value"] = True


def assemble(
    subnet_graphs: list[nx.Graph],
    *,
    subnet_names: list[str] | None = None,
    entry: int = 2,
    high_value: int = 2,
    gateway_links: int = 0,
    rng: np.random.Generator,
) -> Network:
    """Name hosts ``<subnet>-<role>-<k>``, mark special hosts, add gateway links."""
    names = subnet_names or [f"sub{i}" for i in range(len(subnet_graphs))]
    whole = nx.Graph()
    for sub, g in zip(names, subnet_graphs):
        if g.number_of_nodes() == 0:
            raise NetworkError(f"subnet {sub!r} has no hosts")
        mark_special(g, entry=entry, high_value=high_value, rng=rng)
        counts: dict[str, int] = {}
        label = {}
        for node in sorted(g.nodes):
            role = g.nodes[node].get("role", "host")
            counts[role] = counts.get(role, 0) + 1
            label[node] = f"{sub}-{role}-{counts[role]:02d}"
        for node in g.nodes:
            if label[node] in whole:
                raise NetworkError(f"two hosts would share the name {label[node]!r}")
            whole.add_node(label[node], **{**g.nodes[node], "subnet": sub})
        whole.add_edges_from((label[u], label[v]) for u, v in g.edges)
    add_gateway_links(whole, names, gateway_links, rng=rng)
    return Network.from_graph(whole)


def add_gateway_links(
    g: nx.Graph, subnets: list[str], count: int, *, rng: np.random.Generator
) -> None:
    """Add ``count`` new links between subnets, pairing consecutive subnets in a ring.

    Gateway-like hosts (roles gateway, router) are preferred ends; when their pairs
    are used up, any host of the subnet will do.  Raises when no new pair is left.
    """
    if count <= 0 or len(subnets) < 2:
        return
    by_subnet: dict[str, list[str]] = {s: [] for s in subnets}
    for node, data in g.nodes(data=True):
        by_subnet[data["subnet"]].append(node)
    pairs = len(subnets) if len(subnets) > 2 else 1
    for i in range(count):
        a, b = subnets[i % pairs], subnets[(i % pairs + 1) % len(subnets)]
        for pool_a, pool_b in (_gateways(g, by_subnet[a]), _gateways(g, by_subnet[b])), (by_subnet[a], by_subnet[b]):
            free = [(x, y) for x in pool_a for y in pool_b if not g.has_edge(x, y)]
            if free:
                x, y = free[int(rng.integers(len(free)))]
                g.add_edge(x, y)
                break
        else:
            raise NetworkError(f"no free pair of hosts left to link subnets {a!r} and {b!r}")


def _gateways(g: nx.Graph, hosts: list[str]) -> list[str]:
    return [h for h in hosts if g.nodes[h].get("role") in ("gateway", "router")]
