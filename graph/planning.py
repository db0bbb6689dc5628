"""What a plan is, the planner interface, and the embedded (default, offline) planner.

A plan is a list of atomic actions on named hosts, each with the agent or person that
chose it and why.  Both planners build plans through the same :class:`~graph.tools.Toolbox`
(and so the same validation against the twin and the operator's policy); the embedded
planner is the hierarchical tactical planner of :mod:`rl_agents.hierarchical`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from rl_agents.hierarchical import RegionView, TacticalPlanner

if TYPE_CHECKING:
    from graph.perception import Perception
    from graph.tools import Toolbox

ACTION_KINDS = ("isolate", "patch", "reset", "recover")  # what changes the network
AGENT_FOR_KIND = {"patch": "fortify", "isolate": "block", "reset": "purge", "recover": "recover"}


@dataclass(frozen=True)
class PlannedAction:
    """One atomic action: ``kind`` on ``targets`` (host names), chosen by ``source`` in ``region``."""

    kind: str
    targets: tuple[str, ...]
    source: str  # fortify | block | purge | recover | shield | operator | llm
    region: str | None
    reason: str

    def to_dict(self) -> dict:
        return {"kind": self.kind, "targets": list(self.targets), "source": self.source, "region": self.region,
                "reason": self.reason}

    @classmethod
    def from_dict(cls, data: dict) -> PlannedAction:
        return cls(kind=data["kind"], targets=tuple(data["targets"]), source=data["source"],
                   region=data.get("region"), reason=data.get("reason", ""))


@dataclass
class Plan:
    actions: list[PlannedAction]
    planner: str  # "embedded" or "llm"
    notes: list[str] = field(default_factory=list)
    fallback: bool = False  # the LLM planner failed and the embedded planner made this plan
    refused: list[dict] = field(default_factory=list)  # attempts the validation refused, with why

    def to_dict(self) -> dict:
        return {"actions": [a.to_dict() for a in self.actions], "planner": self.planner, "notes": list(self.notes),
                "fallback": self.fallback, "refused": list(self.refused)}


@dataclass
class PlanContext:
    """Everything a planner may read: the perception, the region views, the tools, the budget."""

    perception: Perception
    views: list[RegionView]
    toolbox: Toolbox
    budget: int
    lessons: list[str] = field(default_factory=list)  # recalled from long-term memory


class Planner(Protocol):
    name: str

    def plan(self, ctx: PlanContext) -> Plan: ...


class EmbeddedPlanner:
    """Deterministic and offline: the tactical planner's slots, filled by the four agents.

    Operator requests already in the toolbox come first; the slots use what budget is
    left.  A slot whose agent finds nothing useful in its region goes to Fortify there.
    """

    name = "embedded"
    reads_lessons = False  # its rules don't read recalled lessons: don't search memory for them

    def __init__(self, tactics: TacticalPlanner | None = None) -> None:
        self.tactics = tactics or TacticalPlanner()

    def plan(self, ctx: PlanContext) -> Plan:
        box = ctx.toolbox
        for agent, region in self.tactics.allocate(ctx.views, ctx.budget):
            if box.spare() == 0:
                break
            if agent == "shield":
                box.shield(region)
            else:
                box.assign_one(agent, region, fallback="fortify")
        notes = [f"Embedded planner: {len(box.proposed)} action(s) for {ctx.perception.seen} seen compromise(s)."]
        return Plan(actions=list(box.proposed), planner=self.name, notes=notes, refused=list(box.refused))
