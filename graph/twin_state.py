"""The twin as the loop sees and keeps it: methods of :class:`graph.runtime.Defence`.

* One observation per step, shared by every plan made in it (:meth:`TwinState.observation`).
* What memory keeps of the twin: the newest snapshot, noting the audit log's newest entry,
  and the actions executed since, replayed onto it (:meth:`TwinState.save_twin`,
  :meth:`TwinState._restore_twin`).  A snapshot per step, not per action: on a 10,000-host
  twin one is ~120 KB.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

import numpy as np

from graph.perception import Observation, observe
from twin.build import build_simulator
from twin.errors import InputError
from twin.sim import ACTIONS, Simulator
from twin.snapshot import SnapshotError, dump_state, remap_state, restore_state, snapshot_note


class TwinState:
    """Mixed into :class:`~graph.runtime.Defence` (uses its twin, scenario, memory and audit log)."""

    def observation(self) -> Observation:
        """The twin as observed at the start of its current step, shared by every plan made in the step.

        All of a step's defender actions are decided on one observation (the twin's rule: the
        defender acts, then the attacker moves), so the agents run once per region and step
        however many incidents are open; hosts acted on in the step are in ``acted``.
        """
        if self._observed is None or self._observed.key != (self._epoch,):
            self._observed = observe(self.sim, 0, key=(self._epoch,))
        return self._observed

    def _twin_moved(self) -> None:
        """The twin changed other than by a defender action (a step, an alert, a restore): observe it afresh."""
        self._epoch += 1

    def _acted_on(self, hosts: Iterable[int]) -> None:
        if self._observed is not None and self._observed.key == (self._epoch,):
            self._observed.acted.update(int(h) for h in hosts)

    def save_twin(self, key: str) -> bool:
        """Snapshot the twin under ``key`` (False if taken), noting the audit log's newest entry with it.

        Executed actions are not snapshotted one by one: their ``executed`` entries are the
        record, and :meth:`_restore_twin` replays those newer than the snapshot's note.
        """
        with self.store.write():
            return self.snapshots.save(key, step=int(self.sim.t[0]),
                                       state=dump_state(self.sim, note={"audit_id": self.audit.last_id()}))

    def saved_twin(self) -> Simulator:
        """A new simulator holding the twin as memory has it: what a restarted process would carry on with."""
        sim = build_simulator(self.scenario)
        latest = self.snapshots.latest()
        if latest is not None:
            restore_state(sim, latest[2])
            self._replay_executed(snapshot_note(latest[2]).get("audit_id"), sim)
        return sim

    def _restore_twin(self) -> None:
        """Put the twin back as memory has it: the newest snapshot, then the actions executed since."""
        latest = self.snapshots.latest()
        if latest is None:
            return
        self._twin_moved()
        try:
            restore_state(self.sim, latest[2])
        except SnapshotError:
            try:  # another host set: carry unchanged hosts over by name, and save that as the twin now
                self.reconciled = remap_state(latest[2], self.sim)
            except SnapshotError as exc:
                raise InputError(self.store.path, "twin_snapshots", str(exc)) from None
            self._replay_executed(snapshot_note(latest[2]).get("audit_id"))
            self.save_twin(f"reimport:{uuid.uuid4().hex}")
            return
        self._replay_executed(snapshot_note(latest[2]).get("audit_id"))

    def _replay_executed(self, watermark: int | None, sim: Simulator | None = None) -> None:
        """Apply again to ``sim`` (the twin), in order, the successful actions executed after audit entry ``watermark``."""
        sim = sim or self.sim
        if watermark is None:  # a snapshot from before notes: it was saved after every action
            return
        index = sim.network.index
        for entry in self.audit.executed_since(watermark):
            action = self.short.action(entry["action_id"])
            hosts = [index[h] for h in entry["targets"] if h in index]
            if not (entry["result"] or {}).get("ok") or action is None or not hosts:
                continue
            nodes = np.array([hosts], dtype=np.int64)
            sim.act(np.full(nodes.shape, ACTIONS.index(action.kind)), nodes)
