"""Terminal view of ``cyberops eval``: a progress bar, then one table per metric group."""

from __future__ import annotations

import json

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from rl_agents.defenders import DEFENDER_NAMES
from rl_agents.harness import REFERENCE, evaluate
from twin.errors import InputError
from twin.scenario import load_scenario


def parse_defenders(text: str) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in DEFENDER_NAMES]
    if not names or unknown:
        raise InputError("command line", "--defenders",
                         f"unknown defender {unknown[0]!r}" if unknown else "name at least one defender"
                         f"; choose from {', '.join(DEFENDER_NAMES)}")
    return names


def run_eval(scenario_name: str, *, defenders: str, seeds: int, episodes: int | None, k: int, as_json: bool,
             workers: int | None = None, console: Console | None = None) -> int:
    names = parse_defenders(defenders)
    if seeds < 1:
        raise InputError("command line", "--seeds", f"must be at least 1, not {seeds}")
    if episodes is not None and episodes < 1:
        raise InputError("command line", "--episodes", f"must be at least 1, not {episodes}")
    if k < 1:
        raise InputError("command line", "--k", f"must be at least 1, not {k}")
    scenario = load_scenario(scenario_name)
    console = console or Console(stderr=as_json)
    total = len(dict.fromkeys([*names, REFERENCE])) * seeds
    with Progress(TextColumn("[bold]eval"), BarColumn(bar_width=20), MofNCompleteColumn(),
                  TextColumn("{task.fields[last]}"), TimeElapsedColumn(), console=console,
                  transient=as_json) as progress:
        task = progress.add_task("eval", total=total, last="")

        def done(defender: str, seed: int) -> None:
            progress.update(task, advance=1, last=f"{defender} seed {seed} done")

        report = evaluate(scenario, names, seeds=seeds, episodes=episodes, k=k, workers=workers, on_done=done)
    if as_json:
        print(json.dumps(report))
    else:
        console.print(report_table(report))
    return 0


def _fmt(cell: dict, pct: bool = False) -> str:
    if cell["mean"] is None:
        return "n/a"
    if pct:
        return f"{cell['mean']:+.1%}±{cell['ci95']:.1%}"
    return f"{cell['mean']:.3f}±{cell['ci95']:.3f}"


def report_table(report: dict) -> Table:
    table = Table(title=f"{report['scenario']}: {report['seeds']} seeds × {report['episodes']} episodes per phase",
                  caption=f"mean ± 95% CI over seeds; jumpstart vs {REFERENCE} over the first {report['k']} "
                          "episodes of each phase; overall jumpstart = mean over the shifts")
    for col in ("defender", "phase", "availability", "healthy", "HVN-loss", "return", "jumpstart"):
        table.add_column(col, justify="left" if col in ("defender", "phase") else "right", no_wrap=True)
    for name, d in report["defenders"].items():
        rows = [*d["phases"], {"name": "overall", **d["overall"]}] if len(d["phases"]) > 1 else d["phases"]
        for i, row in enumerate(rows):
            table.add_row(
                name if i == 0 else "", row["name"], _fmt(row["availability"]), _fmt(row["healthy_ratio"]),
                _fmt(row["hvn_loss_rate"], pct=True).lstrip("+"), f"{row['episode_return']['mean']:.1f}",
                _fmt(row["jumpstart"], pct=True),
                end_section=i == len(rows) - 1,
            )
    return table
