"""``cyberops bench reliability``: issue 8's figures in one run, each against the issue's target.

Runs the existing benches one after another, through their public functions: kill points
(:mod:`bench.kill_points`, one run-incident loop at a time, then on a live twin as ``serve`` runs
it), Slack under load (:mod:`bench.slack_load`), hostile inputs
(:mod:`bench.hostile`) and many incidents on the 10,000-host twin (:mod:`bench.incidents_bench`),
with a progress display, then one summary: a row per figure with PASS or MISS, and the actions
lost and duplicated over every part (target 0).  A part that raises is a MISS, and the rest still run.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:  # rich is imported when used: the command line reads PARTS without it
    from rich.console import Console
    from rich.table import Table

PARTS = ("kill", "kill-live", "slack", "hostile", "incidents")
TITLES = {"kill": "kill points", "kill-live": "kill points, live", "slack": "Slack load", "hostile": "hostile inputs",
          "incidents": "incidents"}
KILLS = ("kill", "kill-live")
TICK_TARGET_S = 1.0  # serve's clock period: a tick with 100 incidents open must fit in it (issue 8)


def run_parts(parts: tuple[str, ...] = PARTS, *, kill_trials: int = 100, kill_live_trials: int = 50,
              requests: int = 1000, clients: int = 50,
              incidents: int = 100, ticks: int = 5, seed: int = 0, tick_target_s: float = TICK_TARGET_S,
              console: Console | None = None) -> dict[str, dict]:
    """Each part's own result (or ``{"error": ...}``) plus ``seconds``, keyed by part; progress, and a line per
    part as it ends, on ``console``."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    console = console or Console(stderr=True)
    results: dict[str, dict] = {}
    with Progress(SpinnerColumn(), TextColumn("[bold]{task.description:<15}"), BarColumn(bar_width=20),
                  MofNCompleteColumn(), TextColumn("{task.fields[last]}"), TimeElapsedColumn(),
                  console=console, transient=True) as progress:
        totals = {part: {"kill": kill_trials, "kill-live": kill_live_trials}.get(part, 1) for part in parts}
        tasks = {part: progress.add_task(TITLES[part], total=totals[part], start=False, last="waiting")
                 for part in parts}
        for part in parts:
            task = tasks[part]
            progress.start_task(task)
            progress.update(task, last="running")

            def trial_done(i: int, r: dict, task=task) -> None:
                where = f"killed during {r['stage']}" if r["killed"] else r["stage"]
                progress.update(task, completed=i, last=f"trial {i}: {where}, {'PROBLEMS' if r['problems'] else 'OK'}")

            run = _runner(part, kill_trials=totals[part], requests=requests, clients=clients, incidents=incidents,
                          ticks=ticks, seed=seed, on_trial=trial_done)
            started = time.monotonic()
            try:
                result = run()
            except Exception as exc:  # noqa: BLE001 - reported as a MISS; the other parts still run
                result = {"error": f"{type(exc).__name__}: {exc}"}
            result["seconds"] = round(time.monotonic() - started, 1)
            results[part] = result
            row = summary_rows({part: result}, tick_target_s=tick_target_s)[0]
            progress.update(task, completed=totals[part], last=f"{row['verdict']}: {row['result']}")
            progress.stop_task(task)
            progress.console.print(f"{TITLES[part]}: {row['verdict']}: {row['result']} ({result['seconds']} s)",
                                   highlight=False)
    return results


def _runner(part: str, *, kill_trials: int, requests: int, clients: int, incidents: int, ticks: int, seed: int,
            on_trial: Callable[[int, dict], None]) -> Callable[[], dict]:
    if part in KILLS:
        from bench.kill_points import run

        return lambda: run(kill_trials, seed=seed, progress=on_trial, live=part == "kill-live")
    if part == "slack":
        from bench.slack_load import bench_slack_load

        return lambda: bench_slack_load(requests=requests, clients=clients, seed=seed)
    if part == "hostile":
        from bench.hostile import bench_hostile

        return bench_hostile
    from bench.incidents_bench import bench_incidents

    return lambda: bench_incidents(incidents=incidents, ticks=ticks)


def summary_rows(results: dict[str, dict], *, tick_target_s: float = TICK_TARGET_S) -> list[dict[str, Any]]:
    """One row per figure the parts in ``results`` give, each ``{figure, result, target, verdict}``, then the
    totals of lost and duplicated actions over them."""
    rows = []
    for part, r in results.items():
        if "error" in r:
            rows.append(_row(f"{TITLES[part]}: did not finish", r["error"], "finish", False))
        elif part in KILLS:
            failed = f"; {r['failed']} trials with problems, e.g. {r['examples'][0]}" if r["failed"] else ""
            where = " (live twin)" if part == "kill-live" else ""
            rows.append(_row(f"kill points survived / tried{where}", f"{r['survived']} / {r['killed']} ({r['trials']} trials; "
                             f"{r['trials'] - r['killed']} finished before the kill; {r['resent_after_kill']} "
                             f"re-sent, done once{failed})", "all", r["failed"] == 0 and r["survived"] == r["killed"]))
        elif part == "slack":
            rows.append(_row("Slack requests served / sent", f"{r['acked_within_3s']} / {r['requests']}; ack p50 "
                             f"{r['ack_p50_ms']} ms, p99 {r['ack_p99_ms']} ms ({r['clients']} clients, "
                             f"{r['errors']} errors)", "all, acked < 3 s", bool(r["meets_targets"])))
        elif part == "hostile":
            rows.append(_row("hostile inputs rejected / tried", f"{r['rejected']} / {r['tried']}", "all",
                             bool(r["all_rejected"])))
        else:
            ticks = r["tick_s"] if isinstance(r["tick_s"], list) else [r["tick_s"]]
            rows.append(_row(f"tick with {r['incidents']} incidents open ({r['hosts']:,} hosts)",
                             f"{max(ticks)} s (ticks: {', '.join(f'{t} s' for t in ticks)})",
                             f"<= {tick_target_s:g} s", max(ticks) <= tick_target_s))
    lost, duplicated = action_totals(results)
    for name, counts in (("lost", lost), ("duplicated", duplicated)):
        total = sum(counts.values())
        if counts:
            detail = ", ".join(f"{TITLES[p]} {n}" for p, n in counts.items())
            rows.append(_row(f"actions {name}, all parts", f"{total} ({detail})", "0", total == 0))
        else:
            rows.append({"figure": f"actions {name}, all parts", "result": "not counted by the parts run",
                         "target": "0", "verdict": "n/a"})
    return rows


def targets_met(rows: list[dict[str, Any]]) -> bool:
    return all(r["verdict"] != "MISS" for r in rows)


def action_totals(results: dict[str, dict]) -> tuple[dict[str, int], dict[str, int]]:
    """Actions lost (approved or confirmed, never done; a confirmation lost) and duplicated (done twice; a
    confirmation decided twice) per part that counts them.  The incidents bench runs every action class on
    auto and counts neither; actions done without approval are each part's own target, not counted here."""
    lost, duplicated = {}, {}
    for part, r in results.items():
        if "error" in r:
            continue
        if part in KILLS:
            lost[part], duplicated[part] = r["lost_actions"], r["duplicated_actions"]
        elif part == "slack":
            lost[part], duplicated[part] = r["lost_actions"], r["duplicate_actions"] + r["decided_twice"]
        elif part == "hostile":
            lost[part], duplicated[part] = r["lost_actions"], r["duplicated_actions"]
    return lost, duplicated


def _row(figure: str, result: str, target: str, ok: bool) -> dict[str, Any]:
    return {"figure": figure, "result": result, "target": target, "verdict": "PASS" if ok else "MISS"}


def summary_table(rows: list[dict[str, Any]], *, seconds: float) -> Table:
    from rich.table import Table

    met = targets_met(rows)
    table = Table(title="Issue 8 in one run", caption=f"{'every target met' if met else 'TARGETS MISSED'}; "
                                                      f"{seconds:.0f} s in all")
    for name in ("figure", "result", "target", "verdict"):
        table.add_column(name, overflow="fold")
    for r in rows:
        colour = {"PASS": "green", "MISS": "bold red"}.get(r["verdict"], "dim")
        table.add_row(r["figure"], r["result"], r["target"], f"[{colour}]{r['verdict']}[/]")
    return table
