"""Load a whole network from a file: networkx node-link JSON or an inventory (YAML/JSON).

Operators describe their real network once, in whatever form their tooling exports;
both forms become the same ``nx.Graph`` that :meth:`twin.network.Network.from_graph`
compiles.  Every mistake raises :class:`~twin.errors.InputError` naming the file, the
field path (``subnets[1].hosts[3].vulnerability``) and the problem, so a typo in a
450-host inventory is one line to fix, not a stack trace or a silently wrong twin.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import networkx as nx

from twin.documents import Fields, read_document
from twin.documents import describe_kind as _kind
from twin.network import MIN_VULNERABILITY

_NODE_LINK_KEYS = {"nodes", "links", "edges", "directed", "multigraph", "graph"}
#: where the host lives in the real network (an alert names it by any of these)
_ADDRESS_KEYS = ("ip", "instance_id", "pod")
_NODE_KEYS = {"id", "name", "subnet", "role", "entry", "high_value", "vulnerability", *_ADDRESS_KEYS}
_INVENTORY_KEYS = {"subnets", "links"}
_SUBNET_KEYS = {"name", "hosts", "links"}
_HOST_KEYS = {"name", "role", "entry", "high_value", "vulnerability", *_ADDRESS_KEYS}


class _Reader(Fields):
    """Checks parsed data field by field while building the graph (strict: unknown keys are errors).

    Each failure names the file and the field path; ``declared`` remembers where each
    host was declared, so a duplicate name points at both places.
    """

    def __init__(self, source: Path) -> None:
        super().__init__(source)
        self.graph = nx.Graph()
        self.declared: dict[str, str] = {}

    def mapping(self, value: Any, field: str, allowed: set[str]) -> dict[str, Any]:
        super().mapping(value, field)
        for key in value:
            if key not in allowed:
                where = f"{field}.{key}" if field else str(key)
                expected = ", ".join(sorted(allowed))
                self.fail(where, f"unknown key {key!r} (expected one of: {expected})")
        return value

    def required(self, raw: dict[str, Any], field: str, key: str) -> Any:
        if key not in raw:
            self.fail(field, f"missing key {key!r}")
        return raw[key]

    def host(self, raw: dict[str, Any], field: str, subnet: str) -> dict[str, Any]:
        """The twin's host attributes, defaults filled in (vulnerability only when given)."""
        attrs: dict[str, Any] = {
            "subnet": subnet,
            "role": self.string(raw.get("role", "host"), f"{field}.role"),
            "entry": self.boolean(raw.get("entry", False), f"{field}.entry"),
            "high_value": self.boolean(raw.get("high_value", False), f"{field}.high_value"),
        }
        if "vulnerability" in raw:
            v = raw["vulnerability"]
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                self.fail(f"{field}.vulnerability", f"expected a number, got {_kind(v)}")
            if not MIN_VULNERABILITY <= v <= 1:  # also rejects NaN
                self.fail(f"{field}.vulnerability", f"{v} is outside [{MIN_VULNERABILITY}, 1]")
            attrs["vulnerability"] = float(v)
        for key in _ADDRESS_KEYS:
            if key in raw:
                attrs[key] = self.string(raw[key], f"{field}.{key}")
        return attrs

    def add_host(self, name: str, attrs: dict[str, Any], field: str) -> None:
        if name in self.declared:
            self.fail(field, f"duplicate host name {name!r} (first at {self.declared[name]})")
        self.declared[name] = field
        self.graph.add_node(name, **attrs)

    def link(self, a: str, b: str, field: str) -> None:
        if a == b:
            self.fail(field, f"links host {a!r} to itself")
        self.graph.add_edge(a, b)


def load_topology_file(path: str | Path) -> nx.Graph:
    """Read a network file into a graph keyed by host name, ready for ``Network.from_graph``.

    Node-link JSON is recognised by its ``nodes`` list, an inventory by its ``subnets``
    list.  Links are undirected whatever the file says: the twin's links carry
    attacks and traffic both ways.
    """
    reader = _Reader(Path(path))
    data = read_document(reader.source)
    if isinstance(data, dict) and "nodes" in data:
        _read_node_link(data, reader)
    elif isinstance(data, dict) and "subnets" in data:
        _read_inventory(data, reader)
    else:
        reader.fail("", "expected node-link JSON (a 'nodes' list) or an inventory ('subnets')")
    return reader.graph


def _read_node_link(data: dict[str, Any], r: _Reader) -> None:
    r.mapping(data, "", _NODE_LINK_KEYS)
    for key in [k for k in ("directed", "multigraph") if k in data]:
        r.boolean(data[key], key)
    if not isinstance(data.get("graph", {}), dict):
        r.fail("graph", f"expected a mapping, got {_kind(data['graph'])}")
    if "links" in data and "edges" in data:
        r.fail("edges", "give the links as 'links' or as 'edges', not both")
    if not r.items(data["nodes"], "nodes"):
        r.fail("nodes", "the file has no hosts")
    name_of: dict[str | int, str] = {}
    for i, raw in enumerate(data["nodes"]):
        field = f"nodes[{i}]"
        r.mapping(raw, field, _NODE_KEYS)
        node_id = r.required(raw, field, "id")
        if isinstance(node_id, bool) or not isinstance(node_id, (str, int)):
            r.fail(f"{field}.id", f"expected a string or an integer, got {_kind(node_id)}")
        if node_id in name_of:
            r.fail(f"{field}.id", f"duplicate id {node_id!r}")
        name = r.string(raw["name"], f"{field}.name") if "name" in raw else str(node_id)
        subnet = raw.get("subnet", "sub0")
        if isinstance(subnet, int) and not isinstance(subnet, bool) and subnet >= 0:
            subnet = f"sub{subnet}"  # the names topology.assemble gives generated subnets
        elif not isinstance(subnet, str) or not subnet.strip():
            r.fail(f"{field}.subnet", f"expected a name or an index >= 0, got {_kind(subnet)}")
        r.add_host(name, r.host(raw, field, subnet), f"{field}.name" if "name" in raw else field)
        name_of[node_id] = name
    key = "edges" if "edges" in data else "links"
    for i, raw in enumerate(r.items(data.get(key, []), key)):
        field = f"{key}[{i}]"
        r.mapping(raw, field, {"source", "target"})
        ends = []
        for end in ("source", "target"):
            ref = r.required(raw, field, end)
            if isinstance(ref, bool) or not isinstance(ref, (str, int)) or ref not in name_of:
                r.fail(f"{field}.{end}", f"unknown host: no node has id {_kind(ref)}")
            ends.append(name_of[ref])
        r.link(ends[0], ends[1], field)


def _link_pair(r: _Reader, raw: Any, field: str) -> tuple[str, str]:
    """An inventory link: a list of the names of two declared hosts."""
    if not isinstance(raw, list) or len(raw) != 2 or not all(isinstance(h, str) for h in raw):
        got = json.dumps(raw, default=str)
        r.fail(field, f"expected a pair of host names like [a, b], got {got}")
    for host in raw:
        if host not in r.graph:
            r.fail(field, f"unknown host {host!r}")
    return raw[0], raw[1]


def _read_inventory(data: dict[str, Any], r: _Reader) -> None:
    r.mapping(data, "", _INVENTORY_KEYS)
    if not r.items(data["subnets"], "subnets"):
        r.fail("subnets", "the file has no hosts")
    seen: dict[str, str] = {}
    for s, raw in enumerate(data["subnets"]):
        field = f"subnets[{s}]"
        r.mapping(raw, field, _SUBNET_KEYS)
        sub = r.string(r.required(raw, field, "name"), f"{field}.name")
        if sub in seen:
            r.fail(f"{field}.name", f"duplicate subnet name {sub!r} (first at {seen[sub]})")
        seen[sub] = field
        hosts = r.items(r.required(raw, field, "hosts"), f"{field}.hosts")
        if not hosts:
            r.fail(f"{field}.hosts", f"subnet {sub!r} has no hosts")
        for h, host in enumerate(hosts):
            at = f"{field}.hosts[{h}]"
            r.mapping(host, at, _HOST_KEYS)
            name = r.string(r.required(host, at, "name"), f"{at}.name")
            r.add_host(name, r.host(host, at, sub), at)
    # links after all hosts, so a link may name a host declared further down
    for s, raw in enumerate(data["subnets"]):
        for i, pair in enumerate(r.items(raw.get("links", []), f"subnets[{s}].links")):
            field = f"subnets[{s}].links[{i}]"
            a, b = _link_pair(r, pair, field)
            for host in (a, b):
                if r.graph.nodes[host]["subnet"] != raw["name"]:
                    r.fail(field, f"host {host!r} is not in subnet {raw['name']!r}; "
                           "put links between subnets in the top-level links")
            r.link(a, b, field)
    for i, pair in enumerate(r.items(data.get("links", []), "links")):
        r.link(*_link_pair(r, pair, f"links[{i}]"), f"links[{i}]")
