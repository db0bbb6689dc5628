"""The flat-marl baseline: trainer smoke runs, fixed-size observation and actions on any network,
verified weights, reproducibility, and that the shipped policy beats random and sleep on paper-base."""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest
import torch

from bot.cli import main
from rl_agents import flat_marl
from rl_agents.baselines import RandomDefender, SleepDefender
from rl_agents.flat_marl import Args, FlatMarlPolicy, GlobalObservation, decode, train
from rl_agents.defenders import make_defender
from rl_agents.flat_marl_defender import FlatMarlDefender, batched_episodes, load_flat_marl, load_policy
from rl_agents.weights import SHIPPED, WeightsError, file_sha256
from twin.build import build_network, build_simulator
from twin.observation import N_FEATURES, FeatureBuilder
from twin.scenario import load_scenario
from twin.sim import ISOLATE, NOOP, PATCH, RESET


def tiny(seed: int = 0) -> Args:
    return Args(steps=500, seed=seed, num_envs=8, hidden=16, update_epochs=1, num_minibatches=2, eval_episodes=4)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("flat-marl")
    return out, train(tiny(), out, progress=False)


@pytest.fixture(scope="module")
def paper_base():
    return load_scenario("paper-base")


def resized(scenario, subnets: int, nodes: int):
    return scenario.model_copy(update={"topology": scenario.topology.model_copy(
        update={"subnets": subnets, "nodes_per_subnet": nodes})})


def test_a_tiny_training_run_writes_metrics_summary_weights_and_manifest(run):
    out, summary = run
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    assert rows and {"episode_return", "availability", "hvn_loss_rate", "entropy", "value_loss"} <= set(rows[0])
    assert int(rows[-1]["global_step"]) == summary["steps"] >= 500
    assert json.loads((out / "summary.json").read_text())["held_out"].keys() == {"flat-marl", "random", "sleep"}
    manifest = json.loads((out / "manifest.json").read_text())
    assert {"agent", "args", "seed", "steps", "trained_on", "obs_size", "n_hosts", "sha256", "command",
            "torch"} <= set(manifest)
    assert manifest["agent"] == "flat-marl" and manifest["trained_on"] == "paper-base"
    assert manifest["n_hosts"] == 150 and manifest["obs_size"] == 150 * N_FEATURES
    assert manifest["sha256"] == file_sha256(out / "flat-marl.pt")
    assert manifest["command"].startswith("cyberops train --agent flat-marl --steps 500 --seed 0")
    policy, _ = load_policy(out)
    assert policy.config == {"n_hosts": 150, "n_agents": 4, "hidden": 16}


def test_training_is_deterministic_for_a_seed(run, tmp_path):
    out, _ = run
    train(tiny(), tmp_path, progress=False)
    assert (tmp_path / "metrics.csv").read_text().split("\n")[1].split(",")[:4] == \
        (out / "metrics.csv").read_text().split("\n")[1].split(",")[:4]
    a = torch.load(out / "flat-marl.pt", weights_only=True)
    b = torch.load(tmp_path / "flat-marl.pt", weights_only=True)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_cli_train_dispatches_flat_marl_to_its_trainer(tmp_path, monkeypatch, capsys):
    seen = {}

    def fake_train(args, out):
        seen.update(args=args, out=out)
        held = {"availability": 0.5, "hvn_loss_rate": 0.5, "episode_return": -1.0}
        return {"steps": args.steps, "wall_seconds": 0.1, "held_out": {"flat-marl": held, "random": held}}

    monkeypatch.setattr(flat_marl, "train", fake_train)
    assert main(["train", "--agent", "flat-marl", "--steps", "200", "--seed", "3", "--out", str(tmp_path)]) == 0
    assert (seen["args"].steps, seen["args"].seed, seen["out"]) == (200, 3, str(tmp_path))
    assert seen["args"].scenario == "paper-base"
    assert "flat-marl: 200 steps" in capsys.readouterr().out


@pytest.mark.parametrize("hosts", [(1, 30), (5, 30), (5, 90)])
def test_the_observation_is_the_feature_matrix_padded_or_truncated_to_the_trained_size(paper_base, hosts):
    network = build_network(resized(paper_base, *hosts))
    sim = build_simulator(paper_base, network=network, batch=3, seed=1)
    rng = np.random.default_rng(0)
    for _ in range(4):
        sim.step(rng.integers(ISOLATE, PATCH + 1, (3, 4)), rng.integers(0, network.n_nodes, (3, 4)))
    obs = GlobalObservation(network, 150)(sim).reshape(3, 150, N_FEATURES).numpy()
    builder, keep = FeatureBuilder(network, np.arange(network.n_nodes)), min(150, network.n_nodes)
    for b in range(3):
        x = builder.build(sim.visible[b], sim.isolated[b], sim.vulnerability[b], sim.t[b] / sim.horizon)
        np.testing.assert_allclose(obs[b, :keep], x[:keep], rtol=1e-6)
        assert not obs[b, keep:].any()


def test_actions_decode_to_kind_and_host_and_hosts_off_the_network_become_noops():
    actions = np.array([[0, 1, 150, 1 + 2 * 150 + 7, 4 * 150, 1 + 40]])
    kinds, hosts = decode(actions, 150, 150)
    assert kinds.tolist() == [[NOOP, ISOLATE, ISOLATE, RESET, PATCH, ISOLATE]]
    assert hosts.tolist() == [[0, 0, 149, 7, 149, 40]]
    kinds, hosts = decode(actions, 150, 30)
    assert kinds.tolist() == [[NOOP, ISOLATE, NOOP, RESET, NOOP, NOOP]]
    assert hosts.tolist() == [[0, 0, 0, 7, 0, 0]]


def test_a_policy_that_wants_a_host_beyond_a_smaller_network_does_nothing_there(paper_base):
    policy = FlatMarlPolicy(n_hosts=150, n_agents=4, hidden=8)
    with torch.no_grad():
        policy.actor_body[-1].bias[1 + 100] = 100.0  # isolate host 100, whatever it sees
    small = build_simulator(paper_base, network=build_network(resized(paper_base, 1, 30)), batch=2, seed=0)
    big = build_simulator(paper_base, batch=2, seed=0)
    assert FlatMarlDefender(policy).act(small, 4)[0].tolist() == [[NOOP] * 4] * 2
    kinds, hosts = FlatMarlDefender(policy).act(big, 4)
    assert kinds.tolist() == [[ISOLATE] * 4] * 2 and hosts.tolist() == [[100] * 4] * 2


def test_shipped_weights_are_small_plain_tensors_trained_on_paper_base_long_enough():
    assert (SHIPPED / "flat-marl.pt").stat().st_size <= 2_000_000
    policy, manifest = load_policy()
    assert manifest["trained_on"] == "paper-base" and manifest["steps"] >= 4_000_000
    assert manifest["sha256"] == file_sha256(SHIPPED / "flat-marl.pt")
    assert policy.config["n_hosts"] == 150 and policy.config["n_agents"] == 4


@pytest.mark.parametrize("hosts", [(5, 30), (1, 30), (5, 90)], ids=["paper-base-150", "30-hosts", "450-hosts"])
@pytest.mark.parametrize("sample", [False, True], ids=["greedy", "sampled"])
def test_shipped_weights_act_validly_on_networks_of_any_size(paper_base, hosts, sample):
    network = build_network(resized(paper_base, *hosts))
    sim = build_simulator(paper_base, network=network, batch=4, seed=2)
    defender = load_flat_marl(sample=sample, seed=5)
    while not sim.done.all():
        kinds, nodes = defender.act(sim, 4)
        assert kinds.shape == nodes.shape == (4, 4)
        assert ((kinds >= NOOP) & (kinds <= PATCH)).all() and ((nodes >= 0) & (nodes < network.n_nodes)).all()
        assert (nodes[kinds != NOOP] < 150).all()  # truncated: it only knows the first 150 hosts
        sim.step(kinds, nodes)


def test_sampled_actions_are_deterministic_for_a_seed(paper_base):
    sims = [build_simulator(paper_base, batch=8, seed=4) for _ in range(2)]
    a, b = (load_flat_marl(sample=True, seed=9).act(s, 4) for s in sims)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])


def test_a_tampered_weights_file_is_refused(tmp_path):
    shutil.copy(SHIPPED / "flat-marl.pt", tmp_path / "flat-marl.pt")
    shutil.copy(SHIPPED / "flat-marl.json", tmp_path / "flat-marl.json")
    load_policy(tmp_path / "flat-marl.pt")  # a faithful copy loads
    data = bytearray((tmp_path / "flat-marl.pt").read_bytes())
    data[-100] ^= 0xFF
    (tmp_path / "flat-marl.pt").write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="sha256"):
        load_flat_marl(tmp_path / "flat-marl.pt")
    with pytest.raises(WeightsError, match="sha256"):
        load_policy(tmp_path / "flat-marl.pt")


def test_a_region_agents_manifest_is_not_taken_for_flat_marl(tmp_path):
    shutil.copy(SHIPPED / "flat-marl.pt", tmp_path / "x.pt")
    (tmp_path / "x.json").write_text(json.dumps({"agent": "purge", "sha256": file_sha256(tmp_path / "x.pt")}))
    with pytest.raises(WeightsError, match="not 'flat-marl'"):
        load_policy(tmp_path / "x.pt")


def test_the_shipped_policy_beats_random_and_sleep_on_paper_base(paper_base):
    """Same 96 episodes (seed 2026) for every defender: more availability, fewer HVN losses."""
    flat = batched_episodes(paper_base, make_defender("flat-marl"), episodes=96, seed=2026)
    rnd = batched_episodes(paper_base, RandomDefender(seed=2026), episodes=96, seed=2026)
    sleep = batched_episodes(paper_base, SleepDefender(), episodes=96, seed=2026)
    assert flat["availability"] > max(rnd["availability"], sleep["availability"]) + 0.05
    assert flat["hvn_loss_rate"] < min(rnd["hvn_loss_rate"], sleep["hvn_loss_rate"])
