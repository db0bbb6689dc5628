"""The region policy: any size and shape with one set of weights, masks, equivariance, down links."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import rl_agents.policy as policy_module
from rl_agents.policy import AGENT_ACTIONS, RegionPolicy, action_mask, parameter_count
from rl_agents.region_tasks import RegionSpec, RegionTask, build_region
from twin.observation import FEATURES, N_FEATURES, FeatureBuilder, edge_index
from twin.sim import Simulator
from twin.topology import GENERATORS, assemble

ISO = FEATURES.index("isolated")


def region(generator: str, n: int, seed: int = 0):
    net = assemble([GENERATORS[generator](n, np.random.default_rng(seed))], rng=np.random.default_rng(seed))
    hosts = np.arange(net.n_nodes)
    sim = Simulator(net, batch=1, seed=seed)
    for _ in range(3):
        sim.step()
    x = FeatureBuilder(net, hosts).build(sim.visible[0], sim.isolated[0], sim.vulnerability[0], 0.1)
    return torch.from_numpy(x), torch.from_numpy(edge_index(net, hosts))


@pytest.fixture(scope="module")
def policy() -> RegionPolicy:
    torch.manual_seed(0)
    return RegionPolicy().eval()


@pytest.mark.parametrize("generator,n", [("tree", 10), ("watts_strogatz", 30), ("fat_tree", 300), ("tree", 300)])
def test_one_set_of_weights_gives_one_logit_per_host_on_any_region(policy, generator, n):
    x, edges = region(generator, n)
    logits, value = policy(x, edges)
    assert logits.shape == (n,) and value.shape == ()
    assert torch.isfinite(logits).all()


def test_the_network_is_small():
    assert 2_000 <= parameter_count(RegionPolicy()) <= 10_000


def test_a_batch_of_same_size_regions_scores_each_region_as_alone(policy):
    x, edges = region("watts_strogatz", 30)
    other, _ = region("watts_strogatz", 30, seed=5)
    batch_logits, batch_values = policy(torch.stack([x, other]), edges)
    alone_logits, alone_value = policy(other, edges)
    torch.testing.assert_close(batch_logits[1], alone_logits)
    torch.testing.assert_close(batch_values[1], alone_value)


def test_dense_and_sparse_aggregation_agree(policy, monkeypatch):
    x, edges = region("fat_tree", 60)
    x[[3, 7, 20], ISO] = 1.0
    dense = policy(x, edges)
    monkeypatch.setattr(policy_module, "DENSE_LIMIT", 0)
    sparse = policy(x, edges)
    torch.testing.assert_close(dense, sparse)


def test_relabelling_hosts_relabels_the_logits(policy):
    x, edges = region("tree", 30)
    perm = torch.randperm(30, generator=torch.Generator().manual_seed(1))
    new_index = torch.empty_like(perm)
    new_index[perm] = torch.arange(30)  # host perm[i] is called i now
    logits, value = policy(x, edges)
    relabelled, value2 = policy(x[perm], new_index[edges])
    torch.testing.assert_close(relabelled, logits[perm])
    torch.testing.assert_close(value2, value)


@pytest.mark.parametrize("dense_limit", [128, 0])
def test_down_links_carry_no_messages(policy, monkeypatch, dense_limit):
    monkeypatch.setattr(policy_module, "DENSE_LIMIT", dense_limit)
    # a path 0-1-2-3-4; host 2 isolated: nothing crosses it either way
    edges = torch.tensor([[0, 1, 1, 2, 2, 3, 3, 4], [1, 0, 2, 1, 3, 2, 4, 3]])
    x = torch.rand(5, N_FEATURES, generator=torch.Generator().manual_seed(0))
    x[:, ISO] = 0.0
    x[2, ISO] = 1.0
    before, _ = policy(x, edges)
    changed = x.clone()
    changed[2, :ISO] += 0.7  # the isolated host's own state (not its isolation) changes
    changed[2, ISO + 1:] += 0.7
    after, _ = policy(changed, edges)
    torch.testing.assert_close(after[[0, 1, 3, 4]], before[[0, 1, 3, 4]])
    assert not torch.allclose(after[2], before[2])
    neighbours = x.clone()
    neighbours[[1, 3], 2] += 0.5  # its neighbours change: the isolated host hears nothing
    after, _ = policy(neighbours, edges)
    torch.testing.assert_close(after[2], before[2])
    # with the link up, messages do flow
    x[2, ISO] = 0.0
    neighbours[2, ISO] = 0.0
    assert not torch.allclose(policy(neighbours, edges)[0][2], policy(x, edges)[0][2])


def test_masks_rule_out_hosts_where_the_action_changes_nothing(policy):
    x, edges = region("tree", 30)
    x[:, 0] = 0.0
    x[[4, 9], 0] = 1.0  # seen compromised
    x[:, ISO] = 0.0
    x[[2, 9], ISO] = 1.0
    x[[5], 2] = 0.01  # patched to the floor
    expected = {
        "reset": [i not in (4, 9) for i in range(30)],
        "recover": [i not in (2, 9) for i in range(30)],
        "isolate": [i in (2, 9) for i in range(30)],
        "patch": [i == 5 for i in range(30)],
    }
    for kind, want in expected.items():
        mask = action_mask(kind, x)
        assert mask.tolist() == want
        logits, _ = policy(x, edges, mask)
        assert torch.isinf(logits[mask]).all() and torch.isfinite(logits[~mask]).all()
        assert policy.choose(x.numpy(), edges.numpy(), kind) in np.flatnonzero(~np.array(want))
    assert action_mask("purge", x.numpy()).tolist() == expected["reset"]  # agent names, numpy too


def test_nothing_to_do_gives_none_and_never_nan(policy):
    x, edges = region("tree", 10)
    x[:, ISO] = 0.0
    assert policy.choose(x.numpy(), edges.numpy(), "recover") is None
    logits, _ = policy(x, edges, action_mask("recover", x))
    assert torch.isfinite(logits).all()


def test_unknown_action_kind_is_refused():
    with pytest.raises(ValueError, match="unknown action kind"):
        action_mask("reboot", np.zeros((3, N_FEATURES)))


def test_the_trainers_batched_features_equal_the_twins_feature_builder():
    spec = RegionSpec("watts_strogatz", 25, 2, 2, "recon", 2, 0.5)
    rng = np.random.default_rng(3)
    for agent in AGENT_ACTIONS:
        task = RegionTask(agent, build_region(spec, rng), spec, batch=4, seed=1)
        for _ in range(3):
            task.step(np.zeros(4, dtype=np.int64), np.zeros(4, dtype=bool))
        x, _, _ = task.observe()
        s = task.sim
        builder = FeatureBuilder(task.network, np.arange(task.network.n_nodes))
        for b in range(4):
            want = builder.build(s.visible[b], s.isolated[b], s.vulnerability[b], s.t[b] / s.horizon)
            np.testing.assert_allclose(x[b], want, rtol=1e-6)


@pytest.mark.parametrize("kind", sorted(AGENT_ACTIONS.values()))
def test_picking_from_reused_scores_chooses_what_a_fresh_forward_pass_would(policy, kind):
    x, edges = region("watts_strogatz", 60, seed=3)
    nodes, links = x.numpy(), edges.numpy()
    scores = policy.scores(nodes, links)
    taken = np.zeros(len(nodes), dtype=bool)
    for _ in range(8):  # as a planner takes host after host from one region
        fresh = policy.choose(nodes, links, kind, exclude=taken)
        assert RegionPolicy.pick(scores, nodes, kind, exclude=taken) == fresh
        if fresh is None:
            break
        taken[fresh] = True
