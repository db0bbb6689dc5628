"""Turning what an operator said into concrete things: host lists, requested actions, policy changes,
explanations and what-if simulations.

The intent recogniser gives names (hosts, subnets, roles, exclusions); here they become
host names of the twin, capped so that one message can't ask for half the network.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from graph.planning import ACTION_KINDS, PlannedAction
from memory.long_term import AUTONOMY_LEVELS, OperatorPolicy

if TYPE_CHECKING:
    from graph.runtime import Defence

MAX_REQUEST_HOSTS = 25
SIMULATED_STEPS = 10
SIMULATED_RUNS = 3


class RequestError(ValueError):
    """Something the operator asked that can't be done as asked; the message says why and what to try."""


def resolve_hosts(defence: Defence, targets: dict[str, list], exclude: dict[str, list]) -> list[str]:
    """Host names meant by ``targets`` minus ``exclude`` (hosts, subnets by name, roles), in twin order."""
    net = defence.sim.network
    chosen = np.zeros(net.n_nodes, dtype=bool)
    subnets = [net.subnets.index(s) for s in targets.get("subnets", []) if s in net.subnets]
    roles = set(targets.get("roles", []))
    in_subnets = np.isin(net.subnet_of, subnets) if subnets else np.ones(net.n_nodes, dtype=bool)
    if roles:
        chosen |= in_subnets & np.isin(np.array(net.roles), list(roles))
    elif subnets:
        chosen |= in_subnets
    for host in targets.get("hosts", []):
        if host in net.index:
            chosen[net.index[host]] = True
    for host in exclude.get("hosts", []):
        if host in net.index:
            chosen[net.index[host]] = False
    excluded_subnets = [net.subnets.index(s) for s in exclude.get("subnets", []) if s in net.subnets]
    chosen &= ~np.isin(net.subnet_of, excluded_subnets)
    chosen &= ~np.isin(np.array(net.roles), list(exclude.get("roles", [])))
    return [net.names[i] for i in np.flatnonzero(chosen)]


def action_request(defence: Defence, kind: str, result: dict[str, Any], *, who: str) -> PlannedAction:
    """One operator request for ``kind`` on the hosts the message named; RequestError if none or too many."""
    if kind not in ACTION_KINDS:
        raise RequestError(f"I can isolate, patch, reset or recover, not {kind!r}.")
    hosts = resolve_hosts(defence, result["targets"], result["exclude"])
    if not hosts:
        raise RequestError(f"Which hosts should I {kind}? Name hosts, a subnet or a role, e.g. `{kind} srv-web-01`.")
    if len(hosts) > MAX_REQUEST_HOSTS:
        raise RequestError(f"That is {len(hosts)} hosts; name at most {MAX_REQUEST_HOSTS} "
                           f"(or use `defend SUBNET` to let the agents choose).")
    return PlannedAction(kind, tuple(hosts), "operator", None, f"asked by {who}: {result['text'][:200]}")


def protect(defence: Defence, result: dict[str, Any]) -> list[str]:
    """Add the named hosts to the protected assets; returns them."""
    hosts = resolve_hosts(defence, result["targets"], result["exclude"])
    if not hosts:
        raise RequestError("Which hosts should never be touched? e.g. `protect srv-db-01` or `protect the databases`.")
    policy = defence.long.policy()
    protected = tuple(dict.fromkeys([*policy.protected_assets, *hosts]))
    defence.long.save_policy(OperatorPolicy(protected, dict(policy.autonomy), policy.quiet_hours))
    return hosts


def set_autonomy(defence: Defence, words: list[str]) -> str:
    """``autonomy LEVEL [CLASS|all]``; returns the new setting in words."""
    if not words or words[0] not in AUTONOMY_LEVELS:
        raise RequestError(f"Say `autonomy {'|'.join(AUTONOMY_LEVELS)} [isolate|patch|reset|recover|all]`.")
    level, classes = words[0], words[1:] or ["all"]
    if classes == ["all"]:
        classes = list(ACTION_KINDS)
    unknown = [c for c in classes if c not in ACTION_KINDS]
    if unknown:
        raise RequestError(f"Unknown action class {unknown[0]!r}: say isolate, patch, reset, recover or all.")
    policy = defence.long.policy()
    autonomy = dict(policy.autonomy) | {c: level for c in classes}
    defence.long.save_policy(OperatorPolicy(policy.protected_assets, autonomy, policy.quiet_hours))
    return ", ".join(f"{c}: {autonomy.get(c, 'confirm')}" for c in ACTION_KINDS)


def explain(defence: Defence, incident: str | None) -> str:
    """Why the current (or last) plan is what it is, and what memory says about such attacks."""
    lines = []
    if incident is not None:
        state = defence.status(incident).state
        plan = state.get("plan") or {}
        perception = state.get("perception") or {}
        if perception:
            lines.append(f"What I see: {perception['summary']}")
        if plan.get("actions"):
            lines.append(f"The {plan['planner']} planner chose:")
            lines += [f"• {a['kind']} {', '.join(a['targets'])}: {a['reason']}" for a in plan["actions"]]
        lines += [f"_{note}_" for note in plan.get("notes", [])]
    query = " ".join([defence.scenario.attack.mode, "attack", *(["shield isolate"] if lines else [])])
    lessons = defence.long.recall(query, limit=3)
    if lessons:
        lines.append("From earlier incidents: " + " | ".join(r.text for r in lessons))
    return "\n".join(lines) or "Nothing to explain yet: no plan has been made."


def simulate(defence: Defence, *, steps: int = SIMULATED_STEPS, runs: int = SIMULATED_RUNS) -> str:
    """What-if: the next ``steps`` steps on copies of the twin, with the planner's defence and with none."""
    from rl_agents.hierarchical import HierarchicalDefender
    from twin.sim import Simulator
    from twin.snapshot import dump_state, restore_state

    with defence._lock:  # a consistent copy of the live twin
        state = dump_state(defence.sim)
    real = defence.sim
    outcomes = {}
    for name in ("defended", "undefended"):
        avail, lost = [], 0
        for run in range(runs):
            sim = Simulator(real.network, mode=real.mode, intensity=real.intensity, p_detect=real.p_detect,
                            horizon=real.horizon, seed=run)
            restore_state(sim, state)
            sim.rng = np.random.default_rng(1000 + run)  # futures of their own, not the live twin's
            sim.horizon = int(sim.t[0]) + steps
            defender = HierarchicalDefender(agents=defence.agents.agents) if name == "defended" else None
            while not sim.done[0]:
                kinds, nodes = defender.act(sim, defence.scenario.defender.actions_per_step) if defender else (None, None)
                metrics = sim.step(kinds, nodes)
            avail.append(float(metrics.availability[0]))
            lost += bool(sim.hvn_lost[0])
        outcomes[name] = (sum(avail) / runs, lost)
    (da, dl), (ua, ul) = outcomes["defended"], outcomes["undefended"]
    return (f"Simulated the next {steps} steps {runs} times on copies of the twin: with the planner's defence "
            f"availability ends at {da:.0%} and a high-value host falls in {dl}/{runs} runs; with no defence "
            f"{ua:.0%} and {ul}/{runs}.")
