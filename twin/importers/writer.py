"""Write an imported network as our inventory YAML and a scenario that runs it.

The inventory is the documented format (``twin.topology_file`` reads it back to the
same graph, addresses included); the scenario points at it with ``generator: file``
and marks no extra entry or high-value hosts (the import says which hosts are).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import networkx as nx
import yaml

from twin.importers.imported import ADDRESS_KEYS


def inventory_document(graph: nx.Graph) -> dict[str, Any]:
    """The inventory mapping: subnets with their hosts and inner links, then links between subnets."""
    subnets: dict[str, dict[str, Any]] = {}
    for host, data in graph.nodes(data=True):
        sub = subnets.setdefault(data["subnet"], {"name": data["subnet"], "hosts": [], "links": []})
        entry: dict[str, Any] = {"name": host, "role": data.get("role", "host")}
        for key in ("entry", "high_value"):
            if data.get(key):
                entry[key] = True
        if data.get("vulnerability") is not None:
            entry["vulnerability"] = float(data["vulnerability"])
        entry |= {key: str(data[key]) for key in ADDRESS_KEYS if data.get(key)}
        sub["hosts"].append(entry)
    between = []
    pos = {host: i for i, host in enumerate(graph)}
    ends = [tuple(sorted((a, b), key=pos.__getitem__)) for a, b in graph.edges()]
    for a, b in sorted(ends, key=lambda e: (pos[e[0]], pos[e[1]])):  # the same file for the same network
        sa, sb = graph.nodes[a]["subnet"], graph.nodes[b]["subnet"]
        (subnets[sa]["links"] if sa == sb else between).append([a, b])
    for sub in subnets.values():
        if not sub["links"]:
            del sub["links"]
    return {"subnets": list(subnets.values()), "links": between}


def scenario_document(name: str, inventory: str) -> dict[str, Any]:
    """A scenario running ``inventory`` (a path relative to the scenario) under the default attacker."""
    return {
        "name": name,
        "description": f"Imported network ({inventory}) under a recon attack.",
        "seed": 0,
        "episodes": 20,
        "horizon": 30,
        "topology": {"generator": "file", "file": inventory, "entry_nodes": 0, "high_value_nodes": 0},
        "attack": {"mode": "recon", "intensity": 2, "p_detect": 0.5},
        "defender": {"actions_per_step": 4},
    }


def write_yaml(path: Path, document: dict[str, Any], *, header: Sequence[str] = ()) -> None:
    """Write ``document`` as YAML, atomically (a reader never sees half a file)."""
    text = "".join(f"# {line}\n" for line in header)
    text += yaml.safe_dump(document, sort_keys=False, default_flow_style=None, width=120, allow_unicode=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def host_changes(old: nx.Graph, new: nx.Graph) -> tuple[list[str], list[str], list[str]]:
    """``(added, retired, kept)`` host names going from ``old`` to ``new``."""
    added = [str(h) for h in new if h not in old]
    retired = [str(h) for h in old if h not in new]
    kept = [str(h) for h in new if h in old]
    return added, retired, kept
