"""Turn a scenario into a network and a simulator."""

from __future__ import annotations

import numpy as np

from twin.errors import InputError
from twin.network import Network, NetworkError
from twin.scenario import Scenario
from twin.sim import Simulator
from twin.topology import GENERATORS, assemble, mark_special


def build_network(scenario: Scenario) -> Network:
    """The scenario's network, the same for the same scenario (its seed drives every draw)."""
    topo = scenario.topology
    rng = np.random.default_rng([scenario.seed, 0x70B0])
    try:
        if topo.generator == "file":
            return _from_file(scenario, rng)
        generate = GENERATORS[topo.generator]
        graphs = [generate(topo.nodes_per_subnet, rng) for _ in range(topo.subnets)]
        return assemble(
            graphs,
            entry=topo.entry_nodes,
            high_value=topo.high_value_nodes,
            gateway_links=topo.gateway_links,
            rng=rng,
        )
    except NetworkError as exc:
        raise InputError(scenario.source, "topology", str(exc)) from None


def _from_file(scenario: Scenario, rng: np.random.Generator) -> Network:
    from twin.topology_file import load_topology_file

    path = scenario.topology_file()
    if path is None or not path.exists():
        raise InputError(scenario.source, "topology.file", f"no such file: {path}")
    graph = load_topology_file(path)
    topo = scenario.topology
    subnets: dict[str, list] = {}
    for node, data in graph.nodes(data=True):
        subnets.setdefault(data["subnet"], []).append(node)
    for name, hosts in subnets.items():
        sub = graph.subgraph(hosts)
        try:
            mark_special(sub, entry=topo.entry_nodes, high_value=topo.high_value_nodes, rng=rng)
        except NetworkError as exc:  # the counts come from the scenario: say so
            raise InputError(
                path, f"subnet {name!r}",
                f"{exc} (topology.entry_nodes and high_value_nodes in {scenario.source}; or mark hosts in the file)",
            ) from None
    return Network.from_graph(graph)


def build_simulator(
    scenario: Scenario, *, network: Network | None = None, batch: int = 1, seed: int | None = None
) -> Simulator:
    """A simulator for the scenario's attacker and horizon (seeded by the scenario unless given)."""
    return Simulator(
        network or build_network(scenario),
        mode=scenario.attack.mode,
        intensity=scenario.attack.intensity,
        p_detect=scenario.attack.p_detect,
        horizon=scenario.horizon,
        batch=batch,
        seed=scenario.seed if seed is None else seed,
    )
