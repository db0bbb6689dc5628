"""The incident's state as LangGraph checkpoints it: plain JSON-able values only.

The twin is not in here (it is shared by every incident and saved as snapshots in
memory/); the state holds what this incident has perceived, planned, been told and done.
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict

DECISIONS = ("approve", "reject", "edit", "expire")


class IncidentState(TypedDict, total=False):
    incident: str
    cycle: int  # one cycle = perceive, plan, confirm, act, reflect (and one twin step when the loop ticks it)
    max_cycles: int | None
    status: Literal["open", "closed"]
    outcome: str | None
    # perception
    perception: dict[str, Any]
    views: list[dict[str, Any]]  # the tactical planner's region views (rl_agents.hierarchical.RegionView)
    previous: list[int]  # per region: critical distance at the last look
    previously_seen: list[int]  # hosts seen compromised at the last look
    recent_targets: list[list[int]]  # attack attempts logged over the last few steps
    quiet: int  # consecutive cycles with no compromise seen
    # planning and confirmation
    requests: list[dict[str, Any]]  # operator-requested actions for the next plan
    plan: dict[str, Any]  # Plan.to_dict(), each action with its idempotency key and status
    decision: dict[str, Any] | None
    # acting and reflecting
    results: list[dict[str, Any]]
    history: list[dict[str, Any]]  # per cycle: availability and compromises before/after, actions run


def interrupt_id(incident: str, cycle: int) -> str:
    """Stable id of the confirmation asked in ``cycle``: the same on every re-run of the node."""
    return f"{incident}/c{cycle}"


def action_key(incident: str, cycle: int, index: int) -> str:
    """Idempotency key of a planned action: one execution per key, ever."""
    return f"{incident}/c{cycle}/a{index}"
