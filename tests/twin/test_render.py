"""Pictures for posture reports: the network map, its attack paths, the trend chart."""

from __future__ import annotations

import io
import time
from datetime import datetime, timedelta

import matplotlib.image
import numpy as np
import pytest
from matplotlib.collections import PathCollection
from matplotlib.patches import Wedge

from twin.build import build_network
from twin import render
from twin.render import attack_paths, draw_map, map_mode, render_map, render_trend
from twin.scenario import load_scenario
from twin.topology import assemble, tree

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAP_PIXELS = (880, 1320)  # 12 x 8 inches at 110 dpi
TREND_PIXELS = (506, 1100)  # 10 x 4.6 inches


def decoded(png: bytes) -> np.ndarray:
    assert png.startswith(PNG_SIGNATURE)
    return matplotlib.image.imread(io.BytesIO(png), format="png")


def flags(n: int, *hosts: int) -> np.ndarray:
    mask = np.zeros(n, dtype=bool)
    mask[list(hosts)] = True
    return mask


@pytest.fixture(scope="module")
def demo():
    return build_network(load_scenario("demo"))


@pytest.fixture(scope="module")
def big():
    rng = np.random.default_rng(11)
    return assemble([tree(500, rng) for _ in range(10)], entry=2, high_value=2, gateway_links=3, rng=rng)


# ------------------------------------------------------------------ attack paths
def chain(tiny_network, **kw):
    """a - b - c - d (high value), with a shortcut-free spur b - e; a is the entry host."""
    return tiny_network([("a", "b"), ("b", "c"), ("c", "d"), ("b", "e")], entry=("a",), high_value=("d",), **kw)


def named(net, paths):
    return [[net.names[h] for h in p] for p in paths]


def test_attack_path_runs_from_the_seen_compromise_to_the_high_value_host(tiny_network):
    net = chain(tiny_network)
    paths = attack_paths(net, seen=flags(5, net.host("b")), isolated=flags(5))
    assert named(net, paths) == [["b", "c", "d"]]


def test_attack_paths_start_at_entry_hosts_when_no_compromise_is_seen(tiny_network):
    net = chain(tiny_network)
    assert named(net, attack_paths(net, seen=flags(5), isolated=flags(5))) == [["a", "b", "c", "d"]]


def test_isolating_a_host_on_the_only_path_cuts_it(tiny_network):
    net = chain(tiny_network)
    seen = flags(5, net.host("a"))
    assert attack_paths(net, seen=seen, isolated=flags(5, net.host("c"))) == []
    assert attack_paths(net, seen=seen, isolated=flags(5, net.host("d"))) == []  # an isolated target


def test_isolation_reroutes_over_a_longer_path_when_there_is_one(tiny_network):
    net = tiny_network([("s", "x"), ("x", "t"), ("s", "y1"), ("y1", "y2"), ("y2", "t")], high_value=("t",))
    seen = flags(net.n_nodes, net.host("s"))
    assert named(net, attack_paths(net, seen=seen, isolated=flags(net.n_nodes))) == [["s", "x", "t"]]
    cut = flags(net.n_nodes, net.host("x"))
    assert named(net, attack_paths(net, seen=seen, isolated=cut)) == [["s", "y1", "y2", "t"]]


def test_attack_paths_come_shortest_first_one_per_target_and_at_most_limit(tiny_network):
    edges = [("s", "h1"), ("s", "m"), ("m", "h2"), ("h2", "n"), ("n", "h3"), ("far", "q"), ("q", "h2")]
    net = tiny_network(edges, high_value=("h1", "h2", "h3"))
    seen = flags(net.n_nodes, net.host("s"), net.host("far"))
    paths = named(net, attack_paths(net, seen=seen, isolated=flags(net.n_nodes), limit=5))
    assert paths == [["s", "h1"], ["s", "m", "h2"], ["s", "m", "h2", "n", "h3"]]
    assert len(attack_paths(net, seen=seen, isolated=flags(net.n_nodes), limit=2)) == 2
    assert attack_paths(net, seen=seen, isolated=flags(net.n_nodes), limit=0) == []


def test_an_isolated_compromise_is_no_source_and_a_seen_high_value_host_is_a_zero_hop_path(tiny_network):
    net = chain(tiny_network)
    isolated_b = flags(5, net.host("b"))
    # b is contained, so the map falls back to the entry host, whose path runs through b: none
    assert attack_paths(net, seen=flags(5, net.host("b")), isolated=isolated_b) == []
    assert named(net, attack_paths(net, seen=flags(5, net.host("d")), isolated=flags(5))) == [["d"]]


def test_attack_paths_take_a_simulator_row_and_reject_a_wrong_shape(tiny_network):
    net = chain(tiny_network)
    row = flags(5, net.host("c"))[None, :]
    assert named(net, attack_paths(net, seen=row, isolated=np.zeros((1, 5), bool))) == [["c", "d"]]
    with pytest.raises(ValueError, match="one flag per host"):
        attack_paths(net, seen=np.zeros(4, bool), isolated=flags(5))


def test_attack_paths_stay_fast_on_ten_thousand_hosts():
    rng = np.random.default_rng(3)
    net = assemble([tree(1000, rng) for _ in range(10)], entry=2, high_value=2, gateway_links=10, rng=rng)
    start = time.perf_counter()
    paths = attack_paths(net, seen=flags(net.n_nodes), isolated=flags(net.n_nodes), limit=3)
    assert time.perf_counter() - start < 1.0
    assert len(paths) == 3 and all(net.high_value[p[-1]] and net.entry[p[0]] for p in paths)


# ----------------------------------------------------------------------- the map
def test_demo_map_is_a_png_of_the_fixed_size_with_every_host_drawn(demo):
    n = demo.n_nodes
    seen, isolated = flags(n, 3, 40, 200), flags(n, 41)
    paths = attack_paths(demo, seen=seen, isolated=isolated)
    assert paths
    png = render_map(demo, seen=seen, isolated=isolated, paths=paths, title="demo")
    assert decoded(png).shape[:2] == MAP_PIXELS
    fig = draw_map(demo, seen=seen, isolated=isolated, paths=paths)
    ax = fig.axes[0]
    assert ax.get_gid() == "map-hosts"
    drawn = sum(len(c.get_offsets()) for c in ax.collections if isinstance(c, PathCollection))
    assert drawn == n
    labels = {t.get_text() for t in ax.texts}
    assert {demo.names[h] for h in np.flatnonzero(demo.high_value)} <= labels
    assert set(demo.subnets) <= labels


def test_the_same_state_gives_the_same_picture(demo):
    seen = flags(demo.n_nodes, 5, 60)
    one = render_map(demo, seen=seen, isolated=flags(demo.n_nodes))
    two = render_map(demo, seen=seen.copy(), isolated=flags(demo.n_nodes))
    assert one == two


def test_map_switches_to_one_ring_per_subnet_above_the_detail_limit(demo):
    assert map_mode(demo, 1500) == "hosts"
    assert map_mode(demo, demo.n_nodes) == "hosts"
    assert map_mode(demo, demo.n_nodes - 1) == "subnets"
    fig = draw_map(demo, seen=flags(demo.n_nodes, 0), isolated=flags(demo.n_nodes), detail_limit=100)
    ax = fig.axes[0]
    assert ax.get_gid() == "map-subnets"
    assert not any(isinstance(c, PathCollection) for c in ax.collections)  # no host dots
    ringed = {tuple(p.center) for p in ax.patches if isinstance(p, Wedge)}
    assert len(ringed) == demo.n_subnets


def test_five_thousand_host_map_aggregates_and_renders_fast(big):
    n = big.n_nodes
    assert n == 5000 and map_mode(big) == "subnets"
    seen = flags(n, *range(0, n, 97))
    isolated = flags(n, *range(1, n, 250))
    start = time.perf_counter()
    paths = attack_paths(big, seen=seen, isolated=isolated)
    png = render_map(big, seen=seen, isolated=isolated, paths=paths, title="5,000 hosts")
    assert time.perf_counter() - start < 8.0
    assert decoded(png).shape[:2] == MAP_PIXELS
    fig = draw_map(big, seen=seen, isolated=isolated, paths=paths)
    texts = " ".join(t.get_text() for t in fig.axes[0].texts)
    assert all(name in texts for name in big.subnets)
    assert f"{int((seen[:500] & ~isolated[:500]).sum())} seen" in texts


def test_map_rejects_state_of_another_network_and_paths_off_the_map(tiny_network):
    net = chain(tiny_network)
    with pytest.raises(ValueError, match="one flag per host"):
        render_map(net, seen=np.zeros(6, bool), isolated=flags(5))
    with pytest.raises(ValueError, match="host indices"):
        render_map(net, seen=flags(5), isolated=flags(5), paths=[[0, 9]])


def test_a_tiny_network_renders_in_both_modes(tiny_network):
    net = chain(tiny_network, subnet={"d": "vault", "c": "vault"})
    seen, isolated = flags(5, net.host("b")), flags(5, net.host("e"))
    paths = attack_paths(net, seen=seen, isolated=isolated)
    assert named(net, paths) == [["b", "c", "d"]]  # across the gateway link into the vault
    for limit in (1500, 0):
        png = render_map(net, seen=seen, isolated=isolated, paths=paths, detail_limit=limit)
        assert decoded(png).shape[:2] == MAP_PIXELS


def test_render_exports_exactly_its_public_names():
    assert sorted(render.__all__) == sorted(n for n in vars(render) if not n.startswith("_") and n not in
                                            {"annotations"})
    assert {"attack_paths", "render_map", "render_trend", "map_mode", "draw_map"} <= set(render.__all__)


# --------------------------------------------------------------------- the trend
def test_trend_chart_is_a_png_for_steps_and_for_datetimes():
    steps = list(range(12))
    availability = np.linspace(1.0, 0.6, 12)
    png = render_trend(steps, availability, [0, 1, 2, 2, 3, 3, 4, 4, 4, 5, 5, 5], [0] * 6 + [1] * 6)
    assert decoded(png).shape[:2] == TREND_PIXELS
    times = [datetime(2026, 3, 1, 9) + timedelta(minutes=15 * i) for i in steps]
    assert decoded(render_trend(times, availability * 100, steps, steps, title="ops")).shape[:2] == TREND_PIXELS


def test_trend_chart_without_data_says_so_instead_of_failing():
    empty = render_trend([], [], [], [])
    one = render_trend([0], [1.0], [0], [0])
    assert decoded(empty).shape[:2] == TREND_PIXELS
    assert decoded(one).shape[:2] == TREND_PIXELS
    assert empty != one


def test_trend_chart_rejects_series_of_different_lengths():
    with pytest.raises(ValueError, match="availability has 2 values but there are 3 steps"):
        render_trend([0, 1, 2], [1.0, 0.9], [0, 0, 1], [0, 0, 0])
