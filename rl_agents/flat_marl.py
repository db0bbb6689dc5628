"""``flat-marl``: the paper's kind of baseline, a flat multi-agent PPO (MAPPO style), CleanRL style.

What it is: K = ``defender.actions_per_step`` agents (4 on paper-base), each seeing the
*whole* network as one flat vector (the per-host feature matrix of
:mod:`twin.observation` over all hosts, ``n_hosts x N_FEATURES`` values, plus its agent
id one-hot) and choosing one action from the *global* action space: noop, or
(kind, host) with kind in isolate/recover/reset/patch (``1 + 4 n_hosts`` logits).
That is the paper's ``NetMAEnv`` set-up, trained on ``paper-base`` only.  On a network
of another size the observation is zero-padded or truncated to the trained host count
and actions on hosts beyond the network become no-ops: what a fixed-size network can
do without retraining.

Why MAPPO-style parameter sharing, an agent-id input and a centralised critic:

* The agents see the same observation and share the team reward, so four separate
  networks (the paper's IPPO, no sharing) would learn the same thing four times from a
  quarter of the data each.  One shared actor with an agent-id one-hot learns from all
  four agents' samples and can still specialise (the id lets agent 2 pick a different
  host than agent 1).  The id enters the first layer as a learned bias, the exact same
  function as concatenating the one-hot, but the big ``obs -> hidden`` product is done
  once per step instead of once per agent.
* With one team reward, the centralised critic ``V(s)`` of the global state is the
  right baseline for every agent (MAPPO); per-agent critics would fit the same target.

Why these hyperparameters, against the paper's configs (``research/paper.md`` section 5):

* Budget: >= 4,000,000 environment steps (the four per-region agents' 1M each
  combined; each step is K agent decisions), not 100k, and every schedule fits inside
  it: the learning rate anneals linearly to 0 over exactly ``steps`` (the paper's
  value-based baselines annealed epsilon over 2.5M steps in 100k-step runs, so they
  acted ~96% at random).
* Two tanh hidden layers of 128 for actor and critic (the paper: one layer of 64, narrow
  for a 1,350-value input and a 601-way output; 256 would push the weights file past
  2 MB); orthogonal init, a 0.01-gain policy head so the first policy is near uniform.
* ``num_envs`` 128 twins per rollout (3,840 steps, 15,360 agent decisions per update):
  large batches tame the variance of a team reward shared by four agents.
* A rollout is one 30-step episode in each of ``num_envs`` twins from their start (the
  horizon truncates, an HVN loss terminates; the time feature makes the horizon part of
  the state), GAE(gamma 0.99, lambda 0.95): the whole episode matters, nothing beyond it.
* Clipped surrogate (0.2), ``update_epochs`` passes of ``num_minibatches`` minibatches,
  per-minibatch advantage normalisation, entropy bonus 0.01 (601 actions: keep
  exploring early), value loss 0.5, gradient-norm clip 0.5, Adam eps 1e-5.
* Reward: the paper's default (:func:`twin.envs.paper_reward` on the network's visible
  compromised and isolated totals, -10 when an HVN falls) with one fix.  Its per-step
  penalties are negative and stop when an HVN loss ends the episode, so losing early
  *raises* the return: a first run on it drove the HVN-loss rate from 0.60 to 0.98 in
  280k steps while the return rose from -152 to -82.  So an HVN loss here also pays the
  per-step penalty of the state it ended in for every step left in the horizon, just as
  availability counts 0 for the rest of the horizon after a loss.  Scaled by
  ``reward_scale`` so the critic's targets stay O(1) (a positive scale changes no optimum).

Deterministic on CPU for a seed and thread count.  Trains on the twin's batched
:class:`twin.sim.Simulator` directly (all environments in one call per step).  The
trained policy acts through :mod:`rl_agents.flat_marl_defender`.
"""

from __future__ import annotations

import csv
import json
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
from torch import nn, optim
from torch.distributions import Categorical

from rl_agents.advantage import gae
from twin.envs import HVN_LOSS_PENALTY, paper_reward
from twin.network import Network
from twin.observation import FEATURES, N_FEATURES, FeatureBuilder
from twin.sim import ISOLATE, NOOP, Simulator

AGENT = "flat-marl"
N_KINDS = 4  # isolate, recover, reset, patch: kind codes ISOLATE..PATCH


@dataclass
class Args:
    steps: int = 4_000_000
    """total environment steps (simulator steps of one twin, each with K agent decisions) to train for"""
    seed: int = 1
    """seed of every random draw: episodes, attackers, the networks' init and sampling"""
    scenario: str = "paper-base"
    """the scenario trained on (its network, attacker, horizon and action budget)"""
    threads: int = 1
    """torch CPU threads; results are bit-for-bit reproducible for a seed and thread count"""
    num_envs: int = 128
    """twins played together per rollout (one simulator batch); one episode each"""
    hidden: int = 128
    """width of the two hidden layers of actor and critic (128: the weights file stays under 2 MB)"""
    learning_rate: float = 5e-4
    """Adam step size, annealed linearly to 0 over ``steps``"""
    gamma: float = 0.99
    """discount; the 30-step horizon bounds the look-ahead anyway"""
    gae_lambda: float = 0.95
    """GAE trade-off between bias and variance"""
    update_epochs: int = 4
    """passes over each rollout"""
    num_minibatches: int = 4
    """minibatches per pass"""
    clip_coef: float = 0.2
    """PPO surrogate clipping"""
    ent_coef: float = 0.01
    """entropy bonus, keeps exploring the 601-way action space early on"""
    vf_coef: float = 0.5
    """value-loss weight"""
    max_grad_norm: float = 0.5
    """gradient clipping"""
    reward_scale: float = 0.1
    """multiplies the reward so value targets stay O(1)"""
    loss_pays_horizon: bool = True
    """an HVN loss also pays the per-step penalty of its last state for the rest of the horizon:
    the paper's reward ends its per-step penalties at the loss, which pays the defender to lose early"""
    eval_episodes: int = 128
    """paper-base episodes played greedily at the end (held-out seed), against random and sleep"""


DEFAULT = Args()


def command_for(args: Args, out: Path | str) -> str:
    """The command line that reproduces a run (CLI flags, plus any other field changed from its default)."""
    cmd = f"cyberops train --agent {AGENT} --steps {args.steps} --seed {args.seed} --out {out}"
    changed = {f.name: getattr(args, f.name) for f in fields(Args)
               if f.name not in ("steps", "seed") and getattr(args, f.name) != getattr(DEFAULT, f.name)}
    return cmd if not changed else f"{cmd}  # with rl_agents.flat_marl.Args overrides {changed}"


# ------------------------------------------------------------------------ observing
class GlobalObservation:
    """Flat ``(B, n_trained * N_FEATURES)`` observations of a batch of twins of ``network``.

    The same per-host features as :class:`twin.observation.FeatureBuilder` (static ones
    from it), computed for the whole batch at once; hosts beyond ``n_trained`` are
    dropped and missing ones are zeros.
    """

    def __init__(self, network: Network, n_trained: int) -> None:
        n = network.n_nodes
        self.n, self.n_trained, self.keep = n, n_trained, min(n, n_trained)
        self.static = torch.from_numpy(FeatureBuilder(network, np.arange(n)).static)
        adjacency = np.zeros((n, n), dtype=np.float32)
        adjacency[network.edges[:, 0], network.edges[:, 1]] = 1.0
        adjacency[network.edges[:, 1], network.edges[:, 0]] = 1.0
        # share of a host's neighbours seen compromised = visible @ A / degree
        self.spread = torch.from_numpy(adjacency / np.maximum(network.degree, 1)[None, :].astype(np.float32))

    def __call__(self, sim: Simulator) -> torch.Tensor:
        b = sim.batch
        visible = torch.from_numpy(sim.visible).float()
        x = self.static.expand(b, -1, -1).clone()
        x[:, :, 0] = visible
        x[:, :, 1] = torch.from_numpy(sim.isolated).float()
        x[:, :, 2] = torch.from_numpy(sim.vulnerability).float()
        x[:, :, 7] = visible @ self.spread
        x[:, :, 8] = torch.from_numpy(sim.t / sim.horizon).float()[:, None]
        out = torch.zeros(b, self.n_trained, N_FEATURES)
        out[:, : self.keep] = x[:, : self.keep]
        return out.reshape(b, -1)


def decode(actions: np.ndarray, n_trained: int, n_hosts: int) -> tuple[np.ndarray, np.ndarray]:
    """Action indices (0 = noop, ``1 + k * n_trained + h``) to (kinds, hosts); hosts off the network -> noop."""
    kind = np.where(actions > 0, ISOLATE + (actions - 1) // n_trained, NOOP)
    host = np.where(actions > 0, (actions - 1) % n_trained, 0)
    off = host >= n_hosts
    return np.where(off, NOOP, kind).astype(np.int64), np.where(off, 0, host).astype(np.int64)


# ------------------------------------------------------------------------ networks
def layer_init(layer: nn.Linear, std: float = np.sqrt(2), bias: float = 0.0) -> nn.Linear:
    nn.init.orthogonal_(layer.weight, std)
    nn.init.constant_(layer.bias, bias)
    return layer


class FlatMarlPolicy(nn.Module):
    """Shared actor (global obs + agent id -> 1 + 4 n_hosts logits) and centralised critic (global obs -> V)."""

    def __init__(self, *, n_hosts: int, n_agents: int, hidden: int = 128) -> None:
        super().__init__()
        self.config = {"n_hosts": n_hosts, "n_agents": n_agents, "hidden": hidden}
        obs = n_hosts * N_FEATURES
        self.actor_obs = layer_init(nn.Linear(obs, hidden))
        # the agent-id one-hot's weights: a learned first-layer bias per agent
        self.actor_id = nn.Parameter(torch.zeros(n_agents, hidden))
        self.actor_body = nn.Sequential(nn.Tanh(), layer_init(nn.Linear(hidden, hidden)), nn.Tanh(),
                                        layer_init(nn.Linear(hidden, 1 + N_KINDS * n_hosts), std=0.01))
        self.critic = nn.Sequential(layer_init(nn.Linear(obs, hidden)), nn.Tanh(),
                                    layer_init(nn.Linear(hidden, hidden)), nn.Tanh(),
                                    layer_init(nn.Linear(hidden, 1), std=1.0))

    def logits(self, obs: torch.Tensor) -> torch.Tensor:
        """``(B, n_agents, 1 + 4 n_hosts)`` logits of every agent for ``(B, obs)`` observations."""
        return self.actor_body(self.actor_obs(obs)[:, None, :] + self.actor_id[None])

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        return self.critic(obs).squeeze(-1)


# ------------------------------------------------------------------------ playing
def training_reward(prev: tuple[np.ndarray, np.ndarray], now: tuple[np.ndarray, np.ndarray], lost: np.ndarray,
                    steps_left: np.ndarray, loss_pays_horizon: bool = True) -> np.ndarray:
    """The paper's reward per twin; with ``loss_pays_horizon`` an HVN loss also pays the per-step
    penalty of the state it ended in for every step left in the horizon (see ``Args.loss_pays_horizon``)."""
    c1, i1 = now
    reward = paper_reward(prev, now, False) + np.where(lost, HVN_LOSS_PENALTY, 0.0)
    if loss_pays_horizon:
        reward = reward + np.where(lost, steps_left * (-0.1 * i1 - 0.5 * c1), 0.0)
    return reward


def episode_rollout(policy: FlatMarlPolicy, sim: Simulator, observe: GlobalObservation, *,
                    reward_scale: float, loss_pays_horizon: bool = True, sample: bool = True) -> dict[str, torch.Tensor]:
    """Play one episode in every twin of ``sim`` from its start; returns the (T, B, ...) tensors PPO needs."""
    keys = ("obs", "action", "logprob", "value", "reward", "alive", "availability")
    buf: dict[str, list] = {k: [] for k in keys}
    n_trained, n_hosts = policy.config["n_hosts"], sim.network.n_nodes
    sim.reset()
    counts = (sim.visible.sum(1), sim.isolated.sum(1))
    for _ in range(sim.horizon):
        alive = ~sim.done
        if not alive.any():
            break
        obs = observe(sim)
        with torch.no_grad():
            logp = torch.log_softmax(policy.logits(obs), -1)
            value = policy.value(obs)
        # Gumbel-max: the same distribution as Categorical.sample, several times faster on 601 logits
        action = (logp - torch.log(-torch.log(torch.rand_like(logp).clamp_(min=1e-20)))).argmax(-1) if sample else logp.argmax(-1)
        kinds, hosts = decode(action.numpy(), n_trained, n_hosts)
        m = sim.step(kinds, hosts)
        now = (sim.visible.sum(1), sim.isolated.sum(1))
        reward = training_reward(counts, now, m.hvn_lost & alive, sim.horizon - sim.t, loss_pays_horizon)
        counts = now
        row = (obs, action, logp.gather(-1, action[..., None]).squeeze(-1), value, torch.from_numpy(reward * reward_scale * alive).float(),
               torch.from_numpy(alive), torch.from_numpy(m.availability).float())
        for k, v in zip(keys, row):
            buf[k].append(v)
    return {k: torch.stack(v) for k, v in buf.items()}


def episode_stats(data: dict[str, torch.Tensor], horizon: int, hvn_lost: np.ndarray, reward_scale: float) -> dict[str, float]:
    """Mean episode return (unscaled paper reward), HVN-loss rate, availability (over the horizon, 0 after a loss)."""
    return {
        "episode_return": float(data["reward"].sum(0).mean() / reward_scale),
        "hvn_loss_rate": float(hvn_lost.mean()),
        "availability": float((data["availability"] * data["alive"]).sum(0).mean() / horizon),
    }


# ------------------------------------------------------------------------ training
def train(args: Args, out: Path | str, *, progress: bool = True) -> dict:
    """Train flat-marl on ``args.scenario``; writes metrics.csv, summary.json, flat-marl.pt and manifest.json to ``out``."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    from twin.build import build_network, build_simulator
    from twin.scenario import load_scenario

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    # TRY NOT TO MODIFY: seeding
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = np.random.default_rng([args.seed, 0xF1A7])

    scenario = load_scenario(args.scenario)
    network = build_network(scenario)
    n_agents = max(1, scenario.defender.actions_per_step)
    sim = build_simulator(scenario, network=network, batch=args.num_envs, seed=int(rng.integers(2**62)))
    observe = GlobalObservation(network, network.n_nodes)
    policy = FlatMarlPolicy(n_hosts=network.n_nodes, n_agents=n_agents, hidden=args.hidden)
    optimizer = optim.Adam(policy.parameters(), lr=args.learning_rate, eps=1e-5)
    started, global_step, iteration = time.perf_counter(), 0, 0
    metrics_file = (out / "metrics.csv").open("w", newline="")
    writer: csv.DictWriter | None = None
    history: list[dict] = []
    bar = Progress(TextColumn(f"train {AGENT}"), BarColumn(), TextColumn("{task.completed}/{task.total} steps"),
                   TextColumn("{task.fields[info]}"), TimeRemainingColumn(), disable=not progress)
    with bar, metrics_file:
        job = bar.add_task("train", total=args.steps, info="")
        while global_step < args.steps:
            iteration += 1
            optimizer.param_groups[0]["lr"] = args.learning_rate * max(0.0, 1.0 - global_step / args.steps)
            data = episode_rollout(policy, sim, observe, reward_scale=args.reward_scale,
                                   loss_pays_horizon=args.loss_pays_horizon)
            stats = episode_stats(data, sim.horizon, sim.hvn_lost, args.reward_scale)
            alive = data["alive"]
            global_step += int(alive.sum())

            # ALGO LOGIC: GAE on the team reward with the centralised critic, one episode per env
            advantages, returns = gae(data["reward"], data["value"], alive, gamma=args.gamma, lam=args.gae_lambda)

            # ALGO LOGIC: clipped surrogate over every agent's decision in the steps played
            flat = torch.nonzero(alive.reshape(-1)).squeeze(1)
            b = {k: v.reshape(-1, *v.shape[2:])[flat] for k, v in data.items()}
            b_adv, b_ret = advantages.reshape(-1)[flat], returns.reshape(-1)[flat]
            log = {"policy_loss": 0.0, "value_loss": 0.0, "entropy": 0.0, "approx_kl": 0.0, "clipfrac": 0.0}
            updates = 0
            for _ in range(args.update_epochs):
                # equal minibatches: a left-over sliver would be one tiny, noisy Adam step per epoch
                for mb in torch.tensor_split(torch.randperm(len(flat)), args.num_minibatches):
                    if len(mb) == 0:
                        continue
                    dist = Categorical(logits=policy.logits(b["obs"][mb]), validate_args=False)
                    logratio = dist.log_prob(b["action"][mb]) - b["logprob"][mb]  # (mb, agents)
                    ratio = logratio.exp()
                    adv = b_adv[mb]
                    if len(mb) > 1:
                        adv = (adv - adv.mean()) / (adv.std() + 1e-8)
                    adv = adv[:, None]  # one team advantage for every agent
                    pg_loss = torch.max(-adv * ratio, -adv * ratio.clamp(1 - args.clip_coef, 1 + args.clip_coef)).mean()
                    v_loss = 0.5 * ((policy.value(b["obs"][mb]) - b_ret[mb]) ** 2).mean()
                    entropy = dist.entropy().mean()
                    loss = pg_loss - args.ent_coef * entropy + args.vf_coef * v_loss
                    optimizer.zero_grad()
                    loss.backward()
                    nn.utils.clip_grad_norm_(policy.parameters(), args.max_grad_norm)
                    optimizer.step()
                    with torch.no_grad():
                        log["policy_loss"] += float(pg_loss)
                        log["value_loss"] += float(v_loss)
                        log["entropy"] += float(entropy)
                        log["approx_kl"] += float(((ratio - 1) - logratio).mean())
                        log["clipfrac"] += float(((ratio - 1).abs() > args.clip_coef).float().mean())
                    updates += 1

            # TRY NOT TO MODIFY: logging
            noop_share = float((b["action"] == 0).float().mean())
            row = {"iteration": iteration, "global_step": global_step, **stats, "noop_share": noop_share,
                   **{k: v / max(updates, 1) for k, v in log.items()},
                   "lr": optimizer.param_groups[0]["lr"],
                   "sps": round(global_step / (time.perf_counter() - started), 1)}
            if writer is None:
                writer = csv.DictWriter(metrics_file, fieldnames=list(row))
                writer.writeheader()
            writer.writerow(row)
            metrics_file.flush()
            history.append(row)
            bar.update(job, completed=min(global_step, args.steps),
                       info=f"return {stats['episode_return']:.1f} avail {stats['availability']:.3f} "
                            f"hvn-loss {stats['hvn_loss_rate']:.2f}")

    policy.eval()
    weights = out / f"{AGENT}.pt"
    command = command_for(args, out)
    manifest = save_flat_marl(policy, weights, manifest={
        "args": asdict(args), "seed": args.seed, "steps": global_step, "iterations": iteration,
        "trained_on": args.scenario, "command": command})
    from rl_agents.flat_marl_defender import compare_on_scenario

    held_out = compare_on_scenario(policy, args.scenario, episodes=args.eval_episodes, seed=args.seed + 1_000_003)
    tail = history[-max(1, len(history) // 10):]
    summary = {
        "agent": AGENT, "trained_on": args.scenario, "steps": global_step, "iterations": iteration,
        "wall_seconds": round(time.perf_counter() - started, 1), "command": command,
        "final": {k: float(np.mean([r[k] for r in tail])) for k in
                  ("episode_return", "hvn_loss_rate", "availability", "noop_share", "policy_loss", "value_loss",
                   "entropy")},
        "held_out": held_out, "sha256": manifest["sha256"],
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


# ------------------------------------------------------------------------ weights
def save_flat_marl(policy: FlatMarlPolicy, path: Path | str, *, manifest: dict | None = None,
                   manifest_path: Path | str | None = None) -> dict:
    """Write the state_dict to ``path`` and its manifest (default: ``manifest.json`` beside it)."""
    from rl_agents.weights import file_sha256

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(policy.state_dict(), path)
    full = {
        "agent": AGENT, "weights": path.name, "sha256": file_sha256(path), "policy": dict(policy.config),
        "n_hosts": policy.config["n_hosts"], "obs_size": policy.config["n_hosts"] * N_FEATURES,
        "features": list(FEATURES), "torch": torch.__version__, **(manifest or {}),
    }
    target = Path(manifest_path) if manifest_path else path.parent / "manifest.json"
    target.write_text(json.dumps(full, indent=2) + "\n")
    return full


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description="Train the flat-marl baseline with MAPPO (see `cyberops train`).")
    parser.add_argument("--steps", type=int, default=DEFAULT.steps)
    parser.add_argument("--seed", type=int, default=DEFAULT.seed)
    parser.add_argument("--num-envs", type=int, default=DEFAULT.num_envs)
    parser.add_argument("--hidden", type=int, default=DEFAULT.hidden)
    parser.add_argument("--out", default=None)
    ns = parser.parse_args()
    cli_args = Args(steps=ns.steps, seed=ns.seed, num_envs=ns.num_envs, hidden=ns.hidden)
    print(json.dumps(train(cli_args, ns.out or f"runs/{AGENT}-{ns.seed}"), indent=2))
