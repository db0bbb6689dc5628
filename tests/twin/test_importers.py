"""Inventory import (AWS CLI JSON, Kubernetes JSON, our format), `cyberops twin import`, re-import."""

from __future__ import annotations

import copy
import io
import json
from pathlib import Path

import numpy as np
import pytest

from bot.cli import main
from twin.build import build_network, build_simulator
from twin.errors import InputError
from twin.importers import import_inventory, read_inventory
from twin.network import Network
from twin.scenario import load_scenario
from twin.snapshot import SnapshotError, dump_state, remap_state, restore_state
from twin.topology_file import load_topology_file

DATA = Path(__file__).resolve().parents[1] / "data" / "inventory"
AWS = sorted((DATA / "aws").glob("describe-*.json"))
K8S = DATA / "k8s" / "cluster.json"
OFFICE = DATA / "office.yaml"
APP1, APP2, BATCH = "app-i-0a1b2c3d4e5f00021", "app-i-0a1b2c3d4e5f00022", "i-0a1b2c3d4e5f00023"
FRONT1, FRONT2 = "frontend-6d8f7b9c5-2xk4p", "frontend-6d8f7b9c5-9qz7m"
CART, CATALOG, API = "cart-7c9d5f8b6-h5jxw", "catalog-5b7f9d6c8-p2v8n", "payments-api-64b8c7d9f-tw4rk"
PROM, GRAFANA, DNS = "prometheus-server-0", "grafana-7f5c9b8d6-lm3qz", "coredns-5d78c9869d-8wq2t"


def subnets(g) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for host, data in g.nodes(data=True):
        out.setdefault(data["subnet"], set()).add(host)
    return out


def marked(g, key: str) -> set[str]:
    return {h for h, d in g.nodes(data=True) if d.get(key)}


def write_json(path: Path, data: object) -> Path:
    path.write_text(json.dumps(data))
    return path


# ------------------------------------------------------------------ AWS
def test_aws_subnets_become_regions_and_instances_hosts_with_their_addresses():
    g = import_inventory(AWS)

    assert subnets(g) == {
        "public-a": {"web-1", "web-2"},
        "app-a": {APP1, APP2, BATCH},  # one Name tag on two instances: Name-instance-id; none: the id
        "data-a": {"db-primary", "db-replica"},  # the terminated db-old is gone
        "mgmt": {"bastion"},
        "subnet-0cc1b2c3d4e5f0c01": {"scratch"},  # no Name tag: the subnet id; app-b (empty) is left out
    }
    assert g.nodes["db-primary"] | {} == {"subnet": "data-a", "role": "db", "entry": False, "high_value": True,
                                          "instance_id": "i-0a1b2c3d4e5f00031", "ip": "10.20.2.31"}
    assert g.nodes["web-2"]["role"] == "web" and g.nodes[BATCH]["role"] == "batch"  # Role tag
    assert g.nodes["scratch"]["role"] == "host"
    assert marked(g, "high_value") == {"db-primary"}
    # public IP and a route to an internet gateway; scratch has a public IP but its VPC has no way out
    assert marked(g, "entry") == {"web-1", "web-2", "bastion"}


def test_aws_links_follow_security_group_rules_egress_and_routes():
    g = import_inventory(AWS)
    present = [
        ("web-1", APP1), ("web-2", APP2),  # app allows from the web group: a gateway link
        (APP1, APP2), ("db-primary", "db-replica"),  # self-referencing groups
        (APP1, "db-primary"), (BATCH, "db-replica"),  # db allows app and batch; batch's egress only to db
        ("bastion", "web-1"), ("bastion", APP2),  # across the peering: by group and by CIDR 10.99.0.0/24
    ]
    absent = [
        ("web-1", "web-2"),  # 0.0.0.0/0 is the internet, not every instance
        (BATCH, APP1), ("bastion", "db-primary"), ("web-1", "db-primary"),
        ("scratch", "web-1"), ("scratch", APP1),  # 10.0.0.0/8 admits them, but no route reaches the sandbox VPC
    ]
    for a, b in present:
        assert g.has_edge(a, b), (a, b)
    for a, b in absent:
        assert not g.has_edge(a, b), (a, b)
    assert g.number_of_edges() == 16


def test_without_route_tables_vpcs_stay_apart_and_every_public_ip_is_an_entry():
    g = import_inventory([p for p in AWS if "route-tables" not in p.name])

    assert g.degree("bastion") == 0  # the peering route is what joined mgmt to prod
    assert marked(g, "entry") == {"web-1", "web-2", "bastion", "scratch"}


def test_split_subnets_are_reported_not_patched_with_invented_links():
    result = read_inventory(AWS)

    assert any("'public-a' falls into 2 parts" in note for note in result.notes)
    assert any("'app-a' falls into 2 parts" in note and BATCH in note for note in result.notes)
    assert not result.graph.has_edge("web-1", "web-2")


# ----------------------------------------------------------- Kubernetes
def test_kubernetes_namespaces_become_regions_and_running_pods_hosts():
    g = import_inventory([K8S])

    assert subnets(g) == {
        "kube-system": {DNS},
        "shop": {FRONT1, FRONT2, CART, CATALOG},  # the finished migration job's pod is left out
        "payments": {API, "payments-db-0"},
        "monitoring": {PROM, GRAFANA},
    }
    assert g.nodes[CART] == {"subnet": "shop", "role": "api", "entry": False, "high_value": False,
                             "pod": CART, "ip": "10.244.1.20"}
    assert g.nodes["payments-db-0"]["role"] == "database"
    assert marked(g, "high_value") == {"payments-db-0"}  # by annotation
    assert marked(g, "entry") == {FRONT1, FRONT2, GRAFANA}  # LoadBalancer service; Ingress backend


def test_kubernetes_links_follow_network_policies_with_default_allow_in_a_namespace():
    g = import_inventory([K8S])
    present = [
        (FRONT1, CART), (FRONT2, CATALOG),  # podSelector with matchExpressions
        (PROM, CART), (PROM, CATALOG),  # namespaceSelector and podSelector together
        (CART, API),  # payments admits cart by its namespace's team label
        (API, "payments-db-0"),  # the db's egress is closed, but the api's is not
        (PROM, GRAFANA),  # monitoring has no policy: default allow
    ]
    absent = [(FRONT1, FRONT2), (CART, CATALOG), (CATALOG, API), (GRAFANA, CART), (CART, "payments-db-0")]
    for a, b in present:
        assert g.has_edge(a, b), (a, b)
    for a, b in absent:
        assert not g.has_edge(a, b), (a, b)
    assert g.degree(DNS) == 0
    assert g.number_of_edges() == 9


def _pod(name: str, ns: str, **labels: str) -> dict:
    return {"kind": "Pod", "metadata": {"name": name, "namespace": ns, "labels": labels},
            "status": {"phase": "Running"}}


def _policy(name: str, ns: str, spec: dict) -> dict:
    return {"kind": "NetworkPolicy", "metadata": {"name": name, "namespace": ns}, "spec": spec}


def test_unselected_pods_are_all_linked_within_their_namespace_and_egress_rules_cut_links(tmp_path):
    items = [_pod("a", "team"), _pod("b", "team"), _pod("c", "team", locked="yes"),
             _pod("x", "other"), _pod("y", "other", **{"cyberops/high-value": "true"}),
             _policy("lock", "team", {"podSelector": {"matchExpressions": [{"key": "locked", "operator": "Exists"}]},
                                      "policyTypes": ["Egress"], "egress": []})]
    g = import_inventory([write_json(tmp_path / "l.json", {"kind": "List", "items": items})])

    assert {frozenset(e) for e in g.edges} == {frozenset(p) for p in [("a", "b"), ("a", "c"), ("b", "c"), ("x", "y")]}
    assert marked(g, "high_value") == {"y"}  # by label
    items[-1]["spec"]["policyTypes"] = ["Ingress", "Egress"]  # c now admits nobody and sends nowhere
    g = import_inventory([write_json(tmp_path / "l.json", {"kind": "List", "items": items})])
    assert not g.has_edge("a", "c") and not g.has_edge("b", "c") and g.has_edge("a", "b")


def test_a_rule_naming_no_peer_admits_its_namespace_and_an_ip_block_admits_no_pod(tmp_path):
    items = [_pod("a", "team", app="open"), _pod("b", "team", app="walled"), _pod("c", "team", app="walled"),
             _pod("x", "other"),
             _policy("open", "team", {"podSelector": {"matchLabels": {"app": "open"}}, "ingress": [{}]}),
             _policy("walled", "team", {"podSelector": {"matchLabels": {"app": "walled"}},
                                        "ingress": [{"from": [{"ipBlock": {"cidr": "10.0.0.0/8"}}]}]}),
             _policy("all-out", "team", {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{}]})]
    g = import_inventory([write_json(tmp_path / "l.json", {"kind": "List", "items": items})])

    # a admits its namespace (not x); b and c admit only outside addresses, so not each other
    assert {frozenset(e) for e in g.edges} == {frozenset(("a", "b")), frozenset(("a", "c"))}


def test_pods_sharing_a_name_across_namespaces_get_the_namespace_appended(tmp_path):
    items = [_pod("redis-0", "shop"), _pod("redis-0", "payments"), _pod("api", "shop")]
    g = import_inventory([write_json(tmp_path / "l.json", {"kind": "List", "items": items})])

    assert set(g) == {"redis-0-shop", "redis-0-payments", "api"}
    assert g.nodes["redis-0-payments"]["pod"] == "redis-0"


# -------------------------------------------------------------- mixed
def test_mixed_formats_make_one_twin():
    g = import_inventory([*AWS, K8S, OFFICE])

    assert len(subnets(g)) == 10 and g.number_of_nodes() == 22
    assert g.nodes["office-nas"] == {"subnet": "office", "role": "file", "entry": False, "high_value": True,
                                     "vulnerability": 0.4, "ip": "192.168.10.5"}
    net = Network.from_graph(g)
    assert net.subnets[:5] == ("public-a", "app-a", "data-a", "mgmt", "subnet-0cc1b2c3d4e5f0c01")
    assert set(np.array(net.names)[net.high_value]) == {"db-primary", "payments-db-0", "office-nas"}


def test_a_host_or_subnet_declared_by_two_files_names_both(tmp_path):
    twin_office = tmp_path / "office-copy.yaml"
    twin_office.write_text(OFFICE.read_text().replace("name: office\n", "name: branch\n"))
    with pytest.raises(InputError, match="host 'office-fw' is also in .*office.yaml") as err:
        import_inventory([OFFICE, twin_office])
    assert err.value.source == str(twin_office)
    clash = tmp_path / "clash.yaml"
    clash.write_text("subnets:\n  - name: shop\n    hosts: [{name: till-01}]\n")
    with pytest.raises(InputError, match="subnet 'shop' is also in .*cluster.json"):
        import_inventory([K8S, clash])


# ---------------------------------------------------------------- errors
def _instances() -> dict:
    return json.loads((DATA / "aws" / "describe-instances.json").read_text())


def _cluster() -> dict:
    return json.loads(K8S.read_text())


def _instance_with(change) -> dict:
    data = _instances()
    change(data["Reservations"][0]["Instances"][0])
    return data


def _item_with(index: int, change) -> dict:
    data = _cluster()
    change(data["items"][index])
    return data


FIRST = "Reservations[0].Instances[0]"
POLICY = len(_cluster()["items"]) - 3  # cart-and-catalog, the one with matchExpressions
BAD = {
    "instance without InstanceId": ("describe-instances.json", _instance_with(lambda i: i.pop("InstanceId")),
                                    f"{FIRST}.InstanceId", "missing key"),
    "Tags not a list": ("describe-instances.json", _instance_with(lambda i: i.update(Tags={"Name": "x"})),
                        f"{FIRST}.Tags", "expected a list, got a mapping"),
    "private IP not an address": ("describe-instances.json",
                                  _instance_with(lambda i: i.update(PrivateIpAddress="10.20.0.300")),
                                  f"{FIRST}.PrivateIpAddress", "not an IP address"),
    "Reservations not a list": ("describe-instances.json", {"Reservations": {"Instances": []}}, "Reservations",
                                "expected a list, got a mapping"),
    "pod without a name": ("cluster.json", _item_with(4, lambda pod: pod["metadata"].pop("name")),
                           "items[4].metadata.name", "missing key"),
    "label that is not a string": ("cluster.json", _item_with(5, lambda pod: pod["metadata"]["labels"].update(tier=3)),
                                   "items[5].metadata.labels.tier", "expected a string, got 3"),
    "unknown selector operator": (
        "cluster.json",
        _item_with(POLICY, lambda pol: pol["spec"]["podSelector"]["matchExpressions"][0].update(operator="Like")),
        f"items[{POLICY}].spec.podSelector.matchExpressions[0].operator",
        "'Like' is not one of In, NotIn, Exists, DoesNotExist"),
    "not an inventory": ("mystery.json", {"hosts": []}, "", "not an inventory we know"),
}


@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
def test_malformed_exports_name_the_file_and_the_field(tmp_path, case):
    name, data, field, problem = BAD[case]
    path = write_json(tmp_path / name, data)
    with pytest.raises(InputError) as err:
        import_inventory([path])
    assert (err.value.source, err.value.field) == (str(path), field)
    assert problem in err.value.problem


def test_references_to_undescribed_groups_and_subnets_are_errors(tmp_path):
    data = _instances()
    data["Reservations"][1]["Instances"][1]["SecurityGroups"][0]["GroupId"] = "sg-0dead"
    path = write_json(tmp_path / "describe-instances.json", data)
    groups = DATA / "aws" / "describe-security-groups.json"
    with pytest.raises(InputError, match="unknown security group 'sg-0dead'") as err:
        import_inventory([path, groups])
    assert err.value.field == "Reservations[1].Instances[1].SecurityGroups[0].GroupId"
    assert import_inventory([path]).has_node("web-1")  # without the groups' output nothing is checked


def test_cli_prints_one_line_and_exits_2_on_a_bad_file(tmp_path, capsys):
    path = write_json(tmp_path / "describe-instances.json", {"Reservations": [{"Instances": [{"State": {}}]}]})
    assert main(["twin", "import", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"cyberops: error: {path}: Reservations[0].Instances[0].InstanceId: missing key"


# ------------------------------------------------------------------ CLI
def test_cli_summary_without_out_writes_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["twin", "import", *map(str, AWS), str(K8S), str(OFFICE), "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert (len(s["subnets"]), s["hosts"], s["links"], s["gateway_links"]) == (10, 22, 29, 17)
    assert set(s["high_value"]) == {"db-primary", "payments-db-0", "office-nas"}
    assert s["wrote"] is None and list(tmp_path.iterdir()) == []


def test_cli_writes_an_inventory_and_a_scenario_that_build_the_same_twin(tmp_path, capsys):
    out = tmp_path / "prod.yaml"
    assert main(["twin", "import", *map(str, AWS), str(K8S), str(OFFICE), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "10 subnets" in text and "22 hosts, 29 links" in text and "prod-inventory.yaml" in text

    scenario = load_scenario(out)
    assert scenario.topology.file == "prod-inventory.yaml"
    net = build_network(scenario)
    imported = import_inventory([*AWS, K8S, OFFICE])
    assert set(net.names) == set(imported)
    assert {frozenset(e) for e in net.graph.edges} == {frozenset(e) for e in imported.edges}
    assert set(np.array(net.names)[net.entry]) == {h for h, d in imported.nodes(data=True) if d["entry"]}
    written = load_topology_file(tmp_path / "prod-inventory.yaml")  # addresses survive the round trip
    assert dict(written.nodes(data=True)) == dict(imported.nodes(data=True))


def _reimported_instances(tmp_path: Path) -> list[Path]:
    """The AWS exports a week later: the bastion is gone, a third web server is up."""
    data = _instances()
    data["Reservations"] = [r for r in data["Reservations"]
                            if not any(i.get("PrivateIpAddress") == "10.99.0.10" for i in r["Instances"])]
    web3 = copy.deepcopy(data["Reservations"][0]["Instances"][0])
    web3.update(InstanceId="i-0a1b2c3d4e5f00013", PrivateIpAddress="10.20.0.13", PublicIpAddress="203.0.113.13",
                Tags=[{"Key": "Name", "Value": "web-3"}, {"Key": "cyberops:role", "Value": "web"}])
    data["Reservations"][0]["Instances"].append(web3)
    path = write_json(tmp_path / "describe-instances.json", data)
    return [p for p in AWS if p.name != "describe-instances.json"] + [path]


def test_reimport_reports_added_retired_and_kept_hosts_and_keeps_the_scenario(tmp_path, capsys):
    out = tmp_path / "prod.yaml"
    assert main(["twin", "import", *map(str, AWS), "--out", str(out)]) == 0
    out.write_text(out.read_text().replace("intensity: 2", "intensity: 3"))  # the operator's own edit
    later = tmp_path / "later"
    later.mkdir()
    capsys.readouterr()

    assert main(["twin", "import", *map(str, _reimported_instances(later)), "--out", str(out), "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["changes"]["added"] == ["web-3"] and s["changes"]["retired"] == ["bastion"]
    assert s["changes"]["kept"] == 8
    assert s["wrote"]["scenario_kept"] and load_scenario(out).attack.intensity == 3
    assert "web-3" in build_network(load_scenario(out)).index


def test_cli_refuses_to_overwrite_a_scenario_of_something_else(tmp_path):
    out = tmp_path / "mine.yaml"
    out.write_text("name: mine\ntopology: {generator: tree}\n")
    with pytest.raises(InputError, match="does not run mine-inventory.yaml"):
        from bot.twin_cli import write_import

        write_import(import_inventory([OFFICE]), out, sources=[str(OFFICE)])
    assert not (tmp_path / "mine-inventory.yaml").exists()


# -------------------------------------------------------- reconciliation
def test_remapping_a_snapshot_keeps_unchanged_hosts_retires_vanished_and_starts_new_ones_clean(tmp_path):
    out = tmp_path / "prod.yaml"
    assert main(["twin", "import", *map(str, AWS), "--out", str(out)]) == 0
    old = build_simulator(load_scenario(out))
    idx = old.network.index
    old.compromised[0, [idx["web-1"], idx["bastion"]]] = True
    old.visible[0, idx["web-1"]] = True
    old.isolated[0, idx[APP1]] = True
    old.vulnerability[0, idx["db-primary"]] = 0.01  # patched
    old.t[0] = 7
    blob = dump_state(old)

    later = tmp_path / "later"
    later.mkdir()
    assert main(["twin", "import", *map(str, _reimported_instances(later)), "--out", str(out)]) == 0
    new = build_simulator(load_scenario(out))
    with pytest.raises(SnapshotError):
        restore_state(new, blob)
    retired, added = remap_state(blob, new)

    assert (retired, added) == (["bastion"], ["web-3"])
    at = new.network.index
    assert new.compromised[0, at["web-1"]] and new.visible[0, at["web-1"]]
    assert new.isolated[0, at[APP1]] and new.vulnerability[0, at["db-primary"]] == 0.01
    assert not (new.compromised[0, at["web-3"]] or new.visible[0, at["web-3"]] or new.isolated[0, at["web-3"]])
    assert new.compromised[0].sum() == 1 and new.isolated[0].sum() == 1  # the bastion's compromise left with it
    assert new.t[0] == 7 and not new.hvn_lost[0]
    new.step()  # and it runs on


def test_an_old_snapshot_without_host_names_restores_the_same_twin_but_cannot_be_remapped():
    scenario = load_scenario("paper-base")
    sim = build_simulator(scenario)
    sim.compromised[0, 3] = True
    blob = _without_host_names(dump_state(sim))

    again = build_simulator(scenario)
    assert remap_state(blob, again) == ([], [])
    assert again.compromised[0, 3]
    with pytest.raises(SnapshotError, match="predates host names"):
        remap_state(blob, build_simulator(load_scenario("demo")))
    with pytest.raises(SnapshotError, match="shares no host"):  # another network, not a re-import
        remap_state(dump_state(sim), build_simulator(load_scenario("demo")))


def _without_host_names(blob: bytes) -> bytes:
    with np.load(io.BytesIO(blob)) as data:
        arrays = {k: data[k] for k in data.files}
    meta = json.loads(bytes(arrays["meta"]).decode())
    meta.pop("host_names", None)  # where older snapshots kept them
    arrays.pop("host_names", None)  # where they are kept now
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()
