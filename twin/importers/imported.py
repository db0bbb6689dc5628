"""What one importer hands back: the graph, where each host came from, and notes for the operator."""

from __future__ import annotations

from dataclasses import dataclass, field

import networkx as nx

#: host attributes saying where the host lives in the real network (alerts name hosts by them)
ADDRESS_KEYS = ("ip", "instance_id", "pod")


@dataclass
class Imported:
    """``graph`` has the twin's host attributes (subnet, role, entry, high_value) plus
    addresses (``ADDRESS_KEYS``); ``origin`` maps each host to the file that declared it."""

    graph: nx.Graph
    origin: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def host_name(preferred: str, unique: str, taken: dict[str, int]) -> str:
    """``preferred`` unless several hosts want it (``taken`` counts them); then ``preferred-unique``."""
    return preferred if taken.get(preferred, 0) <= 1 else f"{preferred}-{unique}"
