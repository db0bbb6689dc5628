"""The hierarchical defender: a tactical planner allocates the four pretrained agents to regions.

This is the paper's two-level design.  The upper level reads a few numbers per region
(subnet) — what the defender can see, never the true compromise — and turns the
action budget into a list of (agent, region) slots; the lower level is the four
per-region RL agents (:mod:`rl_agents.weights`), each choosing one host of its
region for its one kind of action.  The LangGraph planner (``graph/``) calls the same
:class:`TacticalPlanner` for its embedded plan, and may add its own slots.

Allocation rules, in priority order (the paper's rule stand-in, sharpened):

0. **Shield** (a direct atomic action, no agent): when a seen, still-linked compromise
   is within ``shield_distance`` hops of a region's high-value hosts, isolate those
   hosts: an isolated host cannot be attacked, and losing a crown jewel ends the game,
   while its isolation costs only its share of the region's availability.  The
   default distance, 4, was chosen on ``paper-shifts`` (2, 3, 4, 5 tried; 4 kept the
   most availability overall and lost the fewest high-value hosts; see BENCHMARKS.md).
1. **Block** a region whose nearest seen, still-linked compromise is one hop from a
   high-value host and got closer since the last step: cut it off first.
2. **Purge** every seen compromise, regions nearest a high-value host first, one slot
   per seen compromise (a reset clears it; nothing else does).
3. **Recover** regions with clean isolated hosts once no compromise is seen there at
   all (bring service back, the shielded high-value hosts included, when it is safe).
4. **Fortify** with what is left: regions by threat (seen compromises, then fewest
   hops to a high-value host), then by unpatched vulnerability near high-value hosts.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

import numpy as np

from rl_agents.policy import AGENT_ACTIONS, action_mask
from rl_agents.weights import RegionAgent, load_agent
from twin.network import UNREACHABLE, Network
from twin.observation import FeatureBuilder, edge_index
from twin.sim import ACTIONS, ISOLATE, NOOP, Simulator

FAR = 10**6


@dataclass(frozen=True)
class RegionView:
    """What the planner knows of one region at one step (the defender's view)."""

    region: int
    seen: int  # compromises seen
    seen_linked: int  # seen compromises still linked (not isolated)
    isolated_clean: int  # isolated hosts with no seen compromise
    critical_distance: int  # fewest hops from a seen linked compromise to a high-value host (FAR: none)
    approach: int  # how many hops closer that got since the previous step (0 if none)
    exposure: float  # unpatched vulnerability of hosts within 2 hops of a high-value host
    hvn_linked: int = 0  # high-value hosts not isolated


def region_views(sim: Simulator, b: int, previous: dict[int, int] | None = None) -> list[RegionView]:
    """The planner's per-region view of twin ``b``; ``previous`` maps region -> last critical distance."""
    net = sim.network
    hops = np.where(net.hvn_hops >= UNREACHABLE, FAR, net.hvn_hops)
    seen, iso = sim.visible[b], sim.isolated[b]
    views = []
    for s in range(net.n_subnets):
        sl = net.subnet_slice(s)
        linked = seen[sl] & ~iso[sl]
        dist = int(hops[sl][linked].min()) if linked.any() else FAR
        before = (previous or {}).get(s, FAR)
        near = hops[sl] <= 2
        views.append(RegionView(
            region=s,
            seen=int(seen[sl].sum()),
            seen_linked=int(linked.sum()),
            isolated_clean=int((iso[sl] & ~seen[sl]).sum()),
            critical_distance=dist,
            approach=hops_closer(before, dist),
            exposure=float((sim.vulnerability[b, sl][near] - 0.01).sum()),
            hvn_linked=int((net.high_value[sl] & ~iso[sl]).sum()),
        ))
    return views


def hops_closer(before: int, now: int) -> int:
    """Hops a seen compromise came closer to a high-value host since the last look (0 with none then or now)."""
    return max(0, before - now) if now < FAR and before < FAR else 0


class TacticalPlanner:
    """Turns region views and an action budget into ``[(agent, region), ...]`` slots.

    ``shield`` slots are direct isolations of a region's high-value hosts, not an agent.
    """

    def __init__(self, *, shield_distance: int = 4) -> None:
        self.shield_distance = shield_distance

    def allocate(self, views: list[RegionView], budget: int) -> list[tuple[str, int]]:
        slots: list[tuple[str, int]] = []
        by_threat = sorted(views, key=lambda v: (v.critical_distance, -v.seen, v.region))
        for v in by_threat:  # 0. shield the crown jewels from a compromise closing in
            if v.critical_distance <= self.shield_distance:
                slots += [("shield", v.region)] * v.hvn_linked
        for v in by_threat:  # 1. block the last hop
            if v.critical_distance <= 1 and v.approach > 0:
                slots.append(("block", v.region))
        for v in by_threat:  # 2. purge every seen compromise
            slots += [("purge", v.region)] * v.seen
        for v in by_threat:  # 3. recover when it is safe
            if v.isolated_clean and v.seen == 0:
                slots += [("recover", v.region)] * v.isolated_clean
        if len(slots) < budget:  # 4. fortify the most threatened, then most exposed regions
            order = sorted(views, key=lambda v: (v.critical_distance, -v.seen, -v.exposure, v.region))
            while len(slots) < budget and order:
                slots += [("fortify", v.region) for v in order][: budget - len(slots)]
        return slots[:budget]


class RegionAgents:
    """The four pretrained agents bound to one network's regions: "pick a host for this job here".

    Shared by :class:`HierarchicalDefender` and the LangGraph planners, so both choose
    hosts the same way.  Per-region features and scores are built once per look, or once per
    shared observation (``look(key=...)``).
    """

    def __init__(self, network: Network, agents: dict[str, RegionAgent] | None = None) -> None:
        self.network = network
        self.agents = agents or {name: load_agent(name) for name in AGENT_ACTIONS}
        self.regions = []
        for s in range(network.n_subnets):
            sl = network.subnet_slice(s)
            hosts = np.arange(sl.start, sl.stop)
            self.regions.append((hosts, FeatureBuilder(network, hosts), edge_index(network, hosts)))
        self._features: dict[int, np.ndarray] = {}
        self._taken: dict[int, np.ndarray] = {}
        self._scores: dict[tuple[str, int], Any] = {}
        self._key: Hashable | None = None
        self._state: tuple[np.ndarray, np.ndarray, np.ndarray, float] | None = None

    def look(self, sim: Simulator, b: int, *, key: Hashable | None = None,
             state: tuple[np.ndarray, np.ndarray, np.ndarray, float] | None = None) -> None:
        """Start choosing for twin ``b``: forget earlier picks, and features unless ``key`` is the last look's.

        ``key`` names one observation of the twin that several plans share (the loop's step): the
        features and the agents' scores built for it are kept, so each agent runs once per region
        and observation however many incidents plan on it.  ``state`` is that observation's
        ``(visible, isolated, vulnerability, time)`` to read instead of the twin's arrays now.
        """
        keep = key is not None and key == self._key
        self._sim, self._b, self._key, self._state = sim, b, key, state
        if not keep:
            self._features, self._scores = {}, {}
        self._taken = {}

    def take(self, host: int) -> None:
        """Mark ``host`` as used (or off limits), so no agent picks it again in this look."""
        region = int(self.network.subnet_of[host])
        self._region_state(region)[1][host - self.regions[region][0][0]] = True

    def take_all(self, hosts: np.ndarray) -> None:
        """:meth:`take` for many hosts at once."""
        hosts = np.asarray(hosts, dtype=np.int64)
        regions = self.network.subnet_of[hosts]
        for region in np.unique(regions).tolist():
            mine = hosts[regions == region]
            self._region_state(region)[1][mine - self.regions[region][0][0]] = True

    def choose(self, agent_name: str, region: int) -> int | None:
        """The host (global index) agent ``agent_name`` picks in ``region``, or None if none is useful."""
        features, taken = self._region_state(region)
        hosts, _, edges = self.regions[region]
        agent = self.agents[agent_name]
        if (agent_name, region) not in self._scores:  # one forward pass (and mask) per agent and region per look
            self._scores[(agent_name, region)] = (agent.policy.scores(features, edges).numpy(),
                                                  action_mask(agent.kind, features))
        scores, mask = self._scores[(agent_name, region)]
        blocked = mask | taken  # RegionPolicy.pick in numpy: the same host, cheaper for one small vector
        if blocked.all():
            return None
        local = int(np.argmax(np.where(blocked, -np.inf, scores)))
        taken[local] = True
        return int(hosts[local])

    def kind(self, agent_name: str) -> str:
        return self.agents[agent_name].kind

    def _region_state(self, region: int) -> tuple[np.ndarray, np.ndarray]:
        hosts, builder, _ = self.regions[region]
        if region not in self._features:
            if self._state is not None:
                visible, isolated, vulnerability, time = self._state
            else:
                sim, b = self._sim, self._b
                visible, isolated, vulnerability, time = sim.visible[b], sim.isolated[b], sim.vulnerability[b], \
                    sim.t[b] / sim.horizon
            self._features[region] = builder.build(visible, isolated, vulnerability, time)
        if region not in self._taken:
            self._taken[region] = np.zeros(len(hosts), dtype=bool)
        return self._features[region], self._taken[region]


class HierarchicalDefender:
    """Planner + the four pretrained agents, acting through the Defender protocol.

    Slots whose agent finds nothing useful to do in its region (every host masked) are
    handed to Fortify in the same region, then dropped.
    """

    name = "hierarchical"

    def __init__(self, agents: dict[str, RegionAgent] | None = None, planner: TacticalPlanner | None = None) -> None:
        self.agents = agents or {name: load_agent(name) for name in AGENT_ACTIONS}
        self.planner = planner or TacticalPlanner()
        self._bound: RegionAgents | None = None
        self._previous: dict[int, dict[int, int]] = {}

    def _prepare(self, network: Network) -> RegionAgents:
        if self._bound is None or self._bound.network is not network:
            self._bound = RegionAgents(network, self.agents)
            self._previous = {}
        return self._bound

    def act(self, sim: Simulator, budget: int) -> tuple[np.ndarray, np.ndarray]:
        bound = self._prepare(sim.network)
        kinds = np.full((sim.batch, budget), NOOP, dtype=np.int64)
        nodes = np.zeros((sim.batch, budget), dtype=np.int64)
        for b in range(sim.batch):
            if sim.t[b] == 0:
                self._previous.pop(b, None)
            views = region_views(sim, b, self._previous.get(b))
            self._previous[b] = {v.region: v.critical_distance for v in views}
            bound.look(sim, b)
            k = 0
            for agent_name, region in self.planner.allocate(views, budget):
                if agent_name == "shield":
                    host = shield_target(sim, b, region, kinds[b, :k], nodes[b, :k])
                    if host is not None:
                        kinds[b, k], nodes[b, k] = ISOLATE, host
                        k += 1
                    continue
                for name in dict.fromkeys((agent_name, "fortify")):
                    host = bound.choose(name, region)
                    if host is not None:
                        kinds[b, k], nodes[b, k] = ACTIONS.index(bound.kind(name)), host
                        k += 1
                        break
        return kinds, nodes


def shield_target(sim: Simulator, b: int, region: int, kinds: np.ndarray, nodes: np.ndarray) -> int | None:
    """The first linked high-value host of ``region`` not already being isolated, or None."""
    sl = sim.network.subnet_slice(region)
    hosts = np.arange(sl.start, sl.stop)
    exposed = hosts[sim.network.high_value[sl] & ~sim.isolated[b, sl]]
    for h in exposed:
        if not (kinds == ISOLATE)[nodes == h].any():
            return int(h)
    return None
