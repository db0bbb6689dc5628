"""Terminal view of ``cyberops sim``: a live progress display and a summary table."""

from __future__ import annotations

import json

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from rl_agents.defenders import make_defender
from rl_agents.evaluation import PhaseSummary, play_episodes, summarise
from twin.build import build_network
from twin.errors import InputError
from twin.network import Network
from twin.scenario import load_scenario
from twin.sim import StepMetrics


def describe_network(net: Network) -> str:
    return (
        f"{net.n_nodes} hosts in {net.n_subnets} subnets, {len(net.edges)} links "
        f"({int(net.gateway.sum())} between subnets), {int(net.entry.sum())} entry and "
        f"{int(net.high_value.sum())} high-value hosts"
    )


def run_sim(
    scenario_name: str, *, episodes: int | None, seed: int | None, defender: str, as_json: bool,
    console: Console | None = None,
) -> int:
    scenario = load_scenario(scenario_name)
    if episodes is not None and episodes < 1:
        raise InputError("command line", "--episodes", f"must be at least 1, not {episodes}")
    if seed is not None and seed < 0:  # numpy seeds are non-negative
        raise InputError("command line", "--seed", f"must be 0 or more, not {seed}")
    console = console or Console()
    summaries: list[PhaseSummary] = []
    phases = scenario.phases()
    if not as_json:
        console.print(f"[bold]{scenario.name}[/]: {scenario.description}")
    # every phase's network first: a bad topology file in the last shift fails now, not after the others ran
    networks = [build_network(phase.scenario) for phase in phases]
    for phase, net in zip(phases, networks):
        sc = phase.scenario
        n_eps = episodes or sc.episodes
        run_seed = sc.seed if seed is None else seed
        agent = make_defender(defender, seed=run_seed + 1)
        if as_json:
            results = play_episodes(sc, agent, episodes=n_eps, seed=run_seed, network=net)
        else:
            console.print(
                f"[cyan]{phase.name}[/]: {describe_network(net)}; attacker {sc.attack.mode} "
                f"x{sc.attack.intensity}, defender {defender} with {sc.defender.actions_per_step} actions/step"
            )
            results = _play_live(console, phase.name, sc, agent, n_eps, run_seed, net)
        summaries.append(summarise(phase.name, results))
    if as_json:
        print(json.dumps({"scenario": scenario.name, "defender": defender,
                          "phases": [s.as_dict() for s in summaries]}))
    else:
        console.print(summary_table(summaries, defender))
    return 0


def _play_live(console, name, scenario, agent, episodes, seed, net):
    losses = 0
    columns = (
        TextColumn("[bold]{task.description}"), BarColumn(bar_width=12), MofNCompleteColumn(),
        TextColumn("{task.fields[stats]}"),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        task = progress.add_task(name, total=episodes, stats="")

        def on_step(ep: int, step: int, m: StepMetrics) -> None:
            nonlocal losses
            if m.done[0]:
                losses += bool(m.hvn_lost[0])
                progress.advance(task)
            progress.update(task, stats=(
                f"avail {m.availability[0]:.2f} · comp {int(m.compromised[0])} "
                f"({int(m.visible[0])} seen) · iso {int(m.isolated[0])} · HVN lost {losses}"
            ))

        return play_episodes(scenario, agent, episodes=episodes, seed=seed, network=net, on_step=on_step)


def summary_table(summaries: list[PhaseSummary], defender: str) -> Table:
    table = Table(title=f"Summary (defender: {defender})", caption=(
        "availability: mean over the horizon, 0 after an HVN loss (± 95% CI); "
        "HVN lost: share of episodes; max comp: most hosts compromised at once"))
    for col in ("phase", "episodes", "availability", "healthy", "HVN lost", "steps", "max comp"):
        table.add_column(col, justify="left" if col == "phase" else "right", no_wrap=True)
    for s in summaries:
        table.add_row(
            s.phase, str(s.episodes), f"{s.availability:.3f}±{s.availability_ci95:.2f}",
            f"{s.healthy_ratio:.3f}", f"{s.hvn_loss_rate:.0%}", f"{s.mean_steps:.1f}",
            f"{s.mean_max_compromised:.1f}",
        )
    return table
