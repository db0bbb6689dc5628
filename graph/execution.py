"""Carrying out an approved action: exactly once on the twin, handed to the configured executor.

The order makes a crash safe at every point:

1. the action is *claimed* in memory (``approved`` → ``executed``, one caller wins);
2. the executor gets it, keyed by its idempotency key (a webhook receiver or a SOAR
   dedups on it, so a re-send after a crash is harmless);
3. only on the executor's success is the twin changed (so a failure leaves the twin
   showing the real network), and the ``executed`` audit entry records the outcome; that
   entry is also how a restarted process gets the change back (the twin's snapshots are
   taken per step, and the entries after one are replayed onto it).

A claimed action with no ``executed`` audit entry was cut off between 1 and 3: running
the act step again re-sends it under the same key.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from twin.sim import ACTIONS

if TYPE_CHECKING:
    from graph.runtime import Defence


class Executor(Protocol):
    """Where approved actions go besides the twin: ``dispatch`` returns ``(ok, message)`` and never raises.

    An executor may set ``parallel`` (default 1): how many of a step's actions it may be sent at
    once (a webhook receiver can take several; a step's actions never share a host).
    """

    name: str

    def dispatch(self, request: dict[str, Any]) -> tuple[bool, str]: ...


class SimulateExecutor:
    """The default: the twin is the only thing changed."""

    name = "simulate"

    def dispatch(self, request: dict[str, Any]) -> tuple[bool, str]:
        return True, "applied to the twin only (executor: simulate)"


def execute(defence: Defence, incident: str, action: dict[str, Any]) -> dict[str, Any]:
    """Carry out one approved action; returns ``{key, kind, targets, status, changed, ok, message}``."""
    return execute_all(defence, incident, [action])[0]


def execute_all(defence: Defence, incident: str, actions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Carry out a step's approved actions (see the module docstring), one result per action, in order.

    Their claims are made in one transaction, then each is dispatched; their twin changes and
    ``executed`` entries are written in one transaction.
    """
    protected_assets = set(defence.long.policy().protected_assets)
    refused: dict[str, dict[str, Any]] = {}
    requests: list[tuple[dict[str, Any], dict[str, Any]]] = []
    with defence.store.write():  # every claim of the step in one transaction, committed before anything is sent
        for action in actions:
            targets = list(action["targets"])
            protected = sorted(set(targets) & protected_assets)
            if protected:  # checked again here: the policy may have changed since the plan
                key = action["key"]
                if defence.short.action(key).status == "approved":
                    defence.short.set_action_status(key, "refused")
                defence.audit.append_once("refused", who="policy", incident=incident, action_id=key,
                                          targets=targets, why=f"protected asset(s): {', '.join(protected)}")
                refused[key] = {"status": "refused", "changed": [], "ok": False, "message": "protected asset"}
        keys = [a["key"] for a in actions if a["key"] not in refused]
        claimed, before = defence.short.claim_executions(keys)
        done = defence.audit.entries_of(keys, "executed")
        approvals = defence.audit.entries_of(keys, "approved")
        for action in actions:
            key = action["key"]
            # claimed now, or claimed by a run a crash cut off before its executed entry: (re-)send, same key
            if key not in refused and key not in done and (key in claimed or before.get(key) == "executed"):
                requests.append((action, {"incident": incident, "action": action["kind"],
                                          "targets": list(action["targets"]),
                                          "approver": approvals[key]["who"] if key in approvals else "unknown",
                                          "idempotency_key": key, "reason": action["reason"]}))
    sent = _dispatch_all(defence.executor, requests)
    if sent:
        _finish(defence, incident, sent)
        done = defence.audit.entries_of(keys, "executed")
    results = []
    for action in actions:
        key = action["key"]
        result = {"key": key, "kind": action["kind"], "targets": list(action["targets"])}
        if key in refused:
            result |= refused[key]
        elif key not in done:  # rare: the action was not approved (or is gone)
            action_now = defence.short.action(key)
            result |= {"status": action_now.status if action_now else "unknown", "changed": [], "ok": False,
                       "message": ""}
        else:
            outcome = done[key]["result"]
            result |= {"status": "executed", "changed": outcome.get("changed", []), "ok": outcome.get("ok", True),
                       "message": outcome.get("message", "")}
        results.append(result)
    return results


def _dispatch_all(executor: Executor, requests: list[tuple[dict[str, Any], dict[str, Any]]]
                  ) -> list[tuple[dict[str, Any], bool, str]]:
    """Send each request, up to ``executor.parallel`` at once, so a slow receiver costs a step its slowest send
    rather than the sum of them; results in the requests' order."""
    workers = min(int(getattr(executor, "parallel", 1) or 1), len(requests))
    if workers <= 1:
        return [(action, *executor.dispatch(request)) for action, request in requests]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="dispatch") as pool:
        answers = list(pool.map(executor.dispatch, [request for _, request in requests]))
    return [(action, ok, message) for (action, _), (ok, message) in zip(requests, answers)]


def _finish(defence: Defence, incident: str, sent: list[tuple[dict[str, Any], bool, str]]) -> None:
    """Change the twin (for each success) and write the ``executed`` entries, in one transaction."""
    acted: list[int] = []
    entries: list[dict[str, Any]] = []
    with defence._lock:
        try:
            with defence.store.write():
                for action, ok, message in sent:
                    key, targets = action["key"], list(action["targets"])
                    changed: list[str] = []
                    if ok:
                        hosts = [defence.sim.network.index[h] for h in targets]
                        nodes = np.array([hosts], dtype=np.int64)
                        flags = defence.sim.act(np.full(nodes.shape, ACTIONS.index(action["kind"])), nodes).reshape(-1)
                        changed = [h for h, c in zip(targets, flags) if c]
                        acted += hosts
                    entries.append({
                        "event": "executed", "who": f"agent:{action['source']}", "incident": incident,
                        "action_id": key, "targets": targets, "why": action["reason"],
                        "result": {"ok": ok, "executor": defence.executor.name, "message": message[:500],
                                   "changed": changed,
                                   "unchanged": [h for h in targets if h not in changed] if ok else []}})
                defence.audit.append_once_all(entries)
        except BaseException:
            defence._restore_twin()  # the transaction rolled back (even a failed commit): so must the twin
            raise
    defence._acted_on(acted)
