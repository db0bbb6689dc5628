"""The PPO trainer and the weights files: smoke runs, reproducibility, verified loading, the CLI."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch

from bot.cli import main
from rl_agents.policy import AGENT_ACTIONS
from rl_agents.ppo import Args, RandomHost, evaluate, train
from rl_agents.region_tasks import RegionSpec, RegionTask, build_region
from rl_agents.weights import SHIPPED, WeightsError, file_sha256, load_agent
from twin.observation import edge_index
from twin.topology import GENERATORS, assemble


def tiny(agent: str, seed: int = 0) -> Args:
    return Args(agent=agent, steps=300, seed=seed, num_envs=8, min_hosts=10, max_hosts=14,
                update_epochs=1, num_minibatches=2, eval_regions=1, eval_envs=4)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One tiny training run per agent kind."""
    root = tmp_path_factory.mktemp("runs")
    return {agent: (root / agent, train(tiny(agent), root / agent, progress=False)) for agent in AGENT_ACTIONS}


@pytest.mark.parametrize("agent", list(AGENT_ACTIONS))
def test_every_agent_kind_trains_and_writes_its_run_folder(runs, agent):
    out, summary = runs[agent]
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    assert rows and {"episode_return", "hvn_loss_rate", "availability", "policy_loss", "value_loss",
                     "entropy"} <= set(rows[0])
    assert int(rows[-1]["global_step"]) >= 300
    assert json.loads((out / "summary.json").read_text())["held_out"].keys() == {
        "agent", "random_host", "random_valid_host", "agent_minus_random_valid_host", "random_host_minus_random_valid_host"}
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["agent"] == agent and manifest["action"] == AGENT_ACTIONS[agent]
    assert manifest["sha256"] == file_sha256(out / f"{agent}.pt") == summary["sha256"]
    assert manifest["command"].startswith(f"cyberops train --agent {agent} --steps 300 --seed 0 --out ")
    assert manifest["torch"] == torch.__version__ and manifest["steps"] == summary["steps"]
    assert (out / f"{agent}.pt").stat().st_size < 2 * 1024 * 1024


def test_the_same_seed_gives_the_same_weights_and_another_seed_does_not(runs, tmp_path):
    again = train(tiny("purge"), tmp_path / "again", progress=False)
    assert again["sha256"] == runs["purge"][1]["sha256"]
    other = train(tiny("purge", seed=1), tmp_path / "other", progress=False)
    assert other["sha256"] != again["sha256"]


def test_a_loaded_agent_acts_on_regions_of_other_sizes_and_structures(runs):
    agent = load_agent(runs["recover"][0])
    assert agent.name == "recover" and agent.kind == "recover"
    for generator, n in (("tree", 10), ("watts_strogatz", 30), ("fat_tree", 300)):
        net = assemble([GENERATORS[generator](n, np.random.default_rng(0))], rng=np.random.default_rng(0))
        hosts = np.arange(n)
        x = np.zeros((n, 9), dtype=np.float32)
        x[[1, 4], 1] = 1.0  # two isolated hosts: the only ones recover can act on
        assert agent.choose(x, edge_index(net, hosts)) in (1, 4)


def test_loading_by_weights_file_round_trips_the_state_dict(runs):
    out, _ = runs["block"]
    state = torch.load(out / "block.pt", weights_only=True)
    loaded = load_agent(out / "block.pt").policy.state_dict()
    assert state.keys() == loaded.keys()
    assert all(torch.equal(state[k], loaded[k]) for k in state)


def test_a_tampered_weights_file_is_refused_naming_file_and_both_hashes(runs, tmp_path):
    src, _ = runs["fortify"]
    for name in ("fortify.pt", "manifest.json"):
        (tmp_path / name).write_bytes((src / name).read_bytes())
    weights = tmp_path / "fortify.pt"
    expected = file_sha256(weights)
    state = torch.load(weights, weights_only=True)
    next(iter(state.values())).add_(1e-3)
    torch.save(state, weights)
    with pytest.raises(WeightsError) as err:
        load_agent(tmp_path)
    message = str(err.value)
    assert str(weights) in message and expected in message and file_sha256(weights) in message


def test_a_missing_agent_is_a_clear_error(tmp_path):
    with pytest.raises(WeightsError, match="no manifest.json"):
        load_agent(tmp_path)


def test_train_help_names_the_agents_and_the_flags(capsys):
    with pytest.raises(SystemExit) as done:
        main(["train", "--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    assert all(agent in text for agent in AGENT_ACTIONS)
    assert all(flag in text for flag in ("--steps", "--seed", "--out"))


@pytest.mark.parametrize("argv", [["--agent", "nope"], ["--agent", "purge", "--steps", "0"],
                                  ["--agent", "purge", "--seed", "-1"]])
def test_bad_train_arguments_get_one_line_and_exit_2(capsys, argv):
    assert main(["train", *argv]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("cyberops: error: ")


def test_train_command_passes_its_flags_and_defaults_the_run_folder(monkeypatch, capsys):
    import rl_agents.ppo as ppo

    seen = {}

    def fake_train(args, out):
        seen.update(agent=args.agent, steps=args.steps, seed=args.seed, out=str(out))
        figures = {"episode_return": 1.0}
        return {"steps": args.steps, "wall_seconds": 0.1,
                "held_out": {"agent": figures, "random_valid_host": figures}}

    monkeypatch.setattr(ppo, "train", fake_train)
    assert main(["train", "--agent", "block", "--steps", "7", "--seed", "3"]) == 0
    assert seen == {"agent": "block", "steps": 7, "seed": 3, "out": "runs/block-3"}
    assert "runs/block-3" in capsys.readouterr().out


@pytest.mark.parametrize("agent", list(AGENT_ACTIONS))
def test_every_shipped_agent_loads_verified_and_acts_on_regions_of_10_to_1000_hosts(agent):
    loaded = load_agent(agent)
    assert loaded.name == agent and loaded.manifest["sha256"] == file_sha256(SHIPPED / f"{agent}.pt")
    assert (SHIPPED / f"{agent}.pt").stat().st_size < 2 * 1024 * 1024
    assert loaded.manifest["command"].startswith(f"cyberops train --agent {agent} ")
    for generator, n in (("tree", 10), ("watts_strogatz", 30), ("fat_tree", 300), ("tree", 1000)):
        spec = RegionSpec(generator, n, 2, 2, "recon", 2, 0.5)
        task = RegionTask(agent, build_region(spec, np.random.default_rng(n)), spec, batch=1, seed=n)
        x, mask, _ = task.observe()
        host = loaded.choose(x[0], task.edges)
        assert host is None if mask.all() else (0 <= host < n and not mask[0, host])


@pytest.mark.parametrize("agent", list(AGENT_ACTIONS))
def test_every_shipped_agent_beats_a_random_valid_host_on_held_out_regions(agent):
    policies = {"agent": load_agent(agent).policy, "random": RandomHost(valid=True)}
    paired = evaluate(policies, agent, regions=16, envs=16, seed=424242, baseline="random")["agent_minus_random"]
    assert paired["episode_return"] - paired["episode_return_ci95"] > 0


def test_the_random_yardstick_picks_uniformly_among_valid_hosts_even_when_played_greedily():
    mask = torch.tensor([True, False, False, True, False]).expand(3000, 5)
    picks = RandomHost(valid=True, seed=0)(torch.zeros(3000, 5, 9), torch.zeros(2, 0), mask)[0].argmax(-1)
    counts = torch.bincount(picks, minlength=5)
    assert counts[0] == counts[3] == 0 and counts[[1, 2, 4]].min() > 900
