"""Loading a network from node-link JSON or an inventory, and every way such a file is wrong."""

from __future__ import annotations

import json
from pathlib import Path

import networkx as nx
import pytest

from twin.errors import InputError
from twin.network import Network
from twin.topology_file import load_topology_file

INVENTORY_YAML = """\
subnets:
  - name: servers
    hosts:
      - {name: srv-web-01, role: web, entry: true}
      - {name: srv-db-01, role: db, high_value: true, vulnerability: 0.3}
      - {name: srv-fw-01, role: gateway}
    links: [[srv-web-01, srv-db-01], [srv-fw-01, srv-web-01]]
  - name: rnd
    hosts:
      - {name: rnd-pc-001, role: workstation}
      - {name: rnd-pc-002}
    links: [[rnd-pc-001, rnd-pc-002]]
links: [[srv-fw-01, rnd-pc-001]]   # gateway link
"""


def write(tmp_path: Path, name: str, content: str | object) -> Path:
    path = tmp_path / name
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def as_sets(g: nx.Graph) -> tuple[dict, set]:
    return dict(g.nodes(data=True)), {frozenset(e) for e in g.edges}


def test_node_link_json_round_trips_names_attributes_and_links(tmp_path):
    g = nx.Graph()
    g.add_node("web", subnet="dmz", role="web", entry=True, high_value=False, vulnerability=0.5)
    g.add_node("db", subnet="core", role="db", entry=False, high_value=True, vulnerability=1)
    g.add_node("pc", subnet="core", role="workstation", entry=False, high_value=False)
    g.add_edges_from([("web", "db"), ("db", "pc")])
    path = write(tmp_path, "net.json", nx.node_link_data(g, edges="links"))

    loaded = load_topology_file(path)

    assert as_sets(loaded) == as_sets(g)
    assert isinstance(loaded.nodes["db"]["vulnerability"], float)
    assert "vulnerability" not in loaded.nodes["pc"]


def test_node_link_json_accepts_edges_as_well_as_links(tmp_path):
    data = {"nodes": [{"id": "a"}, {"id": "b"}], "edges": [{"source": "a", "target": "b"}]}
    assert set(load_topology_file(write(tmp_path, "n.json", data)).edges) == {("a", "b")}


def test_node_link_defaults_one_subnet_role_host_and_unmarked_hosts(tmp_path):
    data = {"nodes": [{"id": 1}, {"id": 2}], "links": [{"source": 1, "target": 2}]}
    g = load_topology_file(write(tmp_path, "n.json", data))
    assert list(g.nodes) == ["1", "2"]  # integer ids become string host names
    assert g.nodes["1"] == {"subnet": "sub0", "role": "host", "entry": False, "high_value": False}
    assert set(g.edges) == {("1", "2")}


def test_integer_subnet_index_becomes_sub_name_and_mixes_with_names(tmp_path):
    data = {"nodes": [{"id": 0, "subnet": 2}, {"id": 1, "subnet": "sub2"}, {"id": 2, "subnet": 0}]}
    g = load_topology_file(write(tmp_path, "n.json", data))
    assert [g.nodes[n]["subnet"] for n in g] == ["sub2", "sub2", "sub0"]


def test_name_attribute_names_the_host_while_links_refer_to_ids(tmp_path):
    data = {
        "nodes": [{"id": 0, "name": "srv-web-01"}, {"id": 1, "name": "srv-db-01"}],
        "links": [{"source": 0, "target": 1}],
    }
    g = load_topology_file(write(tmp_path, "n.json", data))
    assert set(g.edges) == {("srv-web-01", "srv-db-01")}


def test_inventory_yaml_builds_subnets_hosts_links_and_gateway_links(tmp_path):
    g = load_topology_file(write(tmp_path, "inv.yaml", INVENTORY_YAML))

    assert g.nodes["srv-web-01"] == {"subnet": "servers", "role": "web", "entry": True,
                                     "high_value": False}
    assert g.nodes["srv-db-01"]["high_value"] is True
    assert g.nodes["srv-db-01"]["vulnerability"] == 0.3
    assert g.nodes["rnd-pc-002"]["role"] == "host"
    assert {frozenset(e) for e in g.edges} == {
        frozenset(e) for e in [("srv-web-01", "srv-db-01"), ("srv-fw-01", "srv-web-01"),
                               ("rnd-pc-001", "rnd-pc-002"), ("srv-fw-01", "rnd-pc-001")]
    }
    net = Network.from_graph(g)
    assert net.subnets == ("servers", "rnd")
    assert int(net.gateway.sum()) == 1


def test_inventory_json_reads_the_same_as_inventory_yaml(tmp_path):
    import yaml

    as_json = write(tmp_path, "inv.json", yaml.safe_load(INVENTORY_YAML))
    as_yaml = write(tmp_path, "inv.yml", INVENTORY_YAML)
    assert as_sets(load_topology_file(as_json)) == as_sets(load_topology_file(as_yaml))


def test_yaml_host_names_like_no_stay_strings(tmp_path):
    text = "subnets:\n  - name: s\n    hosts: [{name: no}, {name: on}]\n    links: [[no, on]]\n"
    assert set(load_topology_file(write(tmp_path, "inv.yaml", text))) == {"no", "on"}


def inventory(*hosts: dict, **extra: object) -> dict:
    return {"subnets": [{"name": "s", "hosts": list(hosts)}], **extra}


def nodes(*items: dict, **extra: object) -> dict:
    return {"nodes": list(items), **extra}


A, B = {"name": "a"}, {"name": "b"}

BAD_FILES = {
    # name: (file name, content, field, words the problem must contain)
    "invalid JSON, with its line": ("n.json", '{\n "nodes": [\n  {"id": 1,}\n ]\n}', "line 3",
                                    "invalid JSON"),
    "invalid YAML, with its line": ("i.yaml", "subnets:\n  - name: s\n    hosts: [a, b\n", "line 4",
                                    "invalid YAML"),
    "neither format": ("n.json", [1, 2], "", "expected node-link JSON"),
    "unknown top-level key": ("i.json", inventory(A, linkz=[]), "linkz", "unknown key 'linkz'"),
    "unknown subnet key": ("i.json", {"subnets": [{"name": "s", "hosts": [A], "vlan": 3}]},
                           "subnets[0].vlan", "unknown key 'vlan'"),
    "unknown host key": ("i.json", inventory(A, {"name": "b", "vulnerabilty": 0.5}),
                         "subnets[0].hosts[1].vulnerabilty", "unknown key 'vulnerabilty'"),
    "unknown node key": ("n.json", nodes({"id": 1}, {"id": 2, "os": "linux"}), "nodes[1].os",
                         "unknown key 'os'"),
    "unknown link key": ("n.json", nodes({"id": 1}, {"id": 2}, links=[
        {"source": 1, "target": 2, "weight": 3}]), "links[0].weight", "unknown key 'weight'"),
    "yes is not a bool in YAML": ("i.yaml", "subnets:\n  - name: s\n    hosts:\n"
                                  "      - {name: a, entry: yes}\n", "subnets[0].hosts[0].entry",
                                  "expected true or false, got 'yes'"),
    "string is not a bool in JSON": ("n.json", nodes({"id": 1}, {"id": 2, "entry": "true"}),
                                     "nodes[1].entry", "expected true or false, got 'true'"),
    "number is not a bool": ("i.json", inventory({"name": "a", "high_value": 1}),
                             "subnets[0].hosts[0].high_value", "expected true or false, got 1"),
    "role must be a string": ("n.json", nodes({"id": 1, "role": 5}), "nodes[0].role",
                              "expected a non-empty string, got 5"),
    "host name must be a string": ("i.json", inventory({"name": 7}), "subnets[0].hosts[0].name",
                                   "expected a non-empty string, got 7"),
    "host name is required": ("i.json", inventory({"role": "web"}), "subnets[0].hosts[0]",
                              "missing key 'name'"),
    "node id is required": ("n.json", nodes({"name": "a"}), "nodes[0]", "missing key 'id'"),
    "vulnerability must be a number": ("n.json", nodes({"id": 1, "vulnerability": "high"}),
                                       "nodes[0].vulnerability", "expected a number, got 'high'"),
    "vulnerability is not a bool": ("n.json", nodes({"id": 1, "vulnerability": True}),
                                    "nodes[0].vulnerability", "expected a number, got true"),
    "vulnerability below 0.01": ("n.json", nodes({"id": 1, "vulnerability": 0}),
                                 "nodes[0].vulnerability", "0 is outside [0.01, 1]"),
    "vulnerability above 1": ("i.json", inventory(A, {"name": "b", "vulnerability": 1.5}),
                              "subnets[0].hosts[1].vulnerability", "1.5 is outside [0.01, 1]"),
    "negative subnet index": ("n.json", nodes({"id": 1, "subnet": -1}), "nodes[0].subnet",
                              "expected a name or an index >= 0, got -1"),
    "subnets must be a list": ("i.json", {"subnets": {"s": [A]}}, "subnets",
                               "expected a list, got a mapping"),
    "duplicate host across subnets": ("i.json", {"subnets": [
        {"name": "s", "hosts": [A]}, {"name": "t", "hosts": [B, A]}]}, "subnets[1].hosts[1]",
        "duplicate host name 'a' (first at subnets[0].hosts[0])"),
    "duplicate node name": ("n.json", nodes({"id": 1, "name": "a"}, {"id": 2, "name": "a"}),
                            "nodes[1].name", "duplicate host name 'a' (first at nodes[0].name)"),
    "duplicate node id": ("n.json", nodes({"id": 1}, {"id": 1}), "nodes[1].id",
                          "duplicate id 1"),
    "duplicate subnet name": ("i.json", {"subnets": [{"name": "s", "hosts": [A]},
                                                     {"name": "s", "hosts": [B]}]},
                              "subnets[1].name", "duplicate subnet name 's'"),
    "link to unknown host": ("i.json", inventory(A, B, links=[["a", "b"], ["a", "ghost"]]),
                             "links[1]", "unknown host 'ghost'"),
    "subnet link to unknown host": ("i.json", {"subnets": [
        {"name": "s", "hosts": [A], "links": [["a", "ghost"]]}]}, "subnets[0].links[0]",
        "unknown host 'ghost'"),
    "node link to unknown id": ("n.json", nodes({"id": 1}, {"id": 2}, links=[
        {"source": 1, "target": 2}, {"source": 1, "target": 3}]), "links[1].target",
        "unknown host: no node has id 3"),
    "link is not a pair": ("i.json", inventory(A, B, links=[["a", "b", "a"]]), "links[0]",
                           "expected a pair of host names like [a, b], got [\"a\", \"b\", \"a\"]"),
    "self-link in inventory": ("i.json", {"subnets": [
        {"name": "s", "hosts": [A], "links": [["a", "a"]]}]}, "subnets[0].links[0]",
        "links host 'a' to itself"),
    "self-link in node-link": ("n.json", nodes({"id": 1}, links=[{"source": 1, "target": 1}]),
                               "links[0]", "links host '1' to itself"),
    "subnet link crossing subnets": ("i.json", {"subnets": [
        {"name": "s", "hosts": [A], "links": [["a", "b"]]}, {"name": "t", "hosts": [B]}]},
        "subnets[0].links[0]", "host 'b' is not in subnet 's'"),
    "both links and edges": ("n.json", nodes({"id": 1}, links=[], edges=[]), "edges",
                             "not both"),
    "subnet with no hosts": ("i.json", {"subnets": [{"name": "s", "hosts": [A]},
                                                    {"name": "empty", "hosts": []}]},
                             "subnets[1].hosts", "subnet 'empty' has no hosts"),
    "inventory with no hosts": ("i.yaml", "subnets: []\n", "subnets", "the file has no hosts"),
    "node-link with no hosts": ("n.json", nodes(links=[]), "nodes", "the file has no hosts"),
}


@pytest.mark.parametrize(("name", "content", "field", "problem"), list(BAD_FILES.values()),
                         ids=list(BAD_FILES))
def test_bad_file_raises_input_error_naming_file_field_and_problem(
    tmp_path, name, content, field, problem
):
    path = write(tmp_path, name, content)
    with pytest.raises(InputError) as caught:
        load_topology_file(path)
    err = caught.value
    assert (err.source, err.field) == (str(path), field)
    assert problem in err.problem
    assert str(err).startswith(f"{path}: {field}: " if field else f"{path}: ")
    assert problem in str(err)


def test_missing_file_raises_input_error_naming_the_file(tmp_path):
    path = tmp_path / "nowhere.yaml"
    with pytest.raises(InputError, match="cannot read") as caught:
        load_topology_file(path)
    assert caught.value.source == str(path)
    assert str(path) in str(caught.value)
