"""Kubernetes JSON (``kubectl get namespaces,pods,services,ingresses,networkpolicies -o json``,
a ``List``) → the twin's graph.

Namespaces with pods become regions; pods become hosts (the pod name, or
``pod-namespace`` where two namespaces share a pod name; finished pods, phase
Succeeded or Failed, are left out).  Links follow the NetworkPolicies, ports aside:
pod A and pod B are linked when traffic may flow from one to the other, that is B's
ingress admits A and A's egress admits B.  Ingress into a pod no policy selects is
allowed from every pod of its namespace (the default-allow reading of the issue: all
pairs, as the cluster really behaves there; cross-namespace links come only from
policies), and so is an ingress rule without ``from``.  ``ipBlock`` peers are
outside the cluster and link no pod.  Pods behind a LoadBalancer Service or an
Ingress's backend Service are entry hosts; label or annotation
``cyberops/high-value: "true"`` marks a high-value pod; the role is the label
``app.kubernetes.io/component``, else ``app``, ``role``, ``k8s-app``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import networkx as nx

from twin.documents import Fields, join
from twin.importers.imported import Imported, host_name

_FINISHED = ("Succeeded", "Failed")
_ROLE_LABELS = ("app.kubernetes.io/component", "app", "role", "k8s-app")
_HIGH_VALUE = "cyberops/high-value"
_OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")


def is_kubernetes_list(data: Any) -> bool:
    return (isinstance(data, dict) and isinstance(data.get("kind"), str) and data["kind"].endswith("List")
            and "items" in data)


@dataclass
class _Pod:
    name: str
    namespace: str
    labels: dict[str, str]
    attrs: dict[str, Any]
    source: str


@dataclass
class _Selector:
    labels: dict[str, str]
    expressions: list[tuple[str, str, list[str]]]

    def matches(self, labels: dict[str, str]) -> bool:
        if any(labels.get(k) != v for k, v in self.labels.items()):
            return False
        for key, op, values in self.expressions:
            ok = {"In": key in labels and labels[key] in values, "NotIn": labels.get(key) not in values,
                  "Exists": key in labels, "DoesNotExist": key not in labels}[op]
            if not ok:
                return False
        return True


def _selector(f: Fields, raw: dict[str, Any], field: str, key: str) -> _Selector | None:
    """A label selector (matchLabels, matchExpressions); None when absent; ``{}`` selects everything."""
    value = f.get(raw, field, key, "mapping")
    if value is None:
        return None
    at = join(field, key)
    exprs = []
    for e_at, expr in f.entries(value, at, "matchExpressions"):
        op = f.get(expr, e_at, "operator", "string", required=True)
        if op not in _OPERATORS:
            f.fail(join(e_at, "operator"), f"{op!r} is not one of {', '.join(_OPERATORS)}")
        values = [f.string(v, join(join(e_at, "values"), i))
                  for i, v in enumerate(f.get(expr, e_at, "values", "list") or [])]
        exprs.append((f.get(expr, e_at, "key", "string", required=True), op, values))
    return _Selector(f.string_map(value, at, "matchLabels"), exprs)


@dataclass
class _Peer:
    pods: _Selector | None
    namespaces: _Selector | None  # None with pods: the policy's own namespace
    outside: bool  # an ipBlock: nothing inside the cluster


@dataclass
class _Policy:
    namespace: str
    selects: _Selector
    ingress: list[list[_Peer]] | None  # None: the policy does not restrict ingress
    egress: list[list[_Peer]] | None


def _rules(f: Fields, spec: dict[str, Any], field: str, key: str, peers_key: str) -> list[list[_Peer]]:
    """Each rule's peers; an empty list of peers means every source (or destination)."""
    out = []
    for r_at, rule in f.entries(spec, field, key):
        peers = []
        for p_at, peer in f.entries(rule, r_at, peers_key):
            peers.append(_Peer(_selector(f, peer, p_at, "podSelector"), _selector(f, peer, p_at, "namespaceSelector"),
                               "ipBlock" in peer))
        out.append(peers)
    return out


class _Cluster:
    def __init__(self) -> None:
        self.namespaces: dict[str, dict[str, str]] = {}  # name -> labels
        self.pods: list[_Pod] = []
        self.services: dict[tuple[str, str], tuple[str, dict[str, str] | None]] = {}  # -> (type, selector)
        self.ingress_backends: list[tuple[str, str]] = []  # (namespace, service)
        self.policies: list[_Policy] = []
        self.seen_pods: dict[tuple[str, str], str] = {}
        self.ignored: dict[str, int] = {}
        self._admitted: dict[tuple[int, str], set[int]] = {}

    def read(self, f: Fields, data: dict[str, Any]) -> None:
        for at, item in f.entries(data, "", "items"):
            kind = f.get(item, at, "kind", "string", required=True)
            meta_at = join(at, "metadata")
            meta = f.get(item, at, "metadata", "mapping", required=True)
            name = f.get(meta, meta_at, "name", "string", required=True)
            ns = f.get(meta, meta_at, "namespace", "string") or "default"
            spec = f.get(item, at, "spec", "mapping") or {}
            spec_at = join(at, "spec")
            if kind == "Namespace":
                self.namespaces[name] = f.string_map(meta, meta_at, "labels")
            elif kind == "Pod":
                self._pod(f, at, item, meta, name, ns)
            elif kind == "Service":
                self.services[(ns, name)] = (spec.get("type") or "ClusterIP",
                                             f.string_map(spec, spec_at, "selector") if spec.get("selector") else None)
            elif kind == "Ingress":
                self._ingress(f, spec, spec_at, ns)
            elif kind == "NetworkPolicy":
                self.policies.append(self._policy(f, spec, spec_at, ns))
            else:
                self.ignored[kind] = self.ignored.get(kind, 0) + 1

    def _pod(self, f: Fields, at: str, item: dict[str, Any], meta: dict[str, Any], name: str, ns: str) -> None:
        status = f.get(item, at, "status", "mapping") or {}
        if status.get("phase") in _FINISHED:
            return
        if (ns, name) in self.seen_pods:
            f.fail(join(at, "metadata.name"), f"pod {ns}/{name} is listed twice (also in {self.seen_pods[(ns, name)]})")
        self.seen_pods[(ns, name)] = str(f.source)
        labels = f.string_map(meta, join(at, "metadata"), "labels")
        notes = f.string_map(meta, join(at, "metadata"), "annotations")
        role = next((labels[k] for k in _ROLE_LABELS if labels.get(k)), "host")
        high = (labels.get(_HIGH_VALUE) or notes.get(_HIGH_VALUE) or "").lower() == "true"
        attrs: dict[str, Any] = {"subnet": ns, "role": role, "entry": False, "high_value": high, "pod": name}
        ip = f.get(status, join(at, "status"), "podIP", "string")
        if ip:
            attrs["ip"] = ip
        self.pods.append(_Pod(name, ns, labels, attrs, str(f.source)))

    def _ingress(self, f: Fields, spec: dict[str, Any], spec_at: str, ns: str) -> None:
        backends = [spec.get("defaultBackend"), spec.get("backend")]
        for r_at, rule in f.entries(spec, spec_at, "rules"):
            http = f.get(rule, r_at, "http", "mapping") or {}
            backends += [path.get("backend") for _, path in f.entries(http, join(r_at, "http"), "paths")]
        for backend in backends:
            if isinstance(backend, dict):  # networking.k8s.io/v1 or the older extensions/v1beta1 shape
                service = (backend.get("service") or {}).get("name") or backend.get("serviceName")
                if isinstance(service, str):
                    self.ingress_backends.append((ns, service))

    def _policy(self, f: Fields, spec: dict[str, Any], spec_at: str, ns: str) -> _Policy:
        selects = _selector(f, spec, spec_at, "podSelector")
        if selects is None:
            f.fail(join(spec_at, "podSelector"), "missing key")
        types = f.get(spec, spec_at, "policyTypes", "list")
        if types is None:
            types = ["Ingress"] + (["Egress"] if "egress" in spec else [])
        ingress = _rules(f, spec, spec_at, "ingress", "from") if "Ingress" in types else None
        egress = _rules(f, spec, spec_at, "egress", "to") if "Egress" in types else None
        return _Policy(ns, selects, ingress, egress)

    # ------------------------------------------------------------------ links
    def _peers(self, rules: list[list[_Peer]], policy_ns: str, default: list[_Pod]) -> set[int]:
        """Ids of the pods any of ``rules`` admits (``default`` for a rule naming no peer)."""
        key = (id(rules), policy_ns)
        if key in self._admitted:  # many pods share a policy: match its peers once
            return self._admitted[key]
        out: set[int] = set()
        for peers in rules:
            if not peers:
                out |= {id(p) for p in default}
            for peer in peers:
                if peer.outside:
                    continue
                for pod in self.pods:
                    if peer.namespaces is None:
                        in_ns = pod.namespace == policy_ns
                    else:
                        in_ns = peer.namespaces.matches(self.namespaces.get(pod.namespace, {}))
                    if in_ns and (peer.pods is None or peer.pods.matches(pod.labels)):
                        out.add(id(pod))
        self._admitted[key] = out
        return out

    def links(self) -> list[tuple[_Pod, _Pod]]:
        by_ns: dict[str, list[_Pod]] = {}
        for pod in self.pods:
            by_ns.setdefault(pod.namespace, []).append(pod)
        by_id = {id(p): p for p in self.pods}
        egress: dict[int, set[int] | None] = {}
        for pod in self.pods:
            rules = [p.egress for p in self.policies if p.egress is not None and p.namespace == pod.namespace
                     and p.selects.matches(pod.labels)]
            egress[id(pod)] = None if not rules else set().union(
                *[self._peers(r, pod.namespace, self.pods) for r in rules])  # no `to`: anywhere
        out = []
        for b in self.pods:
            rules = [p.ingress for p in self.policies if p.ingress is not None and p.namespace == b.namespace
                     and p.selects.matches(b.labels)]
            home = by_ns[b.namespace]
            senders = {id(p) for p in home} if not rules else set().union(
                *[self._peers(r, b.namespace, home) for r in rules])
            for a_id in senders:
                allowed = egress[a_id]
                if a_id != id(b) and (allowed is None or id(b) in allowed):
                    out.append((by_id[a_id], b))
        return out

    def entry_pods(self) -> set[int]:
        exposed = [(ns, sel) for (ns, _), (kind, sel) in self.services.items() if kind == "LoadBalancer" and sel]
        exposed += [(ns, self.services[(ns, s)][1]) for ns, s in self.ingress_backends
                    if (ns, s) in self.services and self.services[(ns, s)][1]]
        return {id(p) for p in self.pods for ns, sel in exposed
                if p.namespace == ns and all(p.labels.get(k) == v for k, v in sel.items())}


def read_kubernetes(docs: list[tuple[Path, dict[str, Any]]]) -> Imported:
    """One graph from every Kubernetes ``List`` of an import (one cluster)."""
    cluster = _Cluster()
    for path, data in docs:
        cluster.read(Fields(path), data)
    for ns, labels in cluster.namespaces.items():
        labels.setdefault("kubernetes.io/metadata.name", ns)  # as the API server sets it
    for pod in cluster.pods:
        cluster.namespaces.setdefault(pod.namespace, {"kubernetes.io/metadata.name": pod.namespace})
    taken: dict[str, int] = {}
    for pod in cluster.pods:
        taken[pod.name] = taken.get(pod.name, 0) + 1
    names = {id(p): host_name(p.name, p.namespace, taken) for p in cluster.pods}
    entry = cluster.entry_pods()
    out = Imported(nx.Graph())
    ns_order = list(cluster.namespaces)
    for pod in sorted(cluster.pods, key=lambda p: ns_order.index(p.namespace)):
        out.graph.add_node(names[id(pod)], **(pod.attrs | {"entry": id(pod) in entry}))
        out.origin[names[id(pod)]] = pod.source
    out.graph.add_edges_from((names[id(a)], names[id(b)]) for a, b in cluster.links())
    if cluster.ignored:
        kinds = ", ".join(f"{n} {k}" for k, n in sorted(cluster.ignored.items()))
        out.notes.append(f"Kubernetes items not modelled, left out: {kinds}")
    return out
