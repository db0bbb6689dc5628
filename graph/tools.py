"""The planners' tools: assign agents, add an atomic action, query the twin, recall memory.

One :class:`Toolbox` per planning round holds the actions proposed so far and checks
every proposal against the twin (known hosts and subnets), the operator's policy
(protected assets are never targeted, an action class set to ``never`` is never
planned) and the action budget.  The LLM planner calls it through :meth:`Toolbox.call`
with the JSON arguments the model produced (:data:`TOOL_SCHEMAS` is what the model is
shown); a bad call raises :class:`ToolError`, a policy breach :class:`PolicyViolation`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict
from typing import Any

import numpy as np

from graph.perception import Observation, Perception
from graph.planning import ACTION_KINDS, AGENT_FOR_KIND, PlannedAction
from memory.long_term import OperatorPolicy
from rl_agents.hierarchical import RegionAgents
from twin.network import UNREACHABLE
from twin.sim import Simulator

AGENTS = ("fortify", "block", "purge", "recover")
KIND_OF_AGENT = {agent: kind for kind, agent in AGENT_FOR_KIND.items()}
REASONS = {
    "fortify": "patch the most exposed host in {region}",
    "block": "isolate a host on the attack path to a high-value host in {region}",
    "purge": "reset a seen compromise in {region}",
    "recover": "reconnect an isolated host with no compromise seen in {region}",
}
MAX_HOSTS_PER_CALL = 50


class ToolError(ValueError):
    """A tool call the twin cannot carry out: unknown tool, host, subnet, agent, or bad arguments."""


class PolicyViolation(ToolError):
    """A tool call the operator's policy forbids (protected asset, action class set to never)."""


def _schema(name: str, description: str, properties: dict, required: list[str]) -> dict:
    return {"type": "function", "function": {
        "name": name, "description": description,
        "parameters": {"type": "object", "properties": properties, "required": required,
                       "additionalProperties": False},
    }}


TOOL_SCHEMAS: list[dict] = [
    _schema("assign_agents", "Let pretrained RL agents pick hosts: each assignment sends one agent "
            "(fortify=patch, block=isolate, purge=reset, recover=recover) to one subnet for `count` actions.",
            {"assignments": {"type": "array", "items": {"type": "object", "properties": {
                "agent": {"type": "string", "enum": list(AGENTS)},
                "subnet": {"type": ["string", "integer"], "description": "subnet name or index"},
                "count": {"type": "integer", "minimum": 1}},
                "required": ["agent", "subnet"], "additionalProperties": False}}},
            ["assignments"]),
    _schema("execute_action", "Add one atomic action on named hosts to the plan (operators confirm it before it runs).",
            {"action": {"type": "string", "enum": list(ACTION_KINDS)},
             "hosts": {"type": "array", "items": {"type": "string"}, "minItems": 1},
             "reason": {"type": "string"}},
            ["action", "hosts", "reason"]),
    _schema("query_twin", "Read the digital twin: one subnet's IPDRR features, one host's state, or (no arguments) the whole network.",
            {"subnet": {"type": ["string", "integer"]}, "host": {"type": "string"}}, []),
    _schema("recall_memory", "Search lessons and past incidents in long-term memory.",
            {"query": {"type": "string"}}, ["query"]),
]
TOOL_NAMES = tuple(t["function"]["name"] for t in TOOL_SCHEMAS)


class Toolbox:
    """Proposals for one planning round, checked as they are made."""

    def __init__(
        self,
        *,
        sim: Simulator,
        perception: Perception,
        agents: RegionAgents,
        budget: int,
        policy: OperatorPolicy | None = None,
        requests: Iterable[PlannedAction] = (),
        recall: Callable[[str], list[str]] | None = None,
        b: int = 0,
        observation: Observation | None = None,
    ) -> None:
        """``observation``: the step's shared observation the agents read (their features and scores are
        then built once for every plan made on it, and hosts acted on since are off limits); None: the twin now."""
        self.sim, self.b, self.perception, self.agents = sim, b, perception, agents
        self.network = sim.network
        self.budget = budget
        self.policy = policy or OperatorPolicy()
        self.recall = recall
        self.proposed: list[PlannedAction] = []
        self.refused: list[dict] = []
        self._planned = 0  # actions the planner added (operator requests don't use the budget)
        if observation is None:
            agents.look(sim, b)
        else:
            agents.look(sim, b, key=observation.key, state=observation.agent_state)
            agents.take_all(np.fromiter(observation.acted, dtype=np.int64, count=len(observation.acted)))
        self._protected = set(self.policy.protected_assets)
        for name in sorted(self._protected):
            if name in self.network.index:
                agents.take(self.network.index[name])
        for request in requests:
            try:
                self._add(request, budgeted=False)
            except PolicyViolation:
                pass  # recorded in self.refused; the operator is told through the plan

    # ------------------------------------------------------------- planner side
    def spare(self) -> int:
        return max(0, self.budget - self._planned)

    def assign_one(self, agent: str, region: int, *, fallback: str | None = None) -> PlannedAction | None:
        """One host picked by ``agent`` in ``region`` (or by ``fallback`` if it finds none); None if neither does."""
        for name in dict.fromkeys(a for a in (agent, fallback) if a):
            if self.policy.autonomy_for(KIND_OF_AGENT[name]) == "never":
                continue
            host = self.agents.choose(name, region)
            if host is not None:
                subnet = self.network.subnets[region]
                action = PlannedAction(KIND_OF_AGENT[name], (self.network.names[host],), name, subnet,
                                       REASONS[name].format(region=subnet))
                return self._add(action)
        return None

    def shield(self, region: int) -> PlannedAction | None:
        """Isolate one linked, unprotected high-value host of ``region`` (a direct action, no agent)."""
        if self.policy.autonomy_for("isolate") == "never":
            return None
        net, sl = self.network, self.network.subnet_slice(region)
        already = {h for a in self.proposed if a.kind == "isolate" for h in a.targets}
        host = next((h for h in range(sl.start, sl.stop)
                     if net.high_value[h] and not self.sim.isolated[self.b, h]
                     and net.names[h] not in self._protected and net.names[h] not in already), None)
        if host is None:
            return None
        sub = self.perception.subnet(region)
        why = f"shield a high-value host: a seen compromise is {sub.critical_distance} hop(s) away in {sub.subnet}"
        return self._add(PlannedAction("isolate", (self.network.names[host],), "shield", sub.subnet, why))

    # ------------------------------------------------------------------ LLM side
    def call(self, name: str, arguments: Any) -> dict:
        """Run tool ``name`` with the model's decoded JSON ``arguments``; ToolError on a bad call."""
        if name not in TOOL_NAMES:  # e.g. a model talked into "approving": recorded, like a policy breach
            self.refused.append({"kind": str(name)[:60], "targets": [], "source": "llm",
                                 "why": "not a planner tool: planners cannot approve or skip a confirmation"})
            raise ToolError(f"unknown tool {name!r}; tools: {', '.join(TOOL_NAMES)}")
        if not isinstance(arguments, dict):
            raise ToolError(f"{name}: arguments must be a JSON object, not {type(arguments).__name__}")
        schema = next(t["function"]["parameters"] for t in TOOL_SCHEMAS if t["function"]["name"] == name)
        unknown = set(arguments) - set(schema["properties"])
        missing = set(schema["required"]) - set(arguments)
        if unknown or missing:
            raise ToolError(f"{name}: unknown arguments {sorted(unknown)}, missing {sorted(missing)}")
        return getattr(self, f"_tool_{name}")(**arguments)

    def _tool_assign_agents(self, assignments: Any) -> dict:
        if not isinstance(assignments, list) or not assignments:
            raise ToolError("assign_agents: assignments must be a non-empty list")
        chosen = []
        for i, item in enumerate(assignments):
            if not isinstance(item, dict) or set(item) - {"agent", "subnet", "count"} or "agent" not in item:
                raise ToolError(f"assign_agents: assignments[{i}] must be {{agent, subnet, count}}")
            agent, count = item["agent"], item.get("count", 1)
            if agent not in AGENTS:
                raise ToolError(f"assign_agents: assignments[{i}].agent {agent!r} is not one of {', '.join(AGENTS)}")
            if not isinstance(count, int) or isinstance(count, bool) or count < 1:
                raise ToolError(f"assign_agents: assignments[{i}].count must be a positive integer, not {count!r}")
            if self.policy.autonomy_for(KIND_OF_AGENT[agent]) == "never":
                raise self._violation("llm", KIND_OF_AGENT[agent], [], "the operator's policy never allows it")
            region = self._region(item.get("subnet"), f"assignments[{i}].subnet")
            for _ in range(count):
                if self.spare() == 0:
                    raise ToolError(f"assign_agents: over the action budget of {self.budget}")
                action = self.assign_one(agent, region)
                if action is None:
                    break
                chosen.append(action.to_dict())
        return {"added": chosen, "budget_left": self.spare()}

    def _tool_execute_action(self, action: Any, hosts: Any, reason: Any) -> dict:
        if action not in ACTION_KINDS:
            raise ToolError(f"execute_action: action {action!r} is not one of {', '.join(ACTION_KINDS)}")
        if not isinstance(hosts, list) or not hosts or not all(isinstance(h, str) for h in hosts):
            raise ToolError("execute_action: hosts must be a non-empty list of host names")
        if len(hosts) > MAX_HOSTS_PER_CALL:
            raise ToolError(f"execute_action: at most {MAX_HOSTS_PER_CALL} hosts per call")
        unknown = [h for h in hosts if h not in self.network.index]
        if unknown:
            raise ToolError(f"execute_action: unknown host(s) {', '.join(unknown[:5])}")
        self._check_policy("llm", action, list(dict.fromkeys(hosts)))
        if self.spare() == 0:
            raise ToolError(f"execute_action: over the action budget of {self.budget}")
        region = self.network.subnets[self.network.subnet_of[self.network.index[hosts[0]]]]
        planned = PlannedAction(action, tuple(dict.fromkeys(hosts)), "llm", region, str(reason)[:500])
        return {"added": self._add(planned).to_dict(), "budget_left": self.spare()}

    def _tool_query_twin(self, subnet: Any = None, host: Any = None) -> dict:
        if host is not None:
            return self.host_state(host)
        if subnet is not None:
            return asdict(self.perception.subnet(self.network.subnets[self._region(subnet, "subnet")]))
        p = self.perception
        return {"step": p.step, "availability": p.availability, "seen": p.seen, "isolated": p.isolated,
                "summary": p.summary, "subnets": [{"subnet": s.subnet, "seen": s.seen, "isolated": s.isolated,
                                                   "critical_distance": s.critical_distance} for s in p.subnets]}

    def _tool_recall_memory(self, query: Any) -> dict:
        if not isinstance(query, str):
            raise ToolError("recall_memory: query must be a string")
        return {"lessons": self.recall(query) if self.recall else []}

    def host_state(self, name: Any) -> dict:
        if not isinstance(name, str) or name not in self.network.index:
            raise ToolError(f"unknown host {name!r}")
        i, net, b = self.network.index[name], self.network, self.b
        hops = int(net.hvn_hops[i])
        return {"host": name, "subnet": net.subnets[net.subnet_of[i]], "role": net.roles[i],
                "entry": bool(net.entry[i]), "high_value": bool(net.high_value[i]),
                "protected": name in self._protected, "isolated": bool(self.sim.isolated[b, i]),
                "seen_compromised": bool(self.sim.visible[b, i]),
                "vulnerability": round(float(self.sim.vulnerability[b, i]), 3),
                "hops_to_high_value": None if hops >= UNREACHABLE else hops}

    # ------------------------------------------------------------------ checks
    def _region(self, value: Any, where: str) -> int:
        if isinstance(value, bool) or value is None:
            raise ToolError(f"{where}: give a subnet name or index")
        if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
            if 0 <= int(value) < self.network.n_subnets:
                return int(value)
        elif value in self.network.subnets:
            return self.network.subnets.index(value)
        raise ToolError(f"{where}: no subnet {value!r}; subnets: {', '.join(self.network.subnets)}")

    def _violation(self, source: str, kind: str, hosts: list[str], why: str) -> PolicyViolation:
        """Record a refused attempt (``source``: llm, operator, or an agent) and return the error to raise."""
        self.refused.append({"kind": kind, "targets": hosts, "why": why, "source": source})
        return PolicyViolation(f"{source}: {kind} {', '.join(hosts)} refused: {why}".replace("  ", " "))

    def _check_policy(self, source: str, kind: str, hosts: list[str]) -> None:
        protected = [h for h in hosts if h in self._protected]
        if protected:
            raise self._violation(source, kind, protected, "protected asset")
        if self.policy.autonomy_for(kind) == "never":
            raise self._violation(source, kind, hosts, "the operator's policy never allows it")

    def _add(self, action: PlannedAction, *, budgeted: bool = True) -> PlannedAction:
        if action.kind not in ACTION_KINDS:
            raise ToolError(f"unknown action {action.kind!r}")
        self._check_policy(action.source, action.kind, list(action.targets))
        for host in action.targets:
            self.agents.take(self.network.index[host])
        self.proposed.append(action)
        self._planned += budgeted
        return action
