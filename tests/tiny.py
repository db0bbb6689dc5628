"""Tiny hand-built networks for tests."""

from __future__ import annotations

import networkx as nx

from twin.network import Network


def tiny_network(
    edges: list[tuple[str, str]],
    *,
    entry: tuple[str, ...] = (),
    high_value: tuple[str, ...] = (),
    vulnerability: float | dict[str, float] | None = 1.0,
    subnet: dict[str, str] | None = None,
    hosts: tuple[str, ...] = (),
) -> Network:
    """Hosts named by ``edges`` (plus ``hosts``), all in subnet ``s0`` unless ``subnet`` says
    otherwise (subnets in order of first appearance); ``vulnerability`` is one value for
    every host, a value per host, or None (drawn each episode)."""
    g = nx.Graph()
    for h in dict.fromkeys([*hosts, *(h for e in edges for h in e)]):
        g.add_node(h, subnet=(subnet or {}).get(h, "s0"), role="host", entry=h in entry, high_value=h in high_value)
        if vulnerability is not None:
            g.nodes[h]["vulnerability"] = vulnerability[h] if isinstance(vulnerability, dict) else vulnerability
    g.add_edges_from(edges)
    return Network.from_graph(g)
