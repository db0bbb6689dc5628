"""Scenario files: every shipped one builds what it says, and every mistake is one clear error."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from twin.build import build_network
from twin.errors import InputError
from twin.network import Network
from twin.scenario import Scenario, load_scenario, scenario_from_dict, shipped_scenarios

SHIPPED_NAMES = {
    "paper-base", "paper-shifts", "demo", "a1-fat-tree", "a1-watts-strogatz",
    "a2-15-subnets", "a2-100-node-subnets", "a3-impact", "a3-penetrate", "a4-intensity-8",
}

SMALL = {
    "name": "small",
    "seed": 3,
    "episodes": 2,
    "horizon": 5,
    "topology": {"subnets": 2, "nodes_per_subnet": 6, "generator": "tree", "entry_nodes": 1, "high_value_nodes": 1},
    "attack": {"mode": "recon", "intensity": 1, "p_detect": 0.5},
    "defender": {"actions_per_step": 2},
}


def write(folder: Path, name: str, content: str | dict) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, dict):
        content = json.dumps(content, indent=1) if name.endswith(".json") else yaml.safe_dump(content)
    path.write_text(content)
    return path


def subnet_sizes(net: Network) -> list[int]:
    return np.diff(net.subnet_start).tolist()


def per_subnet(net: Network, mask: np.ndarray) -> list[int]:
    return np.bincount(net.subnet_of[mask], minlength=net.n_subnets).tolist()


def same_network(a: Network, b: Network) -> bool:
    return (
        a.names == b.names and np.array_equal(a.edges, b.edges)
        and np.array_equal(a.entry, b.entry) and np.array_equal(a.high_value, b.high_value)
    )


# ------------------------------------------------------------ shipped files
def test_every_shipped_scenario_is_found_by_name():
    assert set(shipped_scenarios()) == SHIPPED_NAMES


@pytest.mark.parametrize("name", sorted(SHIPPED_NAMES))
def test_every_shipped_scenario_loads_and_every_phase_builds_the_sizes_it_states(name):
    scenario = load_scenario(name)
    assert scenario.name == name and scenario.description
    for phase in scenario.phases():
        topo = phase.scenario.topology
        net = build_network(phase.scenario)
        assert net.n_nodes > 0 and net.high_value.any() and net.entry.any()
        assert not (net.entry & net.high_value).any(), "a host is both entry and high-value"
        if topo.generator != "file":
            assert subnet_sizes(net) == [topo.nodes_per_subnet] * topo.subnets
            assert per_subnet(net, net.entry) == [topo.entry_nodes] * topo.subnets
            assert per_subnet(net, net.high_value) == [topo.high_value_nodes] * topo.subnets
            assert int(net.gateway.sum()) == topo.gateway_links


def test_paper_base_is_five_30_host_tree_subnets_with_two_entry_and_two_high_value_hosts_each():
    scenario = load_scenario("paper-base")
    assert (scenario.seed, scenario.episodes, scenario.horizon) == (7, 50, 30)
    assert (scenario.attack.mode, scenario.attack.intensity, scenario.attack.p_detect) == ("recon", 2, 0.5)
    assert scenario.defender.actions_per_step == 4
    assert scenario.shifts == []
    net = build_network(scenario)
    assert net.n_subnets == 5 and subnet_sizes(net) == [30] * 5
    assert per_subnet(net, net.entry) == [2] * 5
    assert per_subnet(net, net.high_value) == [2] * 5
    assert not net.gateway.any()
    for s in range(5):  # a tree: connected, one link fewer than hosts
        assert net.subnet_graph(s).number_of_edges() == 29


def test_a2_scenarios_scale_the_number_and_the_size_of_subnets():
    wide = build_network(load_scenario("a2-15-subnets"))
    assert wide.n_subnets == 15 and subnet_sizes(wide) == [30] * 15 and wide.n_nodes == 450
    deep = build_network(load_scenario("a2-100-node-subnets"))
    assert deep.n_subnets == 5 and subnet_sizes(deep) == [100] * 5
    assert per_subnet(deep, deep.high_value) == [2] * 5


def test_a1_scenarios_build_small_world_and_leaf_spine_subnets():
    ws = load_scenario("a1-watts-strogatz")
    assert ws.topology.generator == "watts_strogatz"
    net = build_network(ws)
    for s in range(net.n_subnets):
        g = net.subnet_graph(s)
        assert g.number_of_edges() > g.number_of_nodes() - 1  # has cycles, unlike a tree
        assert min(d for _, d in g.degree()) >= 1
    ft = load_scenario("a1-fat-tree")
    assert ft.topology.generator == "fat_tree"
    net = build_network(ft)
    assert {"router", "switch"} <= set(net.roles)
    assert subnet_sizes(net) == [30] * 5


@pytest.mark.parametrize(("name", "mode"), [("a3-impact", "impact"), ("a3-penetrate", "penetrate")])
def test_a3_scenarios_change_only_the_attack_mode(name, mode):
    scenario, base = load_scenario(name), load_scenario("paper-base")
    assert scenario.attack.mode == mode
    assert scenario.topology == base.topology and scenario.attack.intensity == base.attack.intensity


def test_a4_scenario_attacks_eight_times_a_step():
    scenario = load_scenario("a4-intensity-8")
    assert scenario.attack.intensity == 8 and scenario.attack.mode == "recon"


def test_demo_is_450_named_hosts_in_five_subnets_with_four_gateway_links():
    scenario = load_scenario("demo")
    assert scenario.topology.generator == "file"
    net = build_network(scenario)
    assert net.n_nodes == 450 and net.n_subnets == 5
    assert int(net.gateway.sum()) == 4
    assert "srv-db-01" in net.index and net.entry.any() and net.high_value.any()


def test_paper_shifts_has_five_phases_each_the_base_with_one_shift_merged_in():
    phases = load_scenario("paper-shifts").phases()
    assert [p.name for p in phases] == ["base", "A1-structure", "A2-scale", "A3-policy", "A4-intensity"]
    settings = {
        p.name: (p.scenario.topology.generator, p.scenario.topology.subnets, p.scenario.topology.nodes_per_subnet,
                 p.scenario.attack.mode, p.scenario.attack.intensity)
        for p in phases
    }
    # each shift overrides the base, not the shift before it
    assert settings == {
        "base": ("tree", 5, 30, "recon", 2),
        "A1-structure": ("watts_strogatz", 5, 30, "recon", 2),
        "A2-scale": ("tree", 15, 30, "recon", 2),
        "A3-policy": ("tree", 5, 30, "impact", 2),
        "A4-intensity": ("tree", 5, 30, "recon", 8),
    }
    for p in phases:
        sc = p.scenario
        assert (sc.seed, sc.episodes, sc.horizon, sc.defender.actions_per_step) == (7, 50, 30, 4)
        assert sc.attack.p_detect == 0.5 and sc.shifts == []
    assert build_network(phases[2].scenario).n_nodes == 450


# ------------------------------------------------------------ loading
@pytest.mark.parametrize("suffix", [".yaml", ".yml", ".json"])
def test_yaml_and_json_files_of_the_same_content_load_the_same_scenario(tmp_path, suffix):
    data = {**SMALL, "shifts": [{"name": "more", "attack": {"intensity": 3}}]}
    loaded = load_scenario(write(tmp_path, f"s{suffix}", data))
    assert loaded.model_dump() == scenario_from_dict(data).model_dump()
    assert [p.scenario.attack.intensity for p in loaded.phases()] == [1, 3]


def test_omitted_fields_take_the_documented_defaults():
    sc = scenario_from_dict({"name": "bare"})
    assert (sc.episodes, sc.horizon, sc.seed) == (50, 30, 0)
    assert sc.topology.model_dump() == {
        "subnets": 5, "nodes_per_subnet": 30, "generator": "tree", "file": None,
        "entry_nodes": 2, "high_value_nodes": 2, "gateway_links": 0,
    }
    assert (sc.attack.mode, sc.attack.intensity, sc.attack.p_detect) == ("recon", 2, 0.5)
    assert sc.defender.actions_per_step == 4


@pytest.mark.parametrize("generator", ["tree", "watts_strogatz", "fat_tree"])
def test_the_same_scenario_builds_the_same_network_and_another_seed_a_different_one(generator):
    data = {**SMALL, "topology": {**SMALL["topology"], "generator": generator, "nodes_per_subnet": 20}}
    first, again = build_network(scenario_from_dict(data)), build_network(scenario_from_dict(data))
    assert same_network(first, again)
    other = build_network(scenario_from_dict({**data, "seed": data["seed"] + 1}))
    assert not same_network(first, other)


def test_gateway_links_join_subnets():
    data = {**SMALL, "topology": {**SMALL["topology"], "subnets": 3, "gateway_links": 3}}
    net = build_network(scenario_from_dict(data))
    assert int(net.gateway.sum()) == 3
    assert set(map(tuple, net.subnet_of[net.edges[net.gateway]].tolist())) == {(0, 1), (1, 2), (0, 2)}


NODE_LINK = {
    "nodes": [
        {"id": "web", "subnet": "dmz"}, {"id": "app", "subnet": "dmz"}, {"id": "db", "subnet": "dmz"},
        {"id": "pc1", "subnet": "office"}, {"id": "pc2", "subnet": "office"},
    ],
    "links": [
        {"source": "web", "target": "app"}, {"source": "app", "target": "db"},
        {"source": "pc1", "target": "pc2"}, {"source": "web", "target": "pc1"},
    ],
}


def test_a_relative_topology_file_resolves_against_the_scenario_folder_not_the_working_folder(tmp_path, monkeypatch):
    write(tmp_path, "scen/nets/net.json", NODE_LINK)
    data = {**SMALL, "topology": {"generator": "file", "file": "nets/net.json", "entry_nodes": 1, "high_value_nodes": 1}}
    write(tmp_path, "scen/s.yaml", data)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(tmp_path)
    scenario = load_scenario("scen/s.yaml")  # a relative scenario path, too
    monkeypatch.chdir(elsewhere)
    net = build_network(scenario)
    assert net.subnets == ("dmz", "office") and net.n_nodes == 5


def test_a_topology_file_sets_the_subnets_and_the_scenario_counts_mark_unmarked_hosts(tmp_path):
    write(tmp_path, "net.json", NODE_LINK)
    data = {**SMALL, "topology": {"subnets": 9, "nodes_per_subnet": 40, "generator": "file", "file": "net.json",
                                  "entry_nodes": 1, "high_value_nodes": 1}}
    scenario = load_scenario(write(tmp_path, "s.yaml", data))
    net = build_network(scenario)
    assert subnet_sizes(net) == [3, 2]  # the file's, not 9 x 40
    assert per_subnet(net, net.entry) == [1, 1] and per_subnet(net, net.high_value) == [1, 1]
    assert same_network(net, build_network(scenario))
    assert int(net.gateway.sum()) == 1


def test_hosts_the_topology_file_marks_are_kept(tmp_path):
    marked = json.loads(json.dumps(NODE_LINK))
    marked["nodes"][0]["entry"] = True
    marked["nodes"][2]["high_value"] = True
    write(tmp_path, "net.json", marked)
    data = {**SMALL, "topology": {"generator": "file", "file": "net.json", "entry_nodes": 1, "high_value_nodes": 1}}
    net = build_network(load_scenario(write(tmp_path, "s.yaml", data)))
    assert net.entry[net.host("web")] and net.high_value[net.host("db")]
    assert per_subnet(net, net.entry) == [1, 1]


def test_a_shift_to_a_generated_structure_drops_the_base_topology_file(tmp_path):
    write(tmp_path, "net.json", NODE_LINK)
    data = {**SMALL, "topology": {"generator": "file", "file": "net.json", "entry_nodes": 1, "high_value_nodes": 1},
            "shifts": [{"name": "generated", "topology": {"generator": "tree", "subnets": 2, "nodes_per_subnet": 6}}]}
    base, shifted = load_scenario(write(tmp_path, "s.yaml", data)).phases()
    assert shifted.scenario.topology.file is None
    assert subnet_sizes(build_network(shifted.scenario)) == [6, 6]
    assert build_network(base.scenario).n_nodes == 5


def test_a_shift_may_change_episodes_and_horizon():
    phases = scenario_from_dict({**SMALL, "shifts": [{"name": "long", "episodes": 9, "horizon": 40}]}).phases()
    assert [(p.scenario.episodes, p.scenario.horizon) for p in phases] == [(2, 5), (9, 40)]
    assert phases[1].scenario.name == "small/long"


# ------------------------------------------------------------ errors
BASE_YAML = "name: t\nseed: 1\ntopology: {subnets: 2, nodes_per_subnet: 6, entry_nodes: 1, high_value_nodes: 1}\n"

# (id, file name, content, fragments the message must contain: the field and the problem)
BAD_SCENARIOS = [
    ("bad-yaml", "s.yaml", "name: t\nseed: 1\nattack: {mode: recon\n", ["line 4", "invalid YAML"]),
    ("bad-yaml-indent", "s.yaml", "name: t\nseed: 1\n  horizon: 3\n", ["line 3", "invalid YAML"]),
    ("bad-json", "s.json", '{\n "name": "t",\n "seed": 1,\n}\n', ["line 4", "invalid JSON"]),
    ("duplicate-yaml-key", "s.yaml", "name: t\nseed: 1\nseed: 2\n", ["line 3", "duplicate key 'seed'"]),
    ("duplicate-json-key", "s.json", '{"name": "t", "seed": 1, "seed": 2}', ["duplicate key 'seed'"]),
    ("unknown-top-level-key", "s.yaml", BASE_YAML + "colour: red\n", [": colour: unknown key"]),
    ("unknown-topology-key", "s.yaml", "name: t\ntopology: {subnetz: 2}\n", ["topology.subnetz: unknown key"]),
    ("unknown-attack-key", "s.yaml", "name: t\nattack: {moed: recon}\n", ["attack.moed: unknown key"]),
    ("unknown-defender-key", "s.yaml", "name: t\ndefender: {actions: 2}\n", ["defender.actions: unknown key"]),
    ("unknown-key-in-a-shift-topology", "s.yaml",
     BASE_YAML + "shifts:\n  - {name: s1, topology: {generatr: tree}}\n", ["shifts[0].topology.generatr: unknown key"]),
    ("unknown-key-in-a-shift-attack", "s.yaml",
     BASE_YAML + "shifts:\n  - {name: s1}\n  - {name: s2, attack: {intensty: 3}}\n",
     ["shifts[1].attack.intensty: unknown key"]),
    ("unknown-key-in-a-shift", "s.yaml", BASE_YAML + "shifts:\n  - {name: s1, topolgy: {}}\n",
     ["shifts[0].topolgy: unknown key"]),
    ("loader-only-key", "s.yaml", "name: t\nbase_dir: /etc\n", ["base_dir: unknown key"]),
    ("shift-without-name", "s.yaml", BASE_YAML + "shifts:\n  - {attack: {intensity: 3}}\n",
     ["shifts[0].name: missing"]),
    ("missing-name", "s.yaml", "seed: 1\n", ["name: missing"]),
    ("intensity-as-a-word", "s.yaml", "name: t\nattack: {intensity: high}\n",
     ["attack.intensity: ", "valid integer", "'high'"]),
    ("intensity-as-a-word-in-a-shift", "s.json",
     json.dumps({"name": "t", "shifts": [{"name": "s", "attack": {"intensity": "high"}}]}),
     ["shifts[0].attack.intensity: ", "valid integer", "'high'"]),
    ("entry-nodes-as-a-bool", "s.yaml", "name: t\ntopology: {entry_nodes: true}\n",
     ["topology.entry_nodes: ", "valid integer", "True"]),
    ("fractional-intensity", "s.yaml", "name: t\nattack: {intensity: 2.5}\n", ["attack.intensity: ", "2.5"]),
    ("topology-as-a-list", "s.yaml", "name: t\ntopology: [1, 2]\n", ["topology: expected a mapping, got a list"]),
    ("shifts-as-a-mapping", "s.yaml", "name: t\nshifts: {a: 1}\n", ["shifts: expected a list, got a mapping"]),
    ("subnet-with-no-hosts", "s.yaml", "name: t\ntopology: {nodes_per_subnet: 0, entry_nodes: 0, high_value_nodes: 0}\n",
     ["topology.nodes_per_subnet: ", "greater than or equal to 1", "0"]),
    ("no-subnets", "s.yaml", "name: t\ntopology: {subnets: 0}\n", ["topology.subnets: ", "greater than or equal to 1"]),
    ("special-hosts-do-not-fit", "s.yaml", "name: t\ntopology: {nodes_per_subnet: 3, entry_nodes: 2, high_value_nodes: 2}\n",
     ["topology.high_value_nodes: ", "2 entry + 2 high-value hosts do not fit in a subnet of 3"]),
    ("special-hosts-do-not-fit-after-a-shift", "s.yaml",
     BASE_YAML + "shifts:\n  - {name: s1, topology: {nodes_per_subnet: 1}}\n",
     ["shifts[0].topology.high_value_nodes: ", "do not fit in a subnet of 1"]),
    ("unknown-attack-mode", "s.yaml", "name: t\nattack: {mode: nuke}\n",
     ["attack.mode: 'nuke' is not one of", "'recon'", "'impact'"]),
    ("unknown-generator", "s.yaml", "name: t\ntopology: {generator: star}\n", ["topology.generator: 'star' is not one of"]),
    ("p-detect-above-1", "s.yaml", "name: t\nattack: {p_detect: 1.5}\n", ["attack.p_detect: ", "less than or equal to 1", "1.5"]),
    ("p-detect-below-0", "s.yaml", "name: t\nattack: {p_detect: -0.1}\n", ["attack.p_detect: ", "greater than or equal to 0"]),
    ("negative-seed", "s.yaml", "name: t\nseed: -3\n", ["seed: ", "greater than or equal to 0", "-3"]),
    ("zero-episodes", "s.yaml", "name: t\nepisodes: 0\n", ["episodes: ", "greater than or equal to 1"]),
    ("generator-file-without-a-file", "s.yaml", "name: t\ntopology: {generator: file}\n",
     ["topology.file: required when generator is 'file'"]),
    ("file-without-generator-file", "s.yaml", "name: t\ntopology: {file: net.json}\n",
     ["topology.file: only used with generator 'file', not 'tree'"]),
    ("topology-file-missing", "s.yaml", "name: t\ntopology: {generator: file, file: nothere.json}\n",
     ["topology.file: no such file", "nothere.json"]),
    ("topology-file-missing-in-a-shift", "s.yaml",
     BASE_YAML + "shifts:\n  - {name: s1, topology: {generator: file, file: gone.json}}\n",
     ["shifts[0].topology.file: no such file", "gone.json"]),
    ("a-list-document", "s.yaml", "- name: t\n- seed: 1\n", ["expected a mapping of scenario fields, got a list"]),
    ("a-word-document", "s.yaml", "hello\n", ["expected a mapping of scenario fields, got a string"]),
    ("an-empty-document", "s.yaml", "", ["expected a mapping of scenario fields, got an empty document"]),
    ("a-json-array", "s.json", "[1, 2]", ["expected a mapping of scenario fields, got a list"]),
]


@pytest.mark.parametrize(("name", "content", "fragments"), [c[1:] for c in BAD_SCENARIOS], ids=[c[0] for c in BAD_SCENARIOS])
def test_a_malformed_scenario_raises_one_input_error_naming_file_field_and_problem(tmp_path, name, content, fragments):
    path = write(tmp_path, name, content)
    with pytest.raises(InputError) as caught:
        load_scenario(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: "), message
    for fragment in fragments:
        assert fragment in message, message
    assert "\n" not in message and "Traceback" not in message
    assert caught.value.source == str(path)


def test_a_topology_file_with_an_empty_subnet_names_the_topology_file_and_the_subnet(tmp_path):
    inventory = "subnets:\n  - {name: a, hosts: [{name: h1}, {name: h2}]}\n  - {name: b, hosts: []}\n"
    topo = write(tmp_path, "net.yaml", inventory)
    data = {**SMALL, "topology": {"generator": "file", "file": "net.yaml", "entry_nodes": 0, "high_value_nodes": 0}}
    scenario = load_scenario(write(tmp_path, "s.yaml", data))
    with pytest.raises(InputError, match=r"subnets\[1\]\.hosts: subnet 'b' has no hosts") as caught:
        build_network(scenario)
    assert str(caught.value).startswith(f"{topo}: ")


def test_a_topology_file_with_no_hosts_names_the_topology_file(tmp_path):
    topo = write(tmp_path, "net.json", {"nodes": [], "links": []})
    data = {**SMALL, "topology": {"generator": "file", "file": "net.json"}}
    with pytest.raises(InputError, match="nodes: the file has no hosts") as caught:
        build_network(load_scenario(write(tmp_path, "s.yaml", data)))
    assert str(caught.value).startswith(f"{topo}: ")


def test_a_topology_file_subnet_too_small_for_the_counts_names_both_files(tmp_path):
    topo = write(tmp_path, "net.json", NODE_LINK)
    data = {**SMALL, "topology": {"generator": "file", "file": "net.json", "entry_nodes": 1, "high_value_nodes": 2}}
    scenario_path = write(tmp_path, "s.yaml", data)
    with pytest.raises(InputError) as caught:
        build_network(load_scenario(scenario_path))
    message = str(caught.value)
    assert message.startswith(f"{topo}: subnet 'office': ")
    assert "do not fit in a subnet of 2" in message and str(scenario_path) in message


def test_a_missing_scenario_file_is_an_input_error_naming_it(tmp_path):
    path = tmp_path / "missing.yaml"
    with pytest.raises(InputError, match="no such file") as caught:
        load_scenario(path)
    assert str(caught.value).startswith(str(path))


def test_a_folder_is_not_a_scenario_file(tmp_path):
    with pytest.raises(InputError, match="is a folder"):
        load_scenario(tmp_path)


def test_a_shipped_name_wins_over_a_folder_of_that_name_in_the_working_folder(tmp_path, monkeypatch):
    (tmp_path / "paper-base").mkdir()
    monkeypatch.chdir(tmp_path)
    assert load_scenario("paper-base").name == "paper-base"


def test_an_unknown_scenario_name_lists_the_shipped_ones():
    with pytest.raises(InputError) as caught:
        load_scenario("no-such-scenario")
    message = str(caught.value)
    assert message.startswith("no-such-scenario: ") and "paper-base" in message and "demo" in message


def test_scenarios_from_code_are_validated_like_files():
    with pytest.raises(InputError, match=r"^<scenario>: attack\.intensity: "):
        scenario_from_dict({"name": "t", "attack": {"intensity": -1}})
    with pytest.raises(InputError, match=r"^mine: shifts\[0\]\.defender\.budget: unknown key"):
        scenario_from_dict({"name": "t", "shifts": [{"name": "s", "defender": {"budget": 1}}]}, source="mine")
    assert isinstance(scenario_from_dict(SMALL), Scenario)
