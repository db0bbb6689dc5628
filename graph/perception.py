"""IPDRR perception: the twin seen through Identify, Protect, Detect, Respond, Recover.

``perceive`` turns one twin (one row of a :class:`~twin.sim.Simulator`) into per-subnet
features the planners read, plus a short plain-language summary for operators.  It uses
only what a defender can know: *seen* compromises (never the hidden ones), its own
isolations and patches, the topology, and the attack attempts its sensors log.  The
per-region numbers the tactical planner needs come from
:func:`rl_agents.hierarchical.region_views`, so both levels read the same view.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components

from rl_agents.hierarchical import FAR, RegionView, hops_closer, region_views
from twin.sim import Simulator

HIGH_VULNERABILITY = 0.8  # hosts at or above this count as "highly vulnerable"
NAMES_SHOWN = 8  # host names listed per subnet in the structured form


@dataclass(frozen=True)
class SubnetPerception:
    """One subnet through the IPDRR lens (None for a distance means "no path / nothing seen")."""

    subnet: str
    index: int
    # Identify
    hosts: int
    high_value: list[str]
    entry: int
    mean_vulnerability: float
    highly_vulnerable: int
    # Protect
    exposed_entry: int  # linked entry hosts with an open path to a linked high-value host
    hvn_isolated: int
    # Detect
    seen: int
    seen_hosts: list[str]
    new_seen: int
    concentration: float  # 1 - entropy of recent attack targets over its maximum
    # Respond
    critical_distance: int | None
    penetration_speed: int  # hops closer to a high-value host since the previous look
    isolated: int
    # Recover
    isolated_clean: int
    availability: float


@dataclass(frozen=True)
class Perception:
    step: int
    availability: float
    seen: int
    isolated: int
    hvn_lost: bool
    subnets: list[SubnetPerception]
    summary: str

    def to_dict(self) -> dict:
        # by hand: dataclasses.asdict deep-copies field by field, and the loop saves this every cycle
        return self.__dict__ | {"subnets": [s.__dict__ | {"high_value": list(s.high_value),
                                                           "seen_hosts": list(s.seen_hosts)} for s in self.subnets]}

    @classmethod
    def from_dict(cls, data: dict) -> Perception:
        return cls(**{**data, "subnets": [SubnetPerception(**s) for s in data["subnets"]]})

    def subnet(self, name_or_index: str | int) -> SubnetPerception:
        for sub in self.subnets:
            if name_or_index in (sub.subnet, sub.index) or str(name_or_index) == str(sub.index):
                return sub
        raise KeyError(f"no subnet {name_or_index!r}; subnets: {', '.join(s.subnet for s in self.subnets)}")

    def critical(self) -> SubnetPerception | None:
        """The subnet whose seen compromise is closest to a high-value host, if any."""
        near = [s for s in self.subnets if s.critical_distance is not None]
        return min(near, key=lambda s: (s.critical_distance, -s.seen)) if near else None


@dataclass
class Observation:
    """The twin as the defender saw it at one moment (frozen copies), with what is costly to derive from it.

    The loop observes the live twin once per step and every incident's cycle in that step
    perceives from the same observation; ``acted`` collects the hosts the defender has
    acted on since, so no later plan in the step picks them again.
    """

    key: tuple
    step: int
    time: float  # step / horizon, as the agents read it
    hvn_lost: bool
    visible: np.ndarray
    isolated: np.ndarray
    vulnerability: np.ndarray
    ratios: np.ndarray  # availability per subnet
    open_entry: np.ndarray
    views: list[RegionView]  # with no previous look (approach 0)
    acted: set[int] = field(default_factory=set)
    subnets: list[SubnetPerception] = field(default_factory=list)  # as the views, per-looker fields at 0

    @property
    def agent_state(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
        """What :meth:`rl_agents.hierarchical.RegionAgents.look` reads instead of the live twin."""
        return self.visible, self.isolated, self.vulnerability, self.time


def observe(sim: Simulator, b: int = 0, *, key: tuple = ()) -> Observation:
    """Copy twin ``b`` as it is now and derive the per-step parts of perception once."""
    obs = Observation(
        key=key, step=int(sim.t[b]), time=float(sim.t[b] / sim.horizon), hvn_lost=bool(sim.hvn_lost[b]),
        visible=sim.visible[b].copy(), isolated=sim.isolated[b].copy(), vulnerability=sim.vulnerability[b].copy(),
        ratios=sim.availability_cache.ratios(sim.isolated)[b].copy(), open_entry=_open_entry(sim, b),
        views=region_views(sim, b),
    )
    obs.subnets = _subnets(sim.network, obs)
    return obs


def _subnets(net, obs: Observation) -> list[SubnetPerception]:
    """The observation's subnets, with what depends on the looker (new, concentration, speed) left at 0."""
    seen, iso, vuln = obs.visible, obs.isolated, obs.vulnerability
    out = []
    for v in obs.views:
        sl = net.subnet_slice(v.region)
        names = net.names[sl]
        hvn = net.high_value[sl]
        out.append(SubnetPerception(
            subnet=net.subnets[v.region],
            index=v.region,
            hosts=sl.stop - sl.start,
            high_value=[names[i] for i in np.flatnonzero(hvn)],
            entry=int(net.entry[sl].sum()),
            mean_vulnerability=round(float(vuln[sl].mean()), 3),
            highly_vulnerable=int((vuln[sl] >= HIGH_VULNERABILITY).sum()),
            exposed_entry=int(obs.open_entry[sl].sum()),
            hvn_isolated=int((hvn & iso[sl]).sum()),
            seen=v.seen,
            seen_hosts=[names[i] for i in np.flatnonzero(seen[sl])[:NAMES_SHOWN]],
            new_seen=0,
            concentration=0.0,
            critical_distance=None if v.critical_distance >= FAR else v.critical_distance,
            penetration_speed=0,
            isolated=int(iso[sl].sum()),
            isolated_clean=v.isolated_clean,
            availability=round(float(obs.ratios[v.region]), 4),
        ))
    return out


def perceive(
    sim: Simulator,
    b: int = 0,
    *,
    previous: dict[int, int] | None = None,
    previously_seen: np.ndarray | None = None,
    recent_targets: Sequence[Sequence[int]] = (),
    observation: Observation | None = None,
) -> tuple[Perception, list[RegionView]]:
    """Perceive twin ``b`` (as ``observation`` saw it, when given; else as it is now).

    ``previous`` maps region -> critical distance at the last look (for penetration speed),
    ``previously_seen`` is the last look's seen-compromise mask (for new detections), and
    ``recent_targets`` the host indices of recent attack attempts, one list per step.
    Returns the perception and the planner's region views.
    """
    net = sim.network
    obs = observation or observe(sim, b)
    views = [replace(v, approach=hops_closer((previous or {}).get(v.region, FAR), v.critical_distance))
             for v in obs.views]
    seen = obs.visible
    new = seen & ~previously_seen if previously_seen is not None else seen
    new_per_subnet = np.bincount(net.subnet_of[np.flatnonzero(new)], minlength=net.n_subnets)
    targets = Counter(int(h) for step in recent_targets for h in step if h >= 0)
    subnets = []
    for v, base in zip(views, obs.subnets):
        sl = net.subnet_slice(v.region)
        subnets.append(replace(
            base, new_seen=int(new_per_subnet[v.region]), penetration_speed=v.approach,
            concentration=_concentration([c for h, c in targets.items() if sl.start <= h < sl.stop],
                                         sl.stop - sl.start)))
    availability = 0.0 if obs.hvn_lost else float(obs.ratios.mean())
    perception = Perception(
        step=obs.step, availability=round(availability, 4), seen=int(seen.sum()), isolated=int(obs.isolated.sum()),
        hvn_lost=obs.hvn_lost, subnets=subnets, summary="",
    )
    return _with_summary(perception), views


def _concentration(counts: list[int], n_hosts: int) -> float:
    """1 - H(p) / log(kmax) over attack attempts per host; kmax = min(attempts, hosts).

    1: every recent attempt hit one host (a focused push); 0: spread as evenly as
    possible; 0 as well when there were no attempts.
    """
    total = sum(counts)
    if total == 0:
        return 0.0
    kmax = min(total, n_hosts)
    if kmax <= 1:
        return 1.0
    p = np.array(counts, dtype=np.float64) / total
    entropy = float(-(p * np.log(p)).sum())
    return round(max(0.0, 1.0 - entropy / math.log(kmax)), 3)


def _open_entry(sim: Simulator, b: int) -> np.ndarray:
    """Linked entry hosts in the same up-link component as some linked high-value host."""
    net = sim.network
    up = ~sim.isolated[b]
    u, v = net.edges[:, 0], net.edges[:, 1]
    keep = up[u] & up[v]
    n = net.n_nodes
    graph = csr_matrix((np.ones(int(keep.sum()), dtype=np.int8), (u[keep], v[keep])), shape=(n, n))
    _, label = connected_components(graph, directed=False)
    hvn_components = set(label[net.high_value & up].tolist())
    return net.entry & up & np.isin(label, list(hvn_components))


def _with_summary(p: Perception) -> Perception:
    """A two-line plain-language summary: where the attack stands and what it costs."""
    if p.hvn_lost:
        head = "A high-value host has been compromised."
    elif p.seen == 0:
        head = "No compromise seen."
    else:
        where = ", ".join(f"{s.seen} in {s.subnet}" for s in p.subnets if s.seen)
        head = f"{p.seen} compromised host{'s' if p.seen != 1 else ''} seen ({where})."
        crit = p.critical()
        if crit is not None:
            hops = f"{crit.critical_distance} hop{'s' if crit.critical_distance != 1 else ''}"
            head += f" Closest: {hops} from a high-value host in {crit.subnet}"
            head += f", closing in by {crit.penetration_speed}." if crit.penetration_speed else "."
    tail = f"Step {p.step}: availability {p.availability:.0%}, {p.isolated} isolated."
    return Perception(**{**p.__dict__, "summary": f"{head} {tail}"})
