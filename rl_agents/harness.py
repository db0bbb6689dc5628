"""The evaluation harness: defenders x seeds through a scenario's phases, with jumpstart.

Every defender plays every phase (the base, then each shift, without retraining) on
the same networks and the same attacker seeds.  Per seed, a phase's figure is the mean
over its episodes; the reported figure is the mean over seeds with a 95% confidence
interval (Student's t).  ``overall`` is the mean over phases of each seed's figures.

Jumpstart (transfer RL): ``(A - A_flat) / A_flat`` with ``A`` a defender's mean
availability over the first ``k`` episodes of a phase and ``A_flat`` that of
``flat-marl`` on the same seed; ``overall`` jumpstart is the mean over the shift phases
(the base phase's when there are none).  flat-marl is always played, as the reference.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict

import numpy as np
from scipy import stats

from rl_agents.evaluation import EpisodeResult, play_episodes
from twin.build import build_network
from twin.scenario import Scenario

METRICS: tuple[str, ...] = ("availability", "healthy_ratio", "hvn_loss_rate", "episode_return", "jumpstart")
REFERENCE = "flat-marl"


def _play_seed(scenario: Scenario, defender: str, seed: int, episodes: int | None) -> list[list[dict]]:
    """One (defender, seed) task: every phase's episodes, as plain dicts (picklable)."""
    import torch

    from rl_agents.defenders import make_defender

    torch.set_num_threads(1)
    out = []
    for i, phase in enumerate(scenario.phases()):
        sc = phase.scenario
        agent = make_defender(defender, seed=seed)
        results = play_episodes(sc, agent, episodes=episodes, seed=1000 * seed + i, network=build_network(sc))
        out.append([asdict(r) for r in results])
    return out


def _mean_ci(values: list[float]) -> dict[str, float | None]:
    vals = np.array([v for v in values if v is not None and np.isfinite(v)], dtype=float)
    if vals.size == 0:
        return {"mean": None, "ci95": None}
    if vals.size == 1:
        return {"mean": float(vals[0]), "ci95": 0.0}
    half = stats.t.ppf(0.975, vals.size - 1) * vals.std(ddof=1) / np.sqrt(vals.size)
    return {"mean": float(vals.mean()), "ci95": float(half)}


def _phase_figures(episodes: list[dict], ref: list[dict], k: int) -> dict[str, float | None]:
    avail_k = np.mean([e["availability"] for e in episodes[:k]])
    ref_k = np.mean([e["availability"] for e in ref[:k]])
    return {
        "availability": float(np.mean([e["availability"] for e in episodes])),
        "healthy_ratio": float(np.mean([e["healthy_ratio"] for e in episodes])),
        "hvn_loss_rate": float(np.mean([e["hvn_lost"] for e in episodes])),
        "episode_return": float(np.mean([e["episode_return"] for e in episodes])),
        "jumpstart": float((avail_k - ref_k) / ref_k) if ref_k > 0 else None,
    }


def aggregate(
    phase_names: list[str], runs: dict[str, dict[int, list[list[dict]]]], *, k: int = 5
) -> dict[str, dict]:
    """``runs[defender][seed][phase]`` = episode dicts -> the report's ``defenders`` section."""
    report = {}
    ref = runs[REFERENCE]
    seeds = sorted(ref)
    for name, by_seed in runs.items():
        per_seed = {s: [_phase_figures(by_seed[s][p], ref[s][p], k) for p in range(len(phase_names))] for s in seeds}
        phases = []
        for p, phase in enumerate(phase_names):
            phases.append({"name": phase, **{m: _mean_ci([per_seed[s][p][m] for s in seeds]) for m in METRICS}})
        shift_idx = list(range(1, len(phase_names))) or [0]
        overall = {}
        for m in METRICS:
            idx = shift_idx if m == "jumpstart" else range(len(phase_names))
            per = []
            for s in seeds:
                vals = [per_seed[s][p][m] for p in idx if per_seed[s][p][m] is not None]
                per.append(float(np.mean(vals)) if vals else None)
            overall[m] = _mean_ci(per)
        report[name] = {"overall": overall, "phases": phases}
    return report


def evaluate(
    scenario: Scenario, defenders: list[str], *, seeds: int = 5, episodes: int | None = None, k: int = 5,
    workers: int | None = None, on_done: Callable[[str, int], None] | None = None,
) -> dict:
    """Run the comparison; returns ``{"scenario", "seeds", "episodes", "k", "defenders": {...}}``."""
    names = list(dict.fromkeys([*defenders, REFERENCE]))
    tasks = [(d, s) for d in names for s in range(seeds)]
    runs: dict[str, dict[int, list[list[dict]]]] = {d: {} for d in names}
    workers = workers or min(len(tasks), os.cpu_count() or 1)
    if workers <= 1:
        for d, s in tasks:
            runs[d][s] = _play_seed(scenario, d, s, episodes)
            if on_done:
                on_done(d, s)
    else:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            futures = {pool.submit(_play_seed, scenario, d, s, episodes): (d, s) for d, s in tasks}
            for fut in as_completed(futures):
                d, s = futures[fut]
                runs[d][s] = fut.result()
                if on_done:
                    on_done(d, s)
    phase_names = [p.name for p in scenario.phases()]
    return {
        "scenario": scenario.name,
        "seeds": seeds,
        "episodes": episodes or scenario.episodes,
        "k": k,
        "defenders": {d: v for d, v in aggregate(phase_names, runs, k=k).items() if d in names},
    }


__all__ = ["METRICS", "EpisodeResult", "aggregate", "evaluate"]
