"""The demo network: a 450-host company modelled on the CSE-CIC-IDS2018 victim organisation.

The public description of that AWS testbed has five departments with 420 PCs and
30 servers.  Here they are the subnets ``servers``, ``rnd``, ``mgmt``, ``tech`` and
``ops`` (secretaries & operations), with host names an operator can type in chat
(``srv-db-01``, ``rnd-pc-017``).  Everything random comes from one fixed seed, so the
shipped ``scenarios/demo-network.json`` is reproducible byte for byte:

    python -m twin.demo_network scenarios/demo-network.json
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import networkx as nx
import numpy as np

from twin.topology import tree

SEED = 2018

#: The server room: (name, role), tiered DMZ -> app -> data, plus identity and operations.
SERVERS: tuple[tuple[str, str], ...] = (
    ("srv-fw-01", "gateway"), ("srv-lb-01", "proxy"), ("srv-vpn-01", "vpn"),
    ("srv-web-01", "web"), ("srv-web-02", "web"), ("srv-web-03", "web"), ("srv-web-04", "web"),
    ("srv-mail-01", "mail"), ("srv-dns-01", "dns"), ("srv-dns-02", "dns"),
    ("srv-app-01", "app"), ("srv-app-02", "app"), ("srv-app-03", "app"),
    ("srv-app-04", "app"), ("srv-app-05", "app"), ("srv-app-06", "app"),
    ("srv-db-01", "db"), ("srv-db-02", "db"), ("srv-db-03", "db"),
    ("srv-dc-01", "dc"), ("srv-dc-02", "dc"), ("srv-file-01", "file"), ("srv-file-02", "file"),
    ("srv-backup-01", "backup"), ("srv-mon-01", "monitoring"), ("srv-log-01", "siem"),
    ("srv-wsus-01", "update"), ("srv-print-01", "print"), ("srv-jump-01", "bastion"),
    ("srv-ci-01", "build"),
)

#: Server links, as traffic flows: firewall -> DMZ -> web -> app -> data; staff reach
#: the domain controllers, file shares, printers and updates through the firewall.
SERVER_LINKS: tuple[tuple[str, str], ...] = (
    # DMZ behind the internal firewall
    ("srv-fw-01", "srv-lb-01"), ("srv-fw-01", "srv-mail-01"), ("srv-fw-01", "srv-dns-01"),
    ("srv-fw-01", "srv-vpn-01"),
    ("srv-lb-01", "srv-web-01"), ("srv-lb-01", "srv-web-02"),
    ("srv-lb-01", "srv-web-03"), ("srv-lb-01", "srv-web-04"),
    # web tier -> app tier
    ("srv-web-01", "srv-app-01"), ("srv-web-01", "srv-app-02"), ("srv-web-02", "srv-app-02"),
    ("srv-web-02", "srv-app-03"), ("srv-web-03", "srv-app-04"), ("srv-web-03", "srv-app-05"),
    ("srv-web-04", "srv-app-05"), ("srv-web-04", "srv-app-06"),
    # app tier -> data tier and the internal services it uses
    ("srv-app-01", "srv-db-01"), ("srv-app-02", "srv-db-01"), ("srv-app-03", "srv-db-01"),
    ("srv-app-04", "srv-db-02"), ("srv-app-05", "srv-db-02"), ("srv-app-06", "srv-db-03"),
    ("srv-app-01", "srv-dc-01"), ("srv-app-04", "srv-dc-01"), ("srv-app-02", "srv-file-01"),
    ("srv-app-03", "srv-mail-01"), ("srv-app-06", "srv-mail-01"),
    ("srv-db-01", "srv-db-02"), ("srv-db-01", "srv-backup-01"), ("srv-db-03", "srv-backup-01"),
    # identity, storage and operations
    ("srv-dc-01", "srv-dc-02"), ("srv-dc-01", "srv-dns-02"), ("srv-dns-01", "srv-dns-02"),
    ("srv-file-01", "srv-file-02"), ("srv-file-01", "srv-backup-01"),
    ("srv-file-02", "srv-backup-01"), ("srv-fw-01", "srv-dc-01"), ("srv-fw-01", "srv-file-01"),
    ("srv-fw-01", "srv-print-01"), ("srv-fw-01", "srv-wsus-01"), ("srv-wsus-01", "srv-dc-01"),
    ("srv-fw-01", "srv-mon-01"), ("srv-mon-01", "srv-log-01"), ("srv-log-01", "srv-dc-01"),
    ("srv-vpn-01", "srv-jump-01"), ("srv-jump-01", "srv-app-01"), ("srv-jump-01", "srv-db-01"),
    ("srv-ci-01", "srv-app-04"), ("srv-ci-01", "srv-file-02"),
)

SERVER_ENTRY = ("srv-web-01", "srv-web-02", "srv-mail-01")
SERVER_HIGH_VALUE = ("srv-db-01", "srv-dc-01", "srv-file-01")

#: Departments: (subnet, PCs, admin workstations).  Admins hold domain credentials,
#: so they are crown jewels; R&D and technicians run more of their own machines.
DEPARTMENTS: tuple[tuple[str, int, int], ...] = (
    ("rnd", 120, 2), ("mgmt", 100, 1), ("tech", 100, 2), ("ops", 100, 1),
)
ENTRY_PCS_PER_DEPARTMENT = 2  # phishing-exposed


def _add_department(
    g: nx.Graph, subnet: str, size: int, admins: int, rng: np.random.Generator
) -> str:
    """Add one department's PCs as a lateral-movement tree; return its uplink PC (the root)."""
    pcs = tree(size, rng)
    name = {node: f"{subnet}-pc-{node + 1:03d}" for node in pcs.nodes}
    # admins and phishing victims are ordinary PCs, never the uplink PC itself
    picks = rng.choice(np.arange(1, size), size=admins + ENTRY_PCS_PER_DEPARTMENT, replace=False)
    admin_pcs = {int(p) for p in picks[:admins]}
    entry_pcs = {int(p) for p in picks[admins:]}
    for node in sorted(pcs.nodes):
        g.add_node(
            name[node],
            subnet=subnet,
            role="admin-workstation" if node in admin_pcs else "workstation",
            entry=node in entry_pcs,
            high_value=node in admin_pcs,
        )
    g.add_edges_from((name[u], name[v]) for u, v in pcs.edges)
    return name[0]


def build_demo_network() -> nx.Graph:
    """The 450-host demo network, identical on every call (seeded from :data:`SEED`)."""
    rng = np.random.default_rng(SEED)
    g = nx.Graph()
    for host, role in SERVERS:
        g.add_node(
            host,
            subnet="servers",
            role=role,
            entry=host in SERVER_ENTRY,
            high_value=host in SERVER_HIGH_VALUE,
        )
    g.add_edges_from(SERVER_LINKS)
    for subnet, size, admins in DEPARTMENTS:
        uplink = _add_department(g, subnet, size, admins, rng)
        g.add_edge(uplink, "srv-fw-01")  # the department's gateway link
    for host in g.nodes:
        g.nodes[host]["vulnerability"] = round(float(rng.uniform(0.01, 1.0)), 2)
    return g


def to_node_link_json(g: nx.Graph) -> str:
    """The shipped file's exact text: node-link JSON, keys sorted, one space of indent."""
    return json.dumps(nx.node_link_data(g, edges="links"), sort_keys=True, indent=1) + "\n"


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m twin.demo_network OUTPUT.json")
    Path(sys.argv[1]).write_text(to_node_link_json(build_demo_network()), encoding="utf-8")
