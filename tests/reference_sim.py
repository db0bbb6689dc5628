"""A slow, plain twin that follows the rules line by line, to check ``twin/sim.py`` against.

One environment, a networkx graph whose links really are removed and restored (as in
Yawning Titan), Python sets and loops.  It reads its random numbers from a
``numpy.random.Generator`` in the protocol ``twin/sim.py`` documents for a batch of
one, so for the same seed and the same defender actions both give the same trajectory.
It deliberately does not use ``twin.network.Network``: host order, hops to high-value
hosts and availability are all worked out here from the graph itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
import numpy as np

MIN_VULNERABILITY = 0.01
PATCH_STEP = 0.5
PENETRATE_IMPACT_P = 0.4
#: Score of a host with no path to a high-value host, for the impact attacker.
NO_PATH_SCORE = -1e9
ACTION_KINDS = ("noop", "isolate", "recover", "reset", "patch")


@dataclass(frozen=True)
class ReferenceMetrics:
    """What one step left behind (the same fields as ``twin.sim.StepMetrics``, for one env)."""

    availability: float
    healthy_ratio: float
    compromised: int
    visible: int
    isolated: int
    hvn_lost: bool
    done: bool


def host_order(graph: nx.Graph) -> list:
    """Hosts subnet by subnet (subnets in order of first appearance), then in graph order."""
    subnets: dict[str, list] = {}
    for node, data in graph.nodes(data=True):
        subnets.setdefault(str(data.get("subnet", "sub0")), []).append(node)
    return [node for members in subnets.values() for node in members]


class ReferenceTwin:
    """One environment of the twin; hosts are numbered ``0..N-1`` in :func:`host_order`."""

    def __init__(
        self,
        graph: nx.Graph,
        *,
        mode: str = "recon",
        intensity: int = 2,
        p_detect: float = 0.5,
        horizon: int = 30,
        rng: np.random.Generator,
    ) -> None:
        self.mode = mode
        self.intensity = intensity
        self.p_detect = p_detect
        self.horizon = horizon
        self.rng = rng
        order = host_order(graph)
        number = {node: i for i, node in enumerate(order)}
        self.names = [str(node) for node in order]
        self.n = len(order)

        self.base = nx.Graph()
        self.base.add_nodes_from(range(self.n))
        for u, v in graph.edges():
            if u != v:
                self.base.add_edge(number[u], number[v])

        self.subnet_names: list[str] = []
        self.subnet_of: dict[int, str] = {}
        for node in order:
            name = str(graph.nodes[node].get("subnet", "sub0"))
            if name not in self.subnet_names:
                self.subnet_names.append(name)
            self.subnet_of[number[node]] = name
        self.subnet_hosts = {
            s: [h for h in range(self.n) if self.subnet_of[h] == s] for s in self.subnet_names
        }

        attrs = [graph.nodes[node] for node in order]
        self.entry = {i for i, a in enumerate(attrs) if a.get("entry", False)}
        self.high_value = {i for i, a in enumerate(attrs) if a.get("high_value", False)}
        #: per host, the vulnerability the network gives it, or None: drawn each episode
        self.given_vulnerability = [a.get("vulnerability") for a in attrs]
        # The attacker plans on the network as built, not on the defender's isolations.
        self.hops = (
            nx.multi_source_dijkstra_path_length(self.base, self.high_value)
            if self.high_value
            else {}
        )
        self.base_efficiency = {
            s: nx.global_efficiency(self.base.subgraph(hosts)) for s, hosts in self.subnet_hosts.items()
        }
        self._efficiency_seen: dict[tuple[str, frozenset], float] = {}
        self.reset()

    # ------------------------------------------------------------------ episode
    def reset(self) -> None:
        """A new episode: vulnerabilities as given, drawn where not given; every host clean.

        When any host lacks one, a value is drawn for every host (the given ones then win).
        """
        given = self.given_vulnerability
        drawn = [None] * self.n
        if any(v is None for v in given):
            drawn = [float(v) for v in self.rng.uniform(MIN_VULNERABILITY, 1.0, (1, self.n))[0]]
        self.vulnerability = [d if v is None else float(v) for v, d in zip(given, drawn)]
        self.graph = self.base.copy()
        self.compromised: set[int] = set()
        self.visible: set[int] = set()
        self.isolated: set[int] = set()
        self.t = 0
        self.hvn_lost = False
        self.last_targets: list[int | None] = []

    @property
    def done(self) -> bool:
        return self.hvn_lost or self.t >= self.horizon

    # ----------------------------------------------------------------- defender
    def act(self, kind: str, host: int) -> bool:
        """Apply one defender action; returns whether anything changed."""
        if kind not in ACTION_KINDS:
            raise ValueError(f"unknown action {kind!r}")
        before = self._snapshot()
        if kind == "isolate":
            self.graph.remove_edges_from(list(self.graph.edges(host)))
            self.isolated.add(host)
        elif kind == "recover":
            if host in self.isolated:
                self.isolated.discard(host)
                for other in self.base[host]:
                    if other not in self.isolated:
                        self.graph.add_edge(host, other)
        elif kind == "reset":
            self.compromised.discard(host)
            self.visible.discard(host)
        elif kind == "patch":
            self.vulnerability[host] = max(self.vulnerability[host] - PATCH_STEP, MIN_VULNERABILITY)
        return self._snapshot() != before

    def _snapshot(self) -> tuple:
        return (
            frozenset(self.compromised), frozenset(self.visible), frozenset(self.isolated),
            tuple(self.vulnerability), frozenset(self.graph.edges()),
        )

    # ----------------------------------------------------------------- attacker
    def attackable(self) -> set[int]:
        """Entry hosts, and hosts linked (now) to a truly compromised host; never held or isolated."""
        targets = {h for h in self.entry if h not in self.isolated}
        for held in self.compromised:
            targets.update(self.graph[held])  # an isolated host has no links left
        return {h for h in targets if h not in self.compromised and h not in self.isolated}

    def _impact_score(self, host: int, u: float) -> float:
        hops = self.hops.get(host)
        return (NO_PATH_SCORE if hops is None else -float(hops)) + 0.5 * u

    @staticmethod
    def _best(scores: dict[int, float]) -> int | None:
        """Host of the highest score; the lowest index among equals (as ``np.argmax``)."""
        best = None
        for host in sorted(scores):
            if best is None or scores[host] > scores[best]:
                best = host
        return best

    def choose_target(self) -> int | None:
        """Draw this attempt's target numbers and pick a host by the attack mode (None: no target)."""
        rng, n = self.rng, self.n
        if self.mode == "random":
            u = rng.random(1)[0]
            return min(int(u * n), n - 1)
        attackable = self.attackable()
        if self.mode == "recon":
            u_subnet = rng.random((1, len(self.subnet_names)))[0]
            u_host = rng.random((1, n))[0]
            subnets = {
                i: u_subnet[i] for i, s in enumerate(self.subnet_names)
                if any(h in attackable for h in self.subnet_hosts[s])
            }
            chosen = self._best(subnets)
            if chosen is None:
                return None
            pool = [h for h in self.subnet_hosts[self.subnet_names[chosen]] if h in attackable]
            return self._best({h: u_host[h] for h in pool})
        if self.mode == "impact":
            u_host = rng.random((1, n))[0]
            return self._best({h: self._impact_score(h, u_host[h]) for h in attackable})
        if self.mode == "penetrate":
            like_impact = rng.random(1)[0] < PENETRATE_IMPACT_P
            u_host = rng.random((1, n))[0]
            if like_impact:
                return self._best({h: self._impact_score(h, u_host[h]) for h in attackable})
            return self._best({h: self.vulnerability[h] + 1e-9 * u_host[h] for h in attackable})
        raise ValueError(f"unknown attack mode {self.mode!r}")

    def attack_once(self) -> bool:
        """One attempt: choose, then draw success and detection (always both); True on a new compromise."""
        target = self.choose_target()
        success_u = self.rng.random(1)[0] * 100.0
        detect_u = self.rng.random(1)[0]
        self.last_targets.append(target)
        if target is None or target in self.compromised or target in self.isolated:
            return False  # an isolated host is cut off from the internet too
        if not 100.0 / (2.0 - self.vulnerability[target]) > success_u:
            return False
        self.compromised.add(target)
        if detect_u < self.p_detect:
            self.visible.add(target)
        return True

    # --------------------------------------------------------------------- step
    def step(self, actions: list[tuple[str, int]] = ()) -> ReferenceMetrics:
        """Defender actions in order, then the attack attempts, then metrics.

        A finished episode is left as it is, but its attempts' numbers are still drawn
        (and thrown away), as the protocol says.
        """
        if self.done:
            self.last_targets = [None] * self.intensity
            for _ in range(self.intensity):
                self.choose_target()
                self.rng.random(1)
                self.rng.random(1)
            return self.metrics()
        for kind, host in actions:
            self.act(kind, host)
        self.last_targets = []
        for _ in range(self.intensity):
            self.attack_once()
        if self.compromised & self.high_value:
            self.hvn_lost = True
        self.t += 1
        return self.metrics()

    # ------------------------------------------------------------------ metrics
    def subnet_efficiency(self, subnet: str) -> float:
        """Global efficiency of the subnet's current links (gateway links left out)."""
        hosts = self.subnet_hosts[subnet]
        key = (subnet, frozenset(h for h in hosts if h in self.isolated))
        if key not in self._efficiency_seen:  # links depend on isolations only
            self._efficiency_seen[key] = nx.global_efficiency(self.graph.subgraph(hosts))
        return self._efficiency_seen[key]

    def availability(self) -> float:
        """Mean over subnets of efficiency now / efficiency as built; 0 once an HVN is lost."""
        if self.hvn_lost:
            return 0.0
        ratios = []
        for s in self.subnet_names:
            base = self.base_efficiency[s]
            ratios.append(self.subnet_efficiency(s) / base if base > 0 else 1.0)
        return sum(ratios) / len(ratios)

    def metrics(self) -> ReferenceMetrics:
        return ReferenceMetrics(
            availability=self.availability(),
            healthy_ratio=1.0 - len(self.compromised | self.isolated) / self.n,
            compromised=len(self.compromised),
            visible=len(self.visible),
            isolated=len(self.isolated),
            hvn_lost=self.hvn_lost,
            done=self.done,
        )

    # --------------------------------------------------------------- as arrays
    def arrays(self) -> dict[str, np.ndarray]:
        """State as ``(N,)`` arrays, to compare with one row of the array core."""
        def mask(hosts: set[int]) -> np.ndarray:
            out = np.zeros(self.n, dtype=bool)
            out[list(hosts)] = True
            return out

        return {
            "compromised": mask(self.compromised),
            "visible": mask(self.visible),
            "isolated": mask(self.isolated),
            "vulnerability": np.array(self.vulnerability),
        }
