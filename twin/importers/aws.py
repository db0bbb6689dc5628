"""AWS CLI JSON (``aws ec2 describe-vpcs|describe-subnets|describe-instances|
describe-security-groups|describe-route-tables``) → the twin's graph.

Subnets become regions (``Name`` tag, else the subnet id), running and stopped instances
become hosts (``Name`` tag, else the instance id; several instances with one ``Name``
get ``Name-instance-id``).  Two instances are linked when traffic may flow between
them in either direction: a security group of the receiver lets the sender in (by the
sender's group or a CIDR holding its private IP), the sender's egress rules let it out,
and each subnet has a route to the other (always so within a VPC; across VPCs only
through a peering or transit-gateway route, so without route tables VPCs stay apart).
Ports are not modelled.  Rules open to ``0.0.0.0/0``/``::/0`` are exposure to the
internet, not links to every instance; egress to them allows everything.  An instance
with a public IP is an entry host (when route tables are given, only if its subnet
routes 0.0.0.0/0 to an internet gateway); tag ``cyberops:high-value=true`` marks a
high-value host, tag ``cyberops:role`` (else ``Role``) its role.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import networkx as nx

from twin.documents import Fields, join
from twin.importers.imported import Imported, host_name

#: the key that tells which describe-* command wrote a document
KINDS = {"Vpcs": "vpcs", "Subnets": "subnets", "Reservations": "instances",
         "SecurityGroups": "security-groups", "RouteTables": "route-tables"}
_GONE = ("terminated", "shutting-down")

Net = ipaddress.IPv4Network | ipaddress.IPv6Network


def aws_kind(data: Any) -> str | None:
    """Which describe-* output ``data`` is (``"instances"``, ...), or None."""
    if not isinstance(data, dict):
        return None
    found = [KINDS[k] for k in KINDS if k in data]
    return found[0] if len(found) == 1 else None


@dataclass
class _Rules:
    groups: set[str] = field(default_factory=set)
    nets: list[Net] = field(default_factory=list)
    anywhere: bool = False  # a 0.0.0.0/0 or ::/0 range

    def admits(self, groups: set[str], ip: Any) -> bool:
        return bool(self.groups & groups) or (ip is not None and any(ip in net for net in self.nets))


@dataclass
class _Subnet:
    id: str
    vpc: str | None
    name: str


@dataclass
class _Instance:
    id: str
    name: str
    subnet: str
    groups: set[str]
    ip: Any  # ipaddress object or None
    attrs: dict[str, Any]
    public: bool
    source: str


def _tags(f: Fields, raw: dict[str, Any], field: str) -> dict[str, str]:
    out = {}
    for at, tag in f.entries(raw, field, "Tags"):
        out[f.string(f.required(tag, at, "Key"), join(at, "Key"))] = str(tag.get("Value", ""))
    return out


def _ip(f: Fields, raw: dict[str, Any], field: str, key: str) -> Any:
    value = f.get(raw, field, key, "string")
    if value is None:
        return None
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        f.fail(join(field, key), f"not an IP address: {value!r}")


def _net(f: Fields, value: Any, field: str) -> Net:
    try:
        return ipaddress.ip_network(f.string(value, field), strict=False)
    except ValueError:
        f.fail(field, f"not a CIDR block: {value!r}")


def _permissions(f: Fields, raw: dict[str, Any], field: str, key: str) -> _Rules:
    rules = _Rules()
    for at, perm in f.entries(raw, field, key):
        for pair_at, pair in f.entries(perm, at, "UserIdGroupPairs"):
            rules.groups.add(f.string(f.required(pair, pair_at, "GroupId"), join(pair_at, "GroupId")))
        for ranges, cidr_key in (("IpRanges", "CidrIp"), ("Ipv6Ranges", "CidrIpv6")):
            for r_at, r in f.entries(perm, at, ranges):
                net = _net(f, f.required(r, r_at, cidr_key), join(r_at, cidr_key))
                if net.prefixlen == 0:
                    rules.anywhere = True
                else:
                    rules.nets.append(net)
    return rules


class _Account:
    """Everything the AWS documents of one import say, cross-checked as it is read."""

    def __init__(self) -> None:
        self.vpcs: dict[str, str] = {}  # id -> name
        self.subnets: dict[str, _Subnet] = {}
        self.ingress: dict[str, _Rules] = {}
        self.egress: dict[str, _Rules | None] = {}  # None: no egress rules given (all allowed)
        self.tables: dict[str, list[tuple[Net, str]]] = {}  # subnet id or "main:vpc" -> (dest, target)
        self.instances: list[tuple[Fields, str, dict[str, Any]]] = []
        self.seen: dict[str, set[str]] = {}

    def read(self, f: Fields, kind: str, data: dict[str, Any]) -> None:
        self.seen.setdefault(kind, set()).add(str(f.source))
        if kind == "vpcs":
            for at, vpc in f.entries(data, "", "Vpcs"):
                vid = f.get(vpc, at, "VpcId", "string", required=True)
                self.vpcs[vid] = _tags(f, vpc, at).get("Name") or vid
        elif kind == "subnets":
            for at, sub in f.entries(data, "", "Subnets"):
                sid = f.get(sub, at, "SubnetId", "string", required=True)
                vpc = f.get(sub, at, "VpcId", "string", required=True)
                self.subnets[sid] = _Subnet(sid, vpc, _tags(f, sub, at).get("Name") or sid)
                if self.vpcs and vpc not in self.vpcs:
                    f.fail(join(at, "VpcId"), f"unknown VPC {vpc!r} (not in the describe-vpcs output)")
        elif kind == "security-groups":
            for at, group in f.entries(data, "", "SecurityGroups"):
                gid = f.get(group, at, "GroupId", "string", required=True)
                self.ingress[gid] = _permissions(f, group, at, "IpPermissions")
                self.egress[gid] = (_permissions(f, group, at, "IpPermissionsEgress")
                                    if "IpPermissionsEgress" in group else None)
        elif kind == "route-tables":
            for at, table in f.entries(data, "", "RouteTables"):
                vpc = f.get(table, at, "VpcId", "string", required=True)
                routes = []
                for r_at, route in f.entries(table, at, "Routes"):
                    dest = route.get("DestinationCidrBlock") or route.get("DestinationIpv6CidrBlock")
                    if dest is None or route.get("State") == "blackhole":
                        continue  # prefix-list destinations and dead routes carry nothing we model
                    target = next((str(route[k]) for k in ("GatewayId", "VpcPeeringConnectionId",
                                   "TransitGatewayId", "NatGatewayId") if route.get(k)), "")
                    routes.append((_net(f, dest, join(r_at, "DestinationCidrBlock")), target))
                for a_at, assoc in f.entries(table, at, "Associations"):
                    if assoc.get("Main") is True:
                        self.tables[f"main:{vpc}"] = routes
                    elif assoc.get("SubnetId"):
                        self.tables[f.string(assoc["SubnetId"], join(a_at, "SubnetId"))] = routes
        else:
            for r_at, reservation in f.entries(data, "", "Reservations"):
                for at, inst in f.entries(reservation, r_at, "Instances"):
                    self.instances.append((f, at, inst))

    # ------------------------------------------------------------ instances
    def hosts(self) -> list[_Instance]:
        raw = []
        for f, at, inst in self.instances:
            iid = f.get(inst, at, "InstanceId", "string", required=True)
            state = f.get(inst, at, "State", "mapping") or {}
            if state.get("Name") in _GONE:
                continue
            sid = f.get(inst, at, "SubnetId", "string", required=True)
            if sid not in self.subnets:
                if "subnets" in self.seen:
                    f.fail(join(at, "SubnetId"), f"unknown subnet {sid!r} (not in the describe-subnets output)")
                self.subnets[sid] = _Subnet(sid, inst.get("VpcId"), sid)
            groups = set()
            for g_at, group in f.entries(inst, at, "SecurityGroups"):
                gid = f.string(f.required(group, g_at, "GroupId"), join(g_at, "GroupId"))
                if "security-groups" in self.seen and gid not in self.ingress:
                    f.fail(join(g_at, "GroupId"), f"unknown security group {gid!r} "
                                                  "(not in the describe-security-groups output)")
                groups.add(gid)
            tags = _tags(f, inst, at)
            ip = _ip(f, inst, at, "PrivateIpAddress")
            attrs = {"subnet": sid, "role": tags.get("cyberops:role") or tags.get("Role") or "host",
                     "entry": False, "high_value": tags.get("cyberops:high-value", "").lower() == "true",
                     "instance_id": iid}
            if ip is not None:
                attrs["ip"] = str(ip)
            public = _ip(f, inst, at, "PublicIpAddress") is not None
            raw.append(_Instance(iid, tags.get("Name") or iid, sid, groups, ip, attrs, public, str(f.source)))
        taken: dict[str, int] = {}
        for inst in raw:
            taken[inst.name] = taken.get(inst.name, 0) + 1
        for inst in raw:
            inst.name = host_name(inst.name, inst.id, taken)
        return raw

    # --------------------------------------------------------------- routes
    def _table(self, subnet: str) -> list[tuple[Net, str]] | None:
        sub = self.subnets[subnet]
        return self.tables.get(subnet, self.tables.get(f"main:{sub.vpc}"))

    def routable(self, subnet: str, ip: Any, vpc: str | None) -> bool:
        """Can ``subnet`` reach ``ip`` (in ``vpc``)?  Within a VPC always (the local route)."""
        if vpc == self.subnets[subnet].vpc:
            return True
        table = self._table(subnet)
        return ip is not None and bool(table) and any(
            ip in dest and target.startswith(("pcx-", "tgw-")) for dest, target in table)

    def internet_facing(self, subnet: str) -> bool:
        if "route-tables" not in self.seen or self._table(subnet) is None:
            return True  # nothing says otherwise: a public IP is reachable
        return any(dest.prefixlen == 0 and target.startswith("igw-") for dest, target in self._table(subnet))

    def egress_allows(self, a: _Instance, b: _Instance) -> bool:
        rules = [self.egress.get(g) for g in a.groups]
        if not rules or any(r is None or r.anywhere for r in rules):
            return True
        return any(r.admits(b.groups, b.ip) for r in rules if r is not None)


def read_aws(docs: list[tuple[Path, str, dict[str, Any]]]) -> Imported:
    """One graph from every AWS document of an import (one account, one or more regions)."""
    account = _Account()
    order = {"vpcs": 0, "subnets": 1, "security-groups": 2, "route-tables": 3, "instances": 4}
    for path, kind, data in sorted(docs, key=lambda d: order[d[1]]):  # references point backwards
        account.read(Fields(path), kind, data)
    hosts = account.hosts()
    out = Imported(nx.Graph())
    if not hosts:
        return out
    used = {h.subnet for h in hosts}
    names = _subnet_names([s for s in account.subnets.values() if s.id in used])
    for h in sorted(hosts, key=lambda h: list(account.subnets).index(h.subnet)):
        h.attrs["subnet"] = names[h.subnet]
        h.attrs["entry"] = h.public and account.internet_facing(h.subnet)
        out.graph.add_node(h.name, **h.attrs)
        out.origin[h.name] = h.source
    by_group: dict[str, list[_Instance]] = {}
    for h in hosts:
        for g in h.groups:
            by_group.setdefault(g, []).append(h)
    for b in hosts:
        rules = [account.ingress[g] for g in b.groups if g in account.ingress]
        senders = {id(a): a for r in rules for g in r.groups for a in by_group.get(g, [])}
        senders |= {id(a): a for r in rules if r.nets for a in hosts if r.admits(set(), a.ip)}
        for a in senders.values():
            vpc_a, vpc_b = account.subnets[a.subnet].vpc, account.subnets[b.subnet].vpc
            if (a is not b and account.egress_allows(a, b) and account.routable(a.subnet, b.ip, vpc_b)
                    and account.routable(b.subnet, a.ip, vpc_a)):
                out.graph.add_edge(a.name, b.name)
    if "security-groups" not in account.seen:
        out.notes.append("no describe-security-groups output: the AWS hosts have no links")
    return out


def _subnet_names(subnets: list[_Subnet]) -> dict[str, str]:
    """Subnet id -> region name: the Name tag, or ``Name-subnet-id`` where several share it."""
    taken: dict[str, int] = {}
    for s in subnets:
        taken[s.name] = taken.get(s.name, 0) + 1
    return {s.id: host_name(s.name, s.id, taken) for s in subnets}
