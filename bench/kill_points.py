"""Kill the bot with SIGKILL at random points of an incident, restart it, and check nothing was lost
or done twice.

Each trial runs a worker process that drives incidents on a small twin (every
confirmation approved after a short, random wait, so kills also land while one is
pending); the worker is killed after a random delay, a second worker restarts from the
same SQLite file and finishes every open incident, and the checks run:

* every approved action has exactly one ``executed`` audit entry, and reached the
  executor (a file receiver that deduplicates on the idempotency key, as a SOAR would);
  raw sends per key are counted too (a kill between the send and its record re-sends it);
* no confirmation was lost (every step of every incident has a decision, or is the
  one still pending) nor decided twice (one approve/reject/expire audit entry per action);
* the audit chain verifies and every incident is closed.

The stage a kill interrupted is read from the worker's progress file (the last node it
finished), so the figures say where the kills landed.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

SCENARIO = {
    "name": "kill-test", "seed": 11, "horizon": 10,
    "topology": {"subnets": 2, "nodes_per_subnet": 15, "generator": "tree", "entry_nodes": 2, "high_value_nodes": 1},
    "attack": {"mode": "recon", "intensity": 2, "p_detect": 1.0},
    "defender": {"actions_per_step": 3},
}
#: the last step the worker finished -> where the kill landed
NEXT_STAGE = {
    "start": "perceive (first)", "perceive": "plan", "plan": "confirm, before asking",
    "__interrupt__": "confirmation pending", "decided": "between approval and execution",
    "confirm": "act (executing)", "act": "reflect", "reflect": "perceive",
}


class FileReceiver:
    """An executor whose 'network' is a file: one line per send; the receiver's view dedups by key."""

    name = "file"

    def __init__(self, path: str) -> None:
        self.path = path

    def dispatch(self, request: dict) -> tuple[bool, str]:
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(request["idempotency_key"] + "\n")
            f.flush()
            os.fsync(f.fileno())
        return True, "received"


def worker(db: str, sends: str, progress: str, mode: str, seed: int, live: bool = False) -> None:
    """``first``: open incidents and drive them; ``resume``: finish every open incident.

    ``live``: as ``cyberops serve`` drives them: a live twin whose clock ticks, two incidents
    at once (one per subnet), each cycle checkpointed when it ends or asks (see Defence._invoke).
    """
    from graph.runtime import Defence
    from memory.store import open_store
    from twin.scenario import scenario_from_dict

    rng = random.Random(seed)
    store = open_store(db)
    defence = Defence(scenario=scenario_from_dict(SCENARIO), store=store, executor=FileReceiver(sends),
                      restore=mode == "resume", tick_on_act=not live)

    def mark(_incident: str, update: dict) -> None:
        with open(progress, "a", encoding="utf-8") as f:
            f.write(",".join(update) + "\n")
            f.flush()

    def decide(payload: dict) -> tuple[str, list]:
        time.sleep(rng.uniform(0, 0.05))  # a human takes a moment: kills land while pending too
        mark("", {"decided": None})
        return "approve", []

    defence.on_update = mark
    mark("", {"start": None})
    if live:
        _drive_live(defence, decide, first=mode == "first")
    elif mode == "first":
        for _ in range(2):
            status = defence.open_incident(max_cycles=4)
            defence.run(status.incident, decide, by="operator")
    else:
        for row in defence.short.incidents(status="open"):
            defence.run(row["id"], decide, by="operator")
    defence.close_connections()
    store.close()


def _drive_live(defence, decide, *, first: bool) -> None:
    """Tick the live twin and run every open incident's cycle per tick, deciding what waits, until all close."""
    from graph.planning import PlannedAction

    net = defence.sim.network
    if first:  # one incident per subnet, opened on an operator's request, as chat would
        for subnet in range(net.n_subnets):
            host = net.names[net.subnet_slice(subnet).start]
            defence.open_incident(max_cycles=4, requests=[PlannedAction("patch", (host,), "operator", None, "kill")])
    for _ in range(50):
        rows = defence.short.incidents(status="open")
        if not rows:
            return
        defence.tick_twin()
        for row in rows:
            status = defence.next_cycle(row["id"])
            if status.pending is not None:
                decision, drop = decide(status.pending)
                defence.decide(row["id"], status.pending["interrupt_id"], decision, by="operator", drop=drop)


def check(db: str, sends: str) -> dict:
    from memory.audit import AuditLog
    from memory.short_term import ShortTermMemory
    from memory.store import open_store

    store = open_store(db)
    short, audit = ShortTermMemory(store), AuditLog(store)
    entries = audit.entries()
    events = Counter((e["event"], e["action_id"]) for e in entries)
    raw = Counter(Path(sends).read_text().split()) if Path(sends).exists() else Counter()
    problems = []
    lost = duplicated = 0  # actions (or their confirmations) lost, and done (or decided) twice
    for incident in short.incidents():
        if incident["status"] != "closed":
            problems.append(f"{incident['id']} still open")
        for action in short.actions(incident["id"]):
            decided = sum(events[(e, action.key)] for e in ("approved", "rejected", "expired"))
            if decided != 1:
                problems.append(f"{action.key}: {decided} decisions")
                lost, duplicated = lost + (decided == 0), duplicated + (decided > 1)
            if action.status == "executed" and (events[("executed", action.key)] != 1 or raw[action.key] < 1):
                problems.append(f"{action.key}: executed {events[('executed', action.key)]}x, sent {raw[action.key]}x")
                lost += events[("executed", action.key)] == 0 or raw[action.key] < 1
                duplicated += events[("executed", action.key)] > 1
            if action.status in ("pending", "approved"):
                problems.append(f"{action.key} left {action.status}")
                lost += 1
    if audit.verify() is not None:
        problems.append("audit chain broken")
    store.close()
    return {"problems": problems, "actions": sum(1 for k in raw), "resent": sum(c - 1 for c in raw.values() if c > 1),
            "lost": lost, "duplicated": duplicated}


def trial(seed: int, tmp: Path, *, max_delay: float, live: bool = False) -> dict:
    db, sends, progress = str(tmp / f"{seed}.db"), str(tmp / f"{seed}.sends"), str(tmp / f"{seed}.progress")
    cmd = [sys.executable, "-m", "bench.kill_points", "--worker", db, sends, progress]
    after = ["live"] if live else []
    first = subprocess.Popen(cmd + ["first", str(seed)] + after, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    # wait until the worker is past its imports, then kill at a random moment of the incident work
    deadline = time.monotonic() + 120
    while not Path(progress).exists() and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(random.Random(seed).uniform(0, max_delay))
    killed = first.poll() is None
    if killed:
        first.send_signal(signal.SIGKILL)
    first.wait()
    lines = Path(progress).read_text().splitlines() if Path(progress).exists() else []
    last = lines[-1].split(",")[0] if lines else "start"
    stage = NEXT_STAGE.get(last, last) if killed else "finished before the kill"
    second = subprocess.run(cmd + ["resume", str(seed)] + after, capture_output=True, text=True, timeout=300)
    if second.returncode != 0:
        return {"seed": seed, "stage": stage, "killed": killed,
                "problems": [f"restart failed: {second.stderr.strip().splitlines()[-1:]}"], "actions": 0, "resent": 0,
                "lost": 0, "duplicated": 0}
    return {"seed": seed, "stage": stage, "killed": killed, **check(db, sends)}


def run(trials: int, *, max_delay: float = 1.5, seed: int = 0, progress=None, live: bool = False) -> dict:
    """``live``: drive incidents on a live twin, as ``cyberops serve`` does (see :func:`worker`)."""
    results = []
    with tempfile.TemporaryDirectory() as folder:
        for i in range(trials):
            results.append(trial(seed + i, Path(folder), max_delay=max_delay, live=live))
            if progress:
                progress(i + 1, results[-1])
    killed = [r for r in results if r["killed"]]
    failed = [r for r in results if r["problems"]]
    return {
        "trials": trials, "killed": len(killed), "survived": len(killed) - sum(1 for r in killed if r["problems"]),
        "failed": len(failed), "stages": dict(Counter(r["stage"] for r in killed)),
        "actions_executed": sum(r["actions"] for r in results), "resent_after_kill": sum(r["resent"] for r in results),
        "lost_or_duplicated": sum(len(r["problems"]) for r in results),
        "lost_actions": sum(r["lost"] for r in results), "duplicated_actions": sum(r["duplicated"] for r in results),
        "examples": [f"seed {r['seed']} ({r['stage']}): {r['problems'][:3]}" for r in failed[:5]],
    }


if __name__ == "__main__":
    if sys.argv[1] == "--worker":
        worker(*sys.argv[2:6], int(sys.argv[6]), live=sys.argv[7:] == ["live"])
