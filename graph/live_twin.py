"""The live twin's side of the defence loop: its clock, outside detections and operators' "defend".

:class:`LiveTwin` is mixed into :class:`graph.runtime.Defence`; it uses the loop's lock,
twin, memory and snapshots, so every change to the twin is saved before it counts and is
rolled back if saving fails.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any

from graph.planning import PlannedAction
from graph.tools import Toolbox


class LiveTwin:
    """Methods of :class:`~graph.runtime.Defence` for a twin that runs live (see the module docstring)."""

    def defend_region(self, region: int, *, count: int = 2, who: str) -> list[PlannedAction]:
        """An operator's "defend SUBNET": Purge's picks there (Fortify's when nothing is seen), as requests."""
        with self._lock:
            observation = self.observation()
            perception, _ = self.perceive(observation=observation)
            box = Toolbox(sim=self.sim, perception=perception, agents=self.agents, budget=count,
                          policy=self.long.policy(), observation=observation)
            for _ in range(count):
                box.assign_one("purge", region, fallback="fortify")
        return [PlannedAction(a.kind, a.targets, "operator", a.region, f"defend {a.region} (asked by {who}): {a.reason}")
                for a in box.proposed]

    def ingest_alert(self, hosts: Iterable[str], *, kind: str, severity: str, source: str,
                     description: str = "") -> str | None:
        """A detection from outside (an alert): mark ``hosts`` as seen compromised in the twin and open or
        join an incident; returns its id.  ``severity`` "info"/"low" only notes them as suspicious.

        The alert joins the newest open incident that defends the hosts' subnets; with none, a new
        incident is opened for those subnets (a low one is noted on the newest open incident).

        Unknown host names are a KeyError naming them (the caller answers 4xx).
        """
        hosts = list(dict.fromkeys(hosts))
        unknown = [h for h in hosts if h not in self.sim.network.index]
        if unknown:
            raise KeyError(f"unknown host(s): {', '.join(unknown[:10])}")
        with self._lock:
            incident = self._incident_for(hosts)
            if severity in ("info", "low"):  # only a note: on the incident defending them, else the newest one
                rows = self.short.incidents(status="open")
                incident = incident or (rows[-1]["id"] if rows else None)
                if incident is not None:
                    self.short.add_turn(incident, who=f"alert:{source}",
                                        text=f"suspicious ({kind}, {severity}): {', '.join(hosts)} {description}"[:500])
                return incident
            idx = [self.sim.network.index[h] for h in hosts]
            try:  # the twin changes only if the change is saved
                self.sim.compromised[0, idx] = True
                self.sim.visible[0, idx] = True
                self._twin_moved()
                self.save_twin(f"alert:{uuid.uuid4().hex}")
            except BaseException:
                self._restore_twin()
                raise
            if incident is None:
                status = self._open(title=f"{kind} alert from {source} on {', '.join(hosts[:3])}"[:120], requests=(),
                                    max_cycles=None, scope=self._subnets_of(hosts))
                incident = status.incident
            for host in hosts:
                self.short.note_compromise(incident, host)
            return incident

    def tick_twin(self) -> dict[str, Any]:
        """Live twin: the attacker moves one step (saved as a snapshot); returns the metrics after it."""
        with self._lock:
            if not self.sim.done[0]:
                try:  # the step stands only once it is saved: memory may refuse the write, even at commit
                    with self.store.write():
                        self.sim.step()
                        self._twin_moved()
                        self.save_twin(f"live:{uuid.uuid4().hex}")
                        self._record_metrics()
                except BaseException:
                    self._restore_twin()
                    raise
            return self.metrics()

    def new_episode(self) -> None:
        """Live twin: start the scenario's attack afresh (after the last campaign ended)."""
        with self._lock:
            try:  # the twin changes only if the change is saved
                self.sim.reset()
                self._twin_moved()
                self.save_twin(f"episode:{uuid.uuid4().hex}")
            except BaseException:
                self._restore_twin()
                raise
