"""Carrying out an approved action: exactly once on the twin, handed to the configured executor.

The order makes a crash safe at every point:

1. the action is *claimed* in memory (``approved`` → ``executed``, one caller wins);
2. the executor gets it, keyed by its idempotency key (a webhook receiver or a SOAR
   dedups on it, so a re-send after a crash is harmless);
3. only on the executor's success is the twin changed (so a failure leaves the twin
   showing the real network), and the ``executed`` audit entry records the outcome.

A claimed action with no ``executed`` audit entry was cut off between 1 and 3: running
the act step again re-sends it under the same key.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from twin.sim import ACTIONS
from twin.snapshot import dump_state

if TYPE_CHECKING:
    from graph.runtime import Defence


class Executor(Protocol):
    """Where approved actions go besides the twin: ``dispatch`` returns ``(ok, message)`` and never raises."""

    name: str

    def dispatch(self, request: dict[str, Any]) -> tuple[bool, str]: ...


class SimulateExecutor:
    """The default: the twin is the only thing changed."""

    name = "simulate"

    def dispatch(self, request: dict[str, Any]) -> tuple[bool, str]:
        return True, "applied to the twin only (executor: simulate)"


def execute(defence: Defence, incident: str, action: dict[str, Any]) -> dict[str, Any]:
    """Carry out one approved action; returns ``{key, kind, targets, status, changed, ok, message}``."""
    key, targets = action["key"], list(action["targets"])
    result = {"key": key, "kind": action["kind"], "targets": targets}
    protected = sorted(set(targets) & set(defence.long.policy().protected_assets))
    if protected:  # checked again here: the policy may have changed since the plan
        if defence.short.action(key).status == "approved":
            defence.short.set_action_status(key, "refused")
        defence.audit.append_once("refused", who="policy", incident=incident, action_id=key, targets=targets,
                                  why=f"protected asset(s): {', '.join(protected)}")
        return result | {"status": "refused", "changed": [], "ok": False, "message": "protected asset"}
    claimed = defence.short.claim_execution(key)
    done = _executed_entry(defence, incident, key)
    if done is None and (claimed or defence.short.action(key).status == "executed"):
        approver = _approver(defence, incident, key)
        request = {"incident": incident, "action": action["kind"], "targets": targets, "approver": approver,
                   "idempotency_key": key, "reason": action["reason"]}
        ok, message = defence.executor.dispatch(request)
        _finish(defence, incident, action, ok=ok, message=message)
        done = _executed_entry(defence, incident, key)
    if done is None:
        return result | {"status": defence.short.action(key).status, "changed": [], "ok": False, "message": ""}
    outcome = done["result"]
    return result | {"status": "executed", "changed": outcome.get("changed", []), "ok": outcome.get("ok", True),
                     "message": outcome.get("message", "")}


def _finish(defence: Defence, incident: str, action: dict[str, Any], *, ok: bool, message: str) -> None:
    """Change the twin (on success) and write the ``executed`` entry, in one transaction."""
    key, targets = action["key"], list(action["targets"])
    with defence._lock:
        try:
            with defence.store.write():
                changed: list[str] = []
                if ok:
                    nodes = np.array([[defence.sim.network.index[h] for h in targets]], dtype=np.int64)
                    flags = defence.sim.act(np.full(nodes.shape, ACTIONS.index(action["kind"])), nodes).reshape(-1)
                    changed = [h for h, c in zip(targets, flags) if c]
                    defence.snapshots.save(f"exec:{key}", step=int(defence.sim.t[0]), state=dump_state(defence.sim))
                defence.audit.append_once(
                    "executed", who=f"agent:{action['source']}", incident=incident, action_id=key, targets=targets,
                    why=action["reason"],
                    result={"ok": ok, "executor": defence.executor.name, "message": message[:500],
                            "changed": changed, "unchanged": [h for h in targets if h not in changed] if ok else []})
        except BaseException:
            defence._restore_twin()  # the transaction rolled back (even a failed commit): so must the twin
            raise


def _executed_entry(defence: Defence, incident: str, key: str) -> dict[str, Any] | None:
    return defence.audit.entry(key, "executed")


def _approver(defence: Defence, incident: str, key: str) -> str:
    entry = defence.audit.entry(key, "approved")
    return entry["who"] if entry else "unknown"
