"""The evaluation harness: per-seed figures, confidence intervals, jumpstart against flat-marl."""

from __future__ import annotations

import math

import pytest

from rl_agents.harness import METRICS, REFERENCE, aggregate


def _ep(avail: float, lost: bool = False, ret: float = 1.0) -> dict:
    return {"availability": avail, "healthy_ratio": 0.9, "hvn_lost": lost, "episode_return": ret}


def test_jumpstart_compares_the_first_k_episodes_with_flat_marl_on_the_same_seed():
    runs = {
        REFERENCE: {0: [[_ep(0.5)] * 4, [_ep(0.4)] * 2 + [_ep(1.0)] * 2]},
        "mine": {0: [[_ep(0.5)] * 4, [_ep(0.6)] * 2 + [_ep(0.0)] * 2]},
    }
    report = aggregate(["base", "A1"], runs, k=2)
    mine = report["mine"]
    assert mine["phases"][1]["jumpstart"]["mean"] == pytest.approx((0.6 - 0.4) / 0.4)
    assert mine["phases"][0]["jumpstart"]["mean"] == pytest.approx(0.0)
    # overall jumpstart is over the shift phases only
    assert mine["overall"]["jumpstart"]["mean"] == pytest.approx(0.5)
    assert report[REFERENCE]["overall"]["jumpstart"]["mean"] == pytest.approx(0.0)
    # availability is over every episode of the phase
    assert mine["phases"][1]["availability"]["mean"] == pytest.approx(0.3)


def test_figures_are_means_over_seeds_with_a_student_t_interval():
    runs = {REFERENCE: {s: [[_ep(a)]] for s, a in enumerate((0.2, 0.4, 0.6))}}
    cell = aggregate(["base"], runs)[REFERENCE]["phases"][0]["availability"]
    assert cell["mean"] == pytest.approx(0.4)
    assert cell["ci95"] == pytest.approx(4.302652729911275 * 0.2 / math.sqrt(3))


def test_hvn_loss_rate_and_return_are_averaged_per_phase_and_every_metric_is_reported():
    runs = {REFERENCE: {0: [[_ep(1.0, lost=True, ret=-10.0), _ep(1.0, ret=2.0)]]}}
    phase = aggregate(["base"], runs)[REFERENCE]["phases"][0]
    assert set(METRICS) <= set(phase)
    assert phase["hvn_loss_rate"]["mean"] == 0.5
    assert phase["episode_return"]["mean"] == -4.0
    assert phase["hvn_loss_rate"]["ci95"] == 0.0  # one seed: no spread


def test_jumpstart_is_undefined_when_flat_marl_has_no_availability_to_compare_with():
    runs = {REFERENCE: {0: [[_ep(0.0)]]}, "mine": {0: [[_ep(0.5)]]}}
    assert aggregate(["base"], runs)["mine"]["phases"][0]["jumpstart"] == {"mean": None, "ci95": None}
