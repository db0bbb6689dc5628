"""PPO for one per-region agent (Fortify, Block, Purge or Recover), CleanRL style: one file, top to bottom.

Why PPO and not the paper's DQN:

* The action space is "one host of this region", so its size changes with every
  region.  A policy over per-host logits with a mask is natural for PPO; DQN would
  need per-host Q-values and a replay buffer of graphs of many sizes, which cannot be
  stacked into one tensor and would be slow to sample.
* PPO is on-policy over whole batched episodes: each rollout is one random region
  (structure, size, attacker, intensity) played by ``num_envs`` twins in one
  simulator call per step, then thrown away, so the agent keeps seeing fresh regions
  instead of replaying the ones it has overfit.  That is the generalisation we need (A1-A4).
* Invalid actions are masked (``-inf`` logits), which PPO handles exactly; the
  episodes are short (30 steps), so PPO's variance is small and no target network,
  epsilon schedule or replay ratio needs tuning.

Each rollout plays exactly one episode per environment from its start, so a finished
environment just stops (no auto-reset, no bootstrapping across episodes); the time
feature makes the fixed horizon part of the state.  Steps where the agent had nothing
to do train the value head only.  Deterministic on CPU for a seed and thread count.
"""

from __future__ import annotations

import csv
import json
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from torch import nn, optim
from torch.distributions import Categorical

from rl_agents.advantage import gae
from rl_agents.policy import AGENT_ACTIONS, RegionPolicy
from rl_agents.region_tasks import RegionTask, build_region, sample_spec
from rl_agents.weights import save_agent


@dataclass
class Args:
    agent: str = "purge"
    """which agent to train: fortify (patch), block (isolate), purge (reset), recover (recover)"""
    steps: int = 1_000_000
    """total environment steps (agent decisions plus idle steps) to train for"""
    seed: int = 1
    """seed of every random draw: regions, attackers, the policy's init and sampling"""
    threads: int = 1
    """torch CPU threads; results are bit-for-bit reproducible for a seed and thread count"""
    num_envs: int = 128
    """episodes of the same region played together per rollout (one simulator batch)"""
    horizon: int = 30
    """steps per episode, as in the paper"""
    min_hosts: int = 10
    """smallest region drawn for training"""
    max_hosts: int = 60
    """largest region drawn for training"""
    hidden: int = 24
    """width of the host embedding"""
    rounds: int = 3
    """message-passing rounds (each widens a host's view by one hop)"""
    learning_rate: float = 1e-3
    """Adam step size, annealed linearly to 0"""
    gamma: float = 0.97
    """discount: a 30-step episode needs little look-ahead beyond ~30 steps"""
    gae_lambda: float = 0.95
    """GAE trade-off between bias and variance"""
    update_epochs: int = 4
    """passes over each rollout"""
    num_minibatches: int = 4
    """minibatches per pass"""
    clip_coef: float = 0.2
    """PPO surrogate clipping"""
    ent_coef: float = 0.01
    """entropy bonus, keeps exploring across hosts early on"""
    vf_coef: float = 0.5
    """value-loss weight"""
    max_grad_norm: float = 0.5
    """gradient clipping"""
    eval_regions: int = 24
    """held-out regions played at the end, against random choices of host"""
    eval_envs: int = 32
    """episodes per held-out region"""


DEFAULT = Args()


def command_for(args: Args, out: Path | str) -> str:
    """The command line that reproduces a run (CLI flags, plus any other field changed from its default)."""
    cmd = f"cyberops train --agent {args.agent} --steps {args.steps} --seed {args.seed} --out {out}"
    changed = {f.name: getattr(args, f.name) for f in fields(Args)
               if f.name not in ("agent", "steps", "seed") and getattr(args, f.name) != getattr(DEFAULT, f.name)}
    return cmd if not changed else f"{cmd}  # with rl_agents.ppo.Args overrides {changed}"


# ------------------------------------------------------------------------ playing
def rollout(policy: RegionPolicy, task: RegionTask, *, sample: bool = True) -> dict[str, torch.Tensor]:
    """Play one episode in every environment of ``task``; returns the (T, B, ...) tensors PPO needs."""
    keys = ("obs", "mask", "action", "logprob", "value", "reward", "alive", "acting", "availability")
    buf: dict[str, list] = {k: [] for k in keys}
    edges = torch.as_tensor(task.edges)
    for _ in range(task.horizon):
        alive = ~task.sim.done
        if not alive.any():
            break
        x, mask, acting = task.observe()
        obs, mask_t = torch.from_numpy(x), torch.from_numpy(mask)
        with torch.no_grad():
            logits, value = policy(obs, edges, mask_t)
        dist = Categorical(logits=logits)
        action = dist.sample() if sample else logits.argmax(dim=-1)
        reward, availability = task.step(action.numpy(), acting)
        for k, v in zip(keys, (obs, mask_t, action, dist.log_prob(action), value, torch.from_numpy(reward).float(),
                               torch.from_numpy(alive), torch.from_numpy(acting), torch.from_numpy(availability))):
            buf[k].append(v)
    return {k: torch.stack(v) for k, v in buf.items()}


def episode_stats(data: dict[str, torch.Tensor], horizon: int, hvn_lost: np.ndarray) -> dict[str, float]:
    """Mean episode return, HVN-loss rate and availability (over the horizon, 0 after a loss)."""
    return {
        "episode_return": float(data["reward"].sum(0).mean()),
        "hvn_loss_rate": float(hvn_lost.mean()),
        "availability": float((data["availability"] * data["alive"]).sum(0).mean() / horizon),
    }


class RandomHost(nn.Module):
    """Yardstick: a uniformly random host, of the whole region or (``valid``) of the unmasked ones.

    Its logits are fresh uniform noise, so even greedy (argmax) play picks uniformly at
    random, from its own seeded generator.
    """

    def __init__(self, *, valid: bool, seed: int = 0) -> None:
        super().__init__()
        self.valid = valid
        self.generator = torch.Generator().manual_seed(seed)

    def forward(self, nodes: torch.Tensor, edges: torch.Tensor, mask: torch.Tensor | None = None):
        logits = torch.rand(nodes.shape[:-1], generator=self.generator)
        if self.valid and mask is not None:
            logits = logits.masked_fill(mask & ~mask.all(-1, keepdim=True), float("-inf"))
        return logits, torch.zeros(nodes.shape[0])


def _mean_ci(values: np.ndarray) -> tuple[float, float]:
    ci = 1.96 * values.std(ddof=1) / np.sqrt(len(values)) if len(values) > 1 else 0.0
    return float(values.mean()), float(ci)


def evaluate(policies: dict[str, nn.Module], agent: str, *, regions: int, envs: int, seed: int, horizon: int = 30,
             sizes: tuple[int, int] = (10, 60), baseline: str | None = None) -> dict[str, dict[str, float]]:
    """Greedy play of each policy on the same ``regions`` random regions drawn from ``seed``.

    Every policy meets the same regions and the same attacker draws (the simulator draws
    a fixed count per step), so ``<name>_minus_<baseline>`` holds paired differences.
    Means and 95% intervals are over regions: the episodes of one region are not independent.
    """
    rng = np.random.default_rng([seed, 0xE7A1])
    rows: dict[str, list[dict[str, float]]] = {name: [] for name in policies}
    for _ in range(regions):
        spec = sample_spec(agent, rng, sizes=sizes)
        network, task_seed = build_region(spec, rng), int(rng.integers(2**62))
        for name, policy in policies.items():
            task = RegionTask(agent, network, spec, batch=envs, seed=task_seed, horizon=horizon)
            rows[name].append(episode_stats(rollout(policy, task, sample=False), horizon, task.sim.hvn_lost))
    keys = list(next(iter(rows.values()))[0])
    result: dict[str, dict[str, float]] = {}
    pairs = [(name, None) for name in policies] + [(name, baseline) for name in policies if baseline and name != baseline]
    for name, base in pairs:
        figures = {}
        for key in keys:
            values = np.array([r[key] for r in rows[name]])
            if base is not None:
                values = values - np.array([r[key] for r in rows[base]])
            figures[key], figures[f"{key}_ci95"] = _mean_ci(values)
        result[name if base is None else f"{name}_minus_{base}"] = figures
    return result


# ------------------------------------------------------------------------ training
def train(args: Args, out: Path | str, *, progress: bool = True) -> dict:
    """Train ``args.agent`` and write metrics.csv, summary.json, ``<agent>.pt`` and manifest.json to ``out``."""
    if args.agent not in AGENT_ACTIONS:
        raise ValueError(f"unknown agent {args.agent!r}; choose one of {', '.join(AGENT_ACTIONS)}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    # TRY NOT TO MODIFY: seeding
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng([args.seed, 0x7EA1])

    policy = RegionPolicy(hidden=args.hidden, rounds=args.rounds)
    optimizer = optim.Adam(policy.parameters(), lr=args.learning_rate, eps=1e-5)
    started, global_step, iteration = time.perf_counter(), 0, 0
    metrics_file = (out / "metrics.csv").open("w", newline="")
    writer: csv.DictWriter | None = None
    history: list[dict] = []
    bar = Progress(TextColumn(f"train {args.agent}"), BarColumn(), TextColumn("{task.completed}/{task.total} steps"),
                   TextColumn("{task.fields[info]}"), TimeRemainingColumn(), disable=not progress)
    with bar, metrics_file:
        job = bar.add_task("train", total=args.steps, info="")
        while global_step < args.steps:
            iteration += 1
            # ALGO LOGIC: a fresh random region per rollout (structure, size, attacker, intensity)
            spec = sample_spec(args.agent, rng, sizes=(args.min_hosts, args.max_hosts))
            network = build_region(spec, rng)
            task = RegionTask(args.agent, network, spec, batch=args.num_envs, seed=int(rng.integers(2**62)),
                              horizon=args.horizon)
            optimizer.param_groups[0]["lr"] = args.learning_rate * max(0.0, 1.0 - global_step / args.steps)
            policy.eval()
            data = rollout(policy, task)
            stats = episode_stats(data, args.horizon, task.sim.hvn_lost)
            alive, acting = data["alive"], data["alive"] & data["acting"]
            global_step += int(alive.sum())

            # ALGO LOGIC: generalised advantage estimation, one episode per env from its start
            advantages, returns = gae(data["reward"], data["value"], alive, gamma=args.gamma, lam=args.gae_lambda)

            # ALGO LOGIC: clipped surrogate over the steps played
            flat = torch.nonzero(alive.reshape(-1)).squeeze(1)
            b = {k: v.reshape(-1, *v.shape[2:])[flat] for k, v in data.items()}
            b_adv, b_ret, b_acting = advantages.reshape(-1)[flat], returns.reshape(-1)[flat], acting.reshape(-1)[flat]
            edges = torch.as_tensor(task.edges)
            policy.train()
            log = {"policy_loss": 0.0, "value_loss": 0.0, "entropy": 0.0, "approx_kl": 0.0, "clipfrac": 0.0}
            updates = 0
            for _ in range(args.update_epochs):
                for mb in torch.tensor_split(torch.randperm(len(flat)), args.num_minibatches):
                    if len(mb) == 0:  # fewer steps played than minibatches
                        continue
                    logits, value = policy(b["obs"][mb], edges, b["mask"][mb])
                    dist = Categorical(logits=logits)
                    logratio = dist.log_prob(b["action"][mb]) - b["logprob"][mb]
                    ratio = logratio.exp()
                    act = b_acting[mb].float()
                    n_act = act.sum().clamp(min=1.0)
                    adv = b_adv[mb]
                    if act.sum() > 1:  # normalise over the decisions only
                        mean = (adv * act).sum() / n_act
                        std = (((adv - mean) ** 2 * act).sum() / n_act).sqrt()
                        adv = (adv - mean) / (std + 1e-8)
                    surrogate = torch.max(-adv * ratio, -adv * ratio.clamp(1 - args.clip_coef, 1 + args.clip_coef))
                    pg_loss = (surrogate * act).sum() / n_act
                    v_loss = 0.5 * ((value - b_ret[mb]) ** 2).mean()
                    entropy = (dist.entropy() * act).sum() / n_act
                    loss = pg_loss - args.ent_coef * entropy + args.vf_coef * v_loss
                    optimizer.zero_grad()
                    loss.backward()
                    nn.utils.clip_grad_norm_(policy.parameters(), args.max_grad_norm)
                    optimizer.step()
                    with torch.no_grad():
                        log["policy_loss"] += float(pg_loss)
                        log["value_loss"] += float(v_loss)
                        log["entropy"] += float(entropy)
                        log["approx_kl"] += float((((ratio - 1) - logratio) * act).sum() / n_act)
                        log["clipfrac"] += float((((ratio - 1).abs() > args.clip_coef).float() * act).sum() / n_act)
                    updates += 1

            # TRY NOT TO MODIFY: logging
            row = {"iteration": iteration, "global_step": global_step, "generator": spec.generator,
                   "n_hosts": spec.n_hosts, "mode": spec.mode, "intensity": spec.intensity,
                   "decisions": int(acting.sum()), **stats, **{k: v / max(updates, 1) for k, v in log.items()},
                   "sps": round(global_step / (time.perf_counter() - started), 1)}
            if writer is None:
                writer = csv.DictWriter(metrics_file, fieldnames=list(row))
                writer.writeheader()
            writer.writerow(row)
            history.append(row)
            bar.update(job, completed=min(global_step, args.steps),
                       info=f"return {stats['episode_return']:.2f} hvn-loss {stats['hvn_loss_rate']:.2f}")

    # held-out regions: a seed stream the training never drew from
    policy.eval()
    yardsticks = {"agent": policy, "random_host": RandomHost(valid=False), "random_valid_host": RandomHost(valid=True)}
    held_out = evaluate(yardsticks, args.agent, regions=args.eval_regions, envs=args.eval_envs,
                        seed=args.seed + 1_000_003, horizon=args.horizon, baseline="random_valid_host")
    weights = out / f"{args.agent}.pt"
    command = command_for(args, out)
    manifest = save_agent(policy, weights, agent=args.agent, manifest={
        "args": asdict(args), "seed": args.seed, "steps": global_step, "iterations": iteration,
        "command": command})
    tail = history[-max(1, len(history) // 10):]
    summary = {
        "agent": args.agent, "action": AGENT_ACTIONS[args.agent], "steps": global_step, "iterations": iteration,
        "wall_seconds": round(time.perf_counter() - started, 1), "command": command,
        "final": {k: float(np.mean([r[k] for r in tail])) for k in
                  ("episode_return", "hvn_loss_rate", "availability", "policy_loss", "value_loss", "entropy")},
        "held_out": held_out, "sha256": manifest["sha256"],
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Train one per-region agent with PPO (see `cyberops train`).")
    parser.add_argument("--agent", default=DEFAULT.agent, choices=list(AGENT_ACTIONS))
    parser.add_argument("--steps", type=int, default=DEFAULT.steps)
    parser.add_argument("--seed", type=int, default=DEFAULT.seed)
    parser.add_argument("--out", default=None)
    ns = parser.parse_args()
    cli_args = Args(agent=ns.agent, steps=ns.steps, seed=ns.seed)
    print(json.dumps(train(cli_args, ns.out or f"runs/{ns.agent}-{ns.seed}"), indent=2))
