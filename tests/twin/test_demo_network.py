"""The 450-host demo network modelled on the CSE-CIC-IDS2018 victim organisation."""

from __future__ import annotations

import random
import re
import runpy
import sys
import warnings
from collections import Counter
from pathlib import Path

import networkx as nx
import numpy as np
import pytest

from twin.demo_network import build_demo_network, to_node_link_json
from twin.network import Network
from twin.topology_file import load_topology_file

SHIPPED = Path(__file__).resolve().parents[2] / "scenarios" / "demo-network.json"
DEPARTMENTS = {"rnd": 120, "mgmt": 100, "tech": 100, "ops": 100}


@pytest.fixture(scope="module")
def demo() -> nx.Graph:
    return build_demo_network()


def hosts(g: nx.Graph, **match: object) -> set[str]:
    return {h for h, d in g.nodes(data=True) if all(d.get(k) == v for k, v in match.items())}


def test_demo_has_450_hosts_in_five_subnets_sized_like_the_departments(demo):
    assert demo.number_of_nodes() == 450
    sizes = Counter(d["subnet"] for _, d in demo.nodes(data=True))
    assert sizes == {"servers": 30, **DEPARTMENTS}
    assert Network.from_graph(demo).subnets == ("servers", "rnd", "mgmt", "tech", "ops")


def test_demo_has_30_named_servers_and_420_numbered_pcs(demo):
    servers = hosts(demo, subnet="servers")
    pcs = set(demo) - servers
    assert len(servers) == 30 and len(pcs) == 420
    assert all(re.fullmatch(r"srv-[a-z]+-\d\d", h) for h in servers)
    for h in pcs:
        dept, number = re.fullmatch(r"([a-z]+)-pc-(\d{3})", h).groups()
        assert demo.nodes[h]["subnet"] == dept
        assert 1 <= int(number) <= DEPARTMENTS[dept]


def test_pcs_are_workstations_with_one_or_two_admin_workstations_per_department(demo):
    for dept, size in DEPARTMENTS.items():
        roles = Counter(demo.nodes[h]["role"] for h in hosts(demo, subnet=dept))
        assert set(roles) == {"workstation", "admin-workstation"}
        assert 1 <= roles["admin-workstation"] <= 2
        assert roles["workstation"] + roles["admin-workstation"] == size


@pytest.mark.parametrize(("host", "role"), [
    ("srv-fw-01", "gateway"), ("srv-web-01", "web"), ("srv-web-02", "web"),
    ("srv-app-01", "app"), ("srv-app-02", "app"), ("srv-db-01", "db"), ("srv-dc-01", "dc"),
    ("srv-file-01", "file"), ("srv-mail-01", "mail"), ("srv-dns-01", "dns"),
    ("srv-backup-01", "backup"), ("srv-mon-01", "monitoring"),
])
def test_named_server_exists_with_its_role(demo, host, role):
    assert demo.nodes[host]["subnet"] == "servers"
    assert demo.nodes[host]["role"] == role


def test_entry_hosts_are_the_internet_facing_servers_and_two_pcs_per_department(demo):
    entry = hosts(demo, entry=True)
    assert hosts(demo, subnet="servers", entry=True) == {"srv-web-01", "srv-web-02", "srv-mail-01"}
    for dept in DEPARTMENTS:
        assert len(entry & hosts(demo, subnet=dept)) == 2
        assert entry & hosts(demo, subnet=dept) <= hosts(demo, role="workstation")


def test_high_value_hosts_are_db_dc_file_and_the_admin_workstations(demo):
    assert hosts(demo, high_value=True) == {
        "srv-db-01", "srv-dc-01", "srv-file-01"
    } | hosts(demo, role="admin-workstation")
    assert not hosts(demo, high_value=True) & hosts(demo, entry=True)


def test_every_subnet_is_connected_on_its_own_links(demo):
    net = Network.from_graph(demo)
    for s, name in enumerate(net.subnets):
        assert nx.is_connected(net.subnet_graph(s)), name


def test_servers_are_tiered_web_talks_to_proxy_and_app_and_db_never_faces_web(demo):
    for web in hosts(demo, role="web"):
        assert {demo.nodes[n]["role"] for n in demo[web]} <= {"proxy", "app"}
    for db in hosts(demo, role="db"):
        assert not {demo.nodes[n]["role"] for n in demo[db]} & {"web", "gateway", "proxy"}
    app_neighbours = {n for app in hosts(demo, role="app") for n in demo[app]}
    assert {"srv-db-01", "srv-dc-01", "srv-file-01", "srv-mail-01"} <= app_neighbours


def test_each_department_reaches_the_servers_by_one_link_from_its_root_pc_to_the_firewall(demo):
    gateway = [(u, v) for u, v in demo.edges if demo.nodes[u]["subnet"] != demo.nodes[v]["subnet"]]
    assert sorted(gateway) == [("srv-fw-01", f"{d}-pc-001") for d in sorted(DEPARTMENTS)]


def test_every_host_has_a_two_decimal_vulnerability_in_range(demo):
    vulns = [d["vulnerability"] for _, d in demo.nodes(data=True)]
    assert all(0.01 <= v <= 1 and v == round(v, 2) for v in vulns)
    assert len(set(vulns)) > 50  # drawn per host, not one value for all


def test_build_is_reproducible_and_leaves_global_random_state_alone(demo):
    np.random.seed(1)
    random.seed(1)
    np_state, py_state = np.random.get_state()[1].copy(), random.getstate()
    again = build_demo_network()
    assert (np.random.get_state()[1] == np_state).all() and random.getstate() == py_state
    assert list(again.nodes(data=True)) == list(demo.nodes(data=True))
    assert list(again.edges) == list(demo.edges)


def test_shipped_file_is_exactly_what_build_demo_network_writes_and_under_200_kb(demo):
    text = SHIPPED.read_text(encoding="utf-8")
    assert text == to_node_link_json(demo)
    assert SHIPPED.stat().st_size < 200_000


def test_main_writes_the_node_link_file_to_the_given_path(tmp_path, monkeypatch):
    out = tmp_path / "demo.json"
    monkeypatch.setattr(sys, "argv", ["demo_network", str(out)])
    with warnings.catch_warnings():  # runpy warns that the module is already imported
        warnings.simplefilter("ignore", RuntimeWarning)
        runpy.run_module("twin.demo_network", run_name="__main__")
    assert out.read_text(encoding="utf-8") == SHIPPED.read_text(encoding="utf-8")


def test_shipped_file_loads_and_compiles_with_four_gateway_links():
    net = Network.from_graph(load_topology_file(SHIPPED))
    assert net.n_nodes == 450 and net.n_subnets == 5
    assert int(net.gateway.sum()) == 4
    assert net.vulnerability is not None
    assert int(net.entry.sum()) == 3 + 2 * 4
    assert int(net.high_value.sum()) == 3 + 6
