"""Import a real network's inventory: our own format, AWS CLI JSON, Kubernetes JSON.

Each file's format is recognised from its content, so one import may mix them (an AWS
account's describe-* outputs, a cluster's ``kubectl get ... -o json``, our inventory
for the on-premises part).  The AWS documents of an import are read together as one
account and the Kubernetes lists as one cluster; the parts are then joined into one
graph, which must not declare a host or a subnet twice.  Every problem is one
:class:`~twin.errors.InputError` naming the file, the field and the problem.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import networkx as nx

from twin.errors import InputError
from twin.importers.aws import aws_kind, read_aws
from twin.documents import read_document
from twin.importers.imported import ADDRESS_KEYS, Imported
from twin.importers.kubernetes import is_kubernetes_list, read_kubernetes
from twin.network import Network, NetworkError
from twin.topology_file import load_topology_file

__all__ = ["ADDRESS_KEYS", "Imported", "detect_format", "import_inventory", "read_inventory"]


def detect_format(data: Any) -> str:
    """``inventory``, ``node-link``, ``aws:<kind>`` or ``kubernetes``; ``""`` when none fits."""
    if isinstance(data, dict) and "subnets" in data:
        return "inventory"
    if isinstance(data, dict) and "nodes" in data:
        return "node-link"
    if (kind := aws_kind(data)) is not None:
        return f"aws:{kind}"
    return "kubernetes" if is_kubernetes_list(data) else ""


def import_inventory(paths: Iterable[str | Path]) -> nx.Graph:
    """The network described by ``paths`` (any mix of formats), ready for ``Network.from_graph``."""
    return read_inventory(paths).graph


def read_inventory(paths: Iterable[str | Path]) -> Imported:
    """Like :func:`import_inventory`, with where each host came from and notes for the operator."""
    paths = [Path(p) for p in paths]
    if not paths:
        raise InputError("command line", "FILE", "give at least one file to import")
    parts: list[Imported | str] = []  # in file order; "aws" and "kubernetes" where their first file is
    aws: list[tuple[Path, str, dict[str, Any]]] = []
    kube: list[tuple[Path, dict[str, Any]]] = []
    for path in paths:
        data = read_document(path)
        fmt = detect_format(data)
        if fmt in ("inventory", "node-link"):
            graph = load_topology_file(path)
            parts.append(Imported(graph, {str(h): str(path) for h in graph}))
        elif fmt.startswith("aws:"):
            aws.append((path, fmt[4:], data))
            parts += [] if "aws" in parts else ["aws"]
        elif fmt == "kubernetes":
            kube.append((path, data))
            parts += [] if "kubernetes" in parts else ["kubernetes"]
        else:
            raise InputError(path, "", "not an inventory we know: expected our inventory ('subnets'), node-link "
                                       "JSON ('nodes'), an aws ec2 describe-* output (Vpcs, Subnets, Reservations, "
                                       "SecurityGroups, RouteTables) or a Kubernetes List ('kind: List', 'items')")
    read = {"aws": lambda: _non_empty(read_aws(aws), [p for p, _, _ in aws], "no instances (describe-instances)"),
            "kubernetes": lambda: _non_empty(read_kubernetes(kube), [p for p, _ in kube], "no pods")}
    merged = _merge([read[part]() if isinstance(part, str) else part for part in parts])
    try:
        Network.from_graph(merged.graph)  # the twin can run it
    except NetworkError as exc:
        raise InputError(", ".join(map(str, paths)), "", str(exc)) from None
    merged.notes += _split_subnets(merged.graph)
    return merged


def _non_empty(part: Imported, paths: list[Path], what: str) -> Imported:
    if part.graph.number_of_nodes() == 0:
        raise InputError(", ".join(map(str, paths)), "", f"{what}: nothing to import")
    return part


def _merge(parts: list[Imported]) -> Imported:
    out = Imported(nx.Graph())
    subnet_of: dict[str, str] = {}  # subnet -> file that declared it first
    for part in parts:
        part_subnets: dict[str, str] = {}
        for host, data in part.graph.nodes(data=True):
            source = part.origin[host]
            if host in out.graph:
                raise InputError(source, "", f"host {host!r} is also in {out.origin[host]}: rename one")
            sub = str(data["subnet"])
            if sub in subnet_of:
                raise InputError(source, "", f"subnet {sub!r} is also in {subnet_of[sub]}: rename one")
            part_subnets.setdefault(sub, source)
        subnet_of |= part_subnets
        out.graph.update(part.graph)
        out.origin |= part.origin
        out.notes += part.notes
    return out


def _split_subnets(graph: nx.Graph) -> list[str]:
    """A note per subnet whose hosts no link joins into one piece (kept so: see README)."""
    members: dict[str, list[str]] = {}
    for host, data in graph.nodes(data=True):
        members.setdefault(data["subnet"], []).append(host)
    notes = []
    for sub, hosts in members.items():
        pieces = sorted(nx.connected_components(graph.subgraph(hosts)), key=lambda p: (-len(p), min(p)))
        if len(pieces) > 1:  # name hosts outside the largest piece
            apart = ", ".join(sorted(h for piece in pieces[1:] for h in piece)[:5])
            notes.append(f"subnet {sub!r} falls into {len(pieces)} parts that no rule links (e.g. {apart})")
    return notes
