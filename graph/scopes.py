"""Which subnets each incident defends: methods of :class:`graph.runtime.Defence`.

An incident opened for hosts (an operator's request, an alert) defends their subnets; one
opened for the twin's own detections with nothing else open defends the whole twin (scope
None).  The scope is kept with the incident's start settings in memory, by subnet name, so it
survives a restart and a re-imported inventory (names that are gone are dropped).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

import numpy as np


class Scopes:
    """Mixed into :class:`~graph.runtime.Defence` (uses its twin and memory)."""

    def scope(self, incident: str) -> list[int] | None:
        """The subnets (indices) ``incident`` defends; None: the whole twin."""
        names = (self.chat.setting(f"incident:{incident}:start", {}) or {}).get("scope")
        if names is None:
            return None
        index = {name: i for i, name in enumerate(self.sim.network.subnets)}
        known = sorted(index[n] for n in names if n in index)
        return known or None  # its subnets are gone (a re-imported inventory): the whole twin, not nothing

    def widen_scope(self, incident: str, hosts: Iterable[str]) -> None:
        """Add the subnets of ``hosts`` to a scoped incident (operators asked for actions there)."""
        key = f"incident:{incident}:start"
        start = self.chat.setting(key, {}) or {}
        if start.get("scope") is None:
            return
        wider = sorted(set(start["scope"]) | set(self._subnets_of(hosts)))
        if wider != start["scope"]:
            self.chat.set_setting(key, start | {"scope": wider})

    def seen_in(self, subnets: Collection[int]) -> int:
        """Compromises seen now in ``subnets``."""
        return int(self.sim.visible[0][np.isin(self.sim.network.subnet_of, list(subnets))].sum())

    def uncovered_regions(self) -> list[int]:
        """Subnets with a seen compromise that no open incident defends."""
        net = self.sim.network
        seen = sorted({int(net.subnet_of[h]) for h in self.sim.visible[0].nonzero()[0]})
        covered: set[int] = set()
        for row in self.short.incidents(status="open"):
            scope = self.scope(row["id"])
            if scope is None:
                return []
            covered.update(scope)
        return [s for s in seen if s not in covered]

    def _subnets_of(self, hosts: Iterable[str]) -> list[str]:
        net = self.sim.network
        return sorted({net.subnets[int(net.subnet_of[net.index[h]])] for h in hosts if h in net.index})

    def _incident_for(self, hosts: list[str]) -> str | None:
        """The newest open incident defending every subnet of ``hosts`` (the whole twin counts), or None."""
        net = self.sim.network
        wanted = {int(net.subnet_of[net.index[h]]) for h in hosts}
        for row in reversed(self.short.incidents(status="open")):
            scope = self.scope(row["id"])
            if scope is None or wanted <= set(scope):
                return row["id"]
        return None
