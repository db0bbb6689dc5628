"""The network map for posture reports, and the attack paths it highlights.

Up to ``detail_limit`` hosts the map draws every host, each subnet laid out as its
own cluster (a radial tree for trees, a force layout otherwise); above it each subnet
becomes one ring chart of compromised / isolated / healthy hosts, so a 5,000-host twin stays
readable in a chat thread.  "Healthy" means neither seen compromised nor isolated: the
map shows what the defender sees, never the hidden truth.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from typing import Literal

import matplotlib.patheffects as pe
import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Circle, FancyArrowPatch, Patch, Wedge

from twin.map_layout import AXES, MAP_SIZE, host_positions, layout_of, subnet_links
from twin.network import Network
from twin.render_charts import (
    COMPROMISED, DPI, ENTRY, GATEWAY, HEALTHY, HEALTHY_SHARE, HIGH_VALUE, INK, ISOLATED, LINK, MUTED,
    png_bytes,
)

MapMode = Literal["hosts", "subnets"]
MAX_HOST_LABELS = 24
_HALO = [pe.withStroke(linewidth=2.5, foreground="white")]


# ------------------------------------------------------------------ attack paths
def attack_paths(
    network: Network, *, seen: np.ndarray, isolated: np.ndarray, limit: int = 3
) -> list[list[int]]:
    """Shortest paths over up links from the attacker's foothold to high-value hosts.

    Sources are the seen-compromised hosts that are still linked (not isolated), or
    the linked entry hosts when there are none; targets are linked high-value hosts.
    One multi-source BFS; one path per target, shortest first, at most ``limit``.
    """
    n = network.n_nodes
    seen, isolated = _host_mask(seen, n, "seen"), _host_mask(isolated, n, "isolated")
    up = ~isolated
    sources = np.flatnonzero(seen & up)
    if sources.size == 0:
        sources = np.flatnonzero(network.entry & up)
    target = (network.high_value & up).tolist()
    if limit <= 0 or sources.size == 0 or not any(target):
        return []
    indptr, indices, linked = network.csr_indptr.tolist(), network.csr_indices.tolist(), up.tolist()
    parent = [-2] * n  # -2: not reached yet; -1: a source
    for s in sources.tolist():
        parent[s] = -1
    queue, found = deque(sources.tolist()), []
    while queue and len(found) < limit:
        u = queue.popleft()  # BFS pops in order of distance: targets come shortest first
        if target[u]:
            found.append(u)
        for v in indices[indptr[u] : indptr[u + 1]]:
            if parent[v] == -2 and linked[v]:
                parent[v] = u
                queue.append(v)
    paths = []
    for t in found:
        path = [t]
        while parent[path[-1]] >= 0:
            path.append(parent[path[-1]])
        paths.append(path[::-1])
    return paths


def _host_mask(values: np.ndarray, n: int, name: str) -> np.ndarray:
    mask = np.asarray(values, dtype=bool)
    if mask.ndim == 2 and mask.shape[0] == 1:  # one row of a simulator's (B, N) state
        mask = mask[0]
    if mask.shape != (n,):
        raise ValueError(f"{name} must have one flag per host, shape ({n},), not {mask.shape}")
    return mask


# ------------------------------------------------------------------------ layout
def map_mode(network: Network, detail_limit: int = 1500) -> MapMode:
    """``"hosts"`` (every host drawn) up to ``detail_limit`` hosts, else ``"subnets"``."""
    return "hosts" if network.n_nodes <= detail_limit else "subnets"


def render_map(
    network: Network,
    *,
    seen: np.ndarray,
    isolated: np.ndarray,
    paths: Sequence[Sequence[int]] = (),
    title: str = "",
    detail_limit: int = 1500,
) -> bytes:
    """The map as PNG bytes (see :func:`draw_map`)."""
    return png_bytes(draw_map(
        network, seen=seen, isolated=isolated, paths=paths, title=title, detail_limit=detail_limit
    ))


def draw_map(
    network: Network,
    *,
    seen: np.ndarray,
    isolated: np.ndarray,
    paths: Sequence[Sequence[int]] = (),
    title: str = "",
    detail_limit: int = 1500,
) -> Figure:
    """The map as a matplotlib figure; its axes' gid says the mode (``map-hosts``/``map-subnets``).

    ``seen`` and ``isolated`` are per-host flags (``(N,)`` or one ``(1, N)`` row of the
    simulator's state); ``paths`` are host-index lists, e.g. from :func:`attack_paths`.
    """
    n = network.n_nodes
    seen, isolated = _host_mask(seen, n, "seen"), _host_mask(isolated, n, "isolated")
    paths = [[int(h) for h in p] for p in paths if len(p)]
    if any(not 0 <= h < n for p in paths for h in p):
        raise ValueError(f"attack paths must use host indices 0..{n - 1}")
    mode = map_mode(network, detail_limit)
    fig = Figure(figsize=MAP_SIZE, dpi=DPI)
    FigureCanvasAgg(fig)  # a renderer to measure labels with
    ax = fig.add_axes(AXES, gid=f"map-{mode}")
    ax.set_axis_off()
    ax.set_aspect("equal")
    draw = _draw_hosts if mode == "hosts" else _draw_subnets
    handles = draw(ax, network, seen, isolated, paths)
    if mode == "hosts":
        ax.margins(0.05)
        ax.autoscale_view()
    ax.apply_aspect()
    if mode == "hosts":
        _label_hosts(ax, network, seen, paths)
    fig.text(0.015, 0.955, title or "Network map", fontsize=15, fontweight="bold", color=INK, va="center")
    fig.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.79, 0.9), frameon=False,
               fontsize=9.5, labelspacing=1.0, borderaxespad=0, handlelength=2.2)
    caption, path_line = _caption(network, seen, isolated, paths, mode)
    fig.text(0.015, 0.05, caption, fontsize=10, color=INK)
    fig.text(0.015, 0.02, path_line, fontsize=9, color=COMPROMISED if paths else MUTED)
    return fig


def _caption(net: Network, seen: np.ndarray, isolated: np.ndarray, paths: list[list[int]],
             mode: MapMode) -> tuple[str, str]:
    active = int((seen & ~isolated).sum())
    iso = int(isolated.sum())
    hvn_hit = int((seen & net.high_value).sum())
    line = (f"{net.n_nodes:,} hosts in {net.n_subnets} subnets  ·  {active} seen compromised  ·  "
            f"{iso} isolated  ·  {net.n_nodes - active - iso:,} healthy  ·  "
            f"{int(net.high_value.sum())} high-value ({hvn_hit} seen compromised)")
    if mode == "subnets":
        line += "  ·  one ring per subnet"
    if not paths:
        return line, "No open attack path to a high-value host is shown."
    best = paths[0]
    plural = "s" if len(paths) > 1 else ""
    if len(best) == 1:
        lost = net.names[best[0]]
        return line, f"{len(paths)} attack path{plural} drawn; high-value host {lost} is seen compromised"
    if mode == "subnets":
        hops = [net.subnets[int(net.subnet_of[best[0]])]]
        for h in best[1:]:
            name = net.subnets[int(net.subnet_of[h])]
            if name != hops[-1]:
                hops.append(name)
        hops = [net.names[best[0]], *hops, net.names[best[-1]]]
    else:
        hops = [net.names[h] for h in best]
    if len(hops) > 7:
        hops = [*hops[:3], "…", *hops[-3:]]
    hop_count = f"{len(best) - 1} hop{'s' if len(best) != 2 else ''}"
    return line, (f"{len(paths)} attack path{plural} drawn; shortest ({hop_count}): "
                  + " → ".join(hops))


def _marker(marker: str, label: str, face: str, edge: str = "none", size: float = 8) -> Line2D:
    return Line2D([], [], linestyle="none", marker=marker, markersize=size, markerfacecolor=face,
                  markeredgecolor=edge, label=label)


def _state_colours(mask: np.ndarray, seen: np.ndarray, isolated: np.ndarray, base: str):
    """Face and edge colour per host: red when seen compromised, hollow when isolated."""
    s, i = seen[mask], isolated[mask]
    face = np.where(i, "white", np.where(s, COMPROMISED, base))
    edge = np.where(i, np.where(s, COMPROMISED, ISOLATED), np.where(s, "white", INK))
    return face, edge


def _draw_hosts(ax: Axes, net: Network, seen: np.ndarray, isolated: np.ndarray,
                paths: list[list[int]]) -> list:
    pos = host_positions(net)
    layout = layout_of(net)
    centres, radii = layout.centres, layout.host_radii(net)
    for s in range(net.n_subnets):
        ax.add_patch(Circle(centres[s], radii[s] * 1.1, facecolor="#F3F5F7", edgecolor="none", zorder=0))
        sl = net.subnet_slice(s)
        ax.text(*(centres[s] + [0, radii[s] * 1.14]), net.subnets[s], ha="center", va="bottom",
                fontsize=11, fontweight="bold", color=INK, zorder=6, path_effects=_HALO)
        counts = f"{sl.stop - sl.start} hosts · {int((seen[sl] & ~isolated[sl]).sum())} seen · " \
                 f"{int(isolated[sl].sum())} isolated"
        ax.text(*(centres[s] - [0, radii[s] * 1.14]), counts, ha="center", va="top", fontsize=8.5,
                color=MUTED, zorder=6, path_effects=_HALO)

    segs = pos[net.edges]
    down = isolated[net.edges].any(axis=1)
    inner = ~net.gateway
    ax.add_collection(LineCollection(segs[inner & ~down], colors=LINK, linewidths=0.7, zorder=1))
    ax.add_collection(LineCollection(segs[inner & down], colors=LINK, linewidths=0.7,
                                     linestyles=(0, (1, 2)), zorder=1))
    ax.add_collection(LineCollection(segs[net.gateway], colors=GATEWAY, linewidths=1.0,
                                     linestyles=(0, (5, 3)), alpha=0.7, zorder=0.5))

    dot = float(np.clip(3600 / net.n_nodes, 4, 14))
    plain = ~net.entry & ~net.high_value
    quiet = plain & ~seen & ~isolated
    ax.scatter(*pos[quiet].T, s=dot, c=HEALTHY, linewidths=0, zorder=2)
    loud = plain & ~quiet
    face, edge = _state_colours(loud, seen, isolated, HEALTHY)
    ax.scatter(*pos[loud].T, s=dot * 3.2, c=face, edgecolors=edge, linewidths=0.9, zorder=4)
    for mask, marker, size, base in ((net.entry, "^", 60, ENTRY), (net.high_value, "*", 190, HIGH_VALUE)):
        face, edge = _state_colours(mask, seen, isolated, base)
        ax.scatter(*pos[mask].T, s=size, marker=marker, c=face, edgecolors=edge, linewidths=0.7, zorder=5)

    for p in paths:
        xy = pos[p]
        ax.plot(*xy.T, color=COMPROMISED, linewidth=3.2, alpha=0.85, solid_capstyle="round",
                solid_joinstyle="round", zorder=3,
                path_effects=[pe.Stroke(linewidth=5.5, foreground="white", alpha=0.9), pe.Normal()])
    return [
        _marker("o", "host", HEALTHY, size=5),
        _marker("o", "seen compromised", COMPROMISED, "white", 8),
        _marker("o", "isolated (hollow)", "white", ISOLATED, 8),
        _marker("^", "entry host", ENTRY, INK, 9),
        _marker("*", "high-value host", HIGH_VALUE, INK, 14),
        Line2D([], [], color=COMPROMISED, linewidth=3.2, label="attack path"),
        Line2D([], [], color=LINK, linewidth=1.2, label="link"),
        Line2D([], [], color=GATEWAY, linewidth=1.2, linestyle=(0, (5, 3)), label="gateway link"),
        Line2D([], [], color=LINK, linewidth=1.2, linestyle=(0, (1, 2)), label="link down (isolation)"),
    ]


def _label_hosts(ax: Axes, net: Network, seen: np.ndarray, paths: list[list[int]]) -> None:
    """Name high-value hosts (path targets first) and path sources, dodging other labels.

    Greedy: each label tries a few offsets, outward from its cluster first, and takes
    the first that overlaps no earlier text, no entry/high-value marker and stays in
    the figure.  Needs the axes limits final, so it runs after everything else is drawn.
    """
    pos = host_positions(net)
    centres = layout_of(net).centres
    renderer = ax.figure.canvas.get_renderer()
    taken = [t.get_window_extent(renderer) for t in ax.texts]
    marked = np.flatnonzero(net.high_value | net.entry)
    marks = ax.transData.transform(pos[marked]) if marked.size else np.zeros((0, 2))
    frame = ax.figure.bbox
    sources = [p[0] for p in paths]
    ranked = [p[-1] for p in paths] + [int(h) for h in np.flatnonzero(net.high_value & seen)]
    ranked += [int(h) for h in np.flatnonzero(net.high_value)] + sources
    for h in list(dict.fromkeys(ranked))[:MAX_HOST_LABELS]:
        out = pos[h] - centres[net.subnet_of[h]]
        base = math.atan2(out[1], out[0]) if np.hypot(*out) > 1e-9 else math.pi / 2
        colour = COMPROMISED if seen[h] or (h in sources and not net.high_value[h]) else INK
        ann = ax.annotate(net.names[h], pos[h], xytext=(0, 0), textcoords="offset points", fontsize=7.5,
                          color=colour, zorder=7, path_effects=_HALO)
        others = marks[marked != h]
        first = None
        for dist, turn in [(d, t) for d in (8, 15) for t in (0, 35, -35, 70, -70, 110, -110, 180)]:
            ux, uy = math.cos(base + math.radians(turn)), math.sin(base + math.radians(turn))
            ann.xyann = (ux * dist, uy * dist)
            ann.set_ha("left" if ux > 0.35 else "right" if ux < -0.35 else "center")
            ann.set_va("bottom" if uy > 0.35 else "top" if uy < -0.35 else "center")
            box = ann.get_window_extent(renderer)
            first = first or (ann.xyann, ann.get_ha(), ann.get_va(), box)
            inside = frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1
            hits_mark = ((others[:, 0] > box.x0 - 5) & (others[:, 0] < box.x1 + 5)
                         & (others[:, 1] > box.y0 - 5) & (others[:, 1] < box.y1 + 5)).any()
            if inside and not hits_mark and not any(box.overlaps(t) for t in taken):
                break
        else:  # nowhere free: the preferred spot
            ann.xyann, ha, va, box = first
            ann.set_ha(ha)
            ann.set_va(va)
        taken.append(box)


def _draw_subnets(ax: Axes, net: Network, seen: np.ndarray, isolated: np.ndarray,
                  paths: list[list[int]]) -> list:
    layout = layout_of(net)
    centres, spacing = layout.centres, layout.spacing
    lo, hi = centres.min(axis=0) - spacing / 2, centres.max(axis=0) + spacing / 2
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    cell = spacing * min(MAP_SIZE[0] * AXES[2] / (hi - lo)[0], MAP_SIZE[1] * AXES[3] / (hi - lo)[1])  # inches
    font = float(np.clip(cell * 3.4, 5.5, 9.0))
    anchor = centres + [0.0, 0.13 * spacing]  # donut in the upper part of its cell, text below
    radii = layout.radii(net, 0.23)
    for (a, b), k in subnet_links(net).items():
        (xa, ya), (xb, yb) = anchor[a], anchor[b]
        ax.plot([xa, xb], [ya, yb], color=GATEWAY, linewidth=min(1.0 + 1.2 * k, 10), alpha=0.8,
                solid_capstyle="round", zorder=1)
        if k > 1 and net.n_subnets <= 24:
            ax.text((xa + xb) / 2, (ya + yb) / 2, f"{k} links", fontsize=font - 0.5, color=MUTED,
                    ha="center", va="center", zorder=2, path_effects=_HALO)

    on_path = np.zeros(net.n_subnets, dtype=bool)
    hops: dict[tuple[int, int], int] = {}
    for p in paths:
        subs = net.subnet_of[p]
        on_path[subs] = True
        for a, b in zip(subs[:-1].tolist(), subs[1:].tolist()):
            if a != b:
                hops[(a, b)] = hops.get((a, b), 0) + 1

    for s in range(net.n_subnets):
        sl = net.subnet_slice(s)
        size = sl.stop - sl.start
        counts = np.array([(seen[sl] & ~isolated[sl]).sum(), isolated[sl].sum(), 0])
        counts[2] = size - counts[:2].sum()
        (x, y), r = anchor[s], radii[s]
        _donut(ax, anchor[s], r, counts)
        ax.text(x, y, str(counts[0]), ha="center", va="center", fontsize=font + 5, fontweight="bold",
                color=COMPROMISED if counts[0] else MUTED, zorder=6)
        if on_path[s]:
            ax.add_patch(Circle(anchor[s], r * 1.14, facecolor="none", edgecolor=COMPROMISED,
                                linewidth=2.4, zorder=4))
        ax.annotate(net.subnets[s], (x, y - r * 1.2), xytext=(0, -4), textcoords="offset points",
                    ha="center", va="top", fontsize=font + 2, fontweight="bold", color=INK, zorder=6)
        if net.n_subnets <= 24:
            hvn = [net.names[h] for h in np.flatnonzero(net.high_value[sl]) + sl.start]
            hit = int((net.high_value[sl] & seen[sl]).sum())
            lines = [f"{size:,} hosts · {counts[0]} seen · {counts[1]} isolated",
                     f"▲ {int(net.entry[sl].sum())} entry · ★ {len(hvn)} high-value"
                     + (f" ({hit} seen!)" if hit else "")]
            if len(hvn) <= 3:
                lines += [", ".join(hvn[i : i + 2]) for i in range(0, len(hvn), 2)]
        else:  # crowded: the number in the ring already says how many are seen
            lines = [f"{size:,} hosts" + (f" · {counts[1]} isol." if counts[1] else "")]
        ax.annotate("\n".join(lines), (x, y - r * 1.2), xytext=(0, -font * 1.9 - 4),
                    textcoords="offset points", ha="center", va="top", fontsize=font, color=MUTED,
                    zorder=6, linespacing=1.35)

    for (a, b), k in hops.items():
        u = (anchor[b] - anchor[a]) / np.hypot(*(anchor[b] - anchor[a]))
        ax.add_patch(FancyArrowPatch(
            anchor[a] + u * radii[a] * 1.2, anchor[b] - u * radii[b] * 1.2, arrowstyle="-|>",
            mutation_scale=22, linewidth=min(2.5 + k, 6), color=COMPROMISED,
            connectionstyle="arc3,rad=0.15", zorder=5,
        ))
    return [
        Patch(facecolor=HEALTHY_SHARE, label="healthy share"),
        Patch(facecolor=COMPROMISED, label="seen compromised share\n(number in the middle)"),
        Patch(facecolor=ISOLATED, label="isolated share"),
        Line2D([], [], color=GATEWAY, linewidth=4, label="gateway links (width ~ count)"),
        Line2D([], [], color=COMPROMISED, linewidth=3, label="attack path between subnets"),
        _marker("o", "subnet on an attack path", "none", COMPROMISED, 14),
    ]


def _donut(ax: Axes, centre: np.ndarray, radius: float, counts: np.ndarray) -> None:
    """Compromised, isolated, healthy slices; a present share never shrinks below 6 degrees."""
    degrees = 360.0 * counts / max(1, counts.sum())
    tiny = (counts > 0) & (degrees < 6.0)
    if tiny.any():  # so one compromised host still shows on a 1,000-host subnet
        degrees[tiny] = 6.0
        degrees[int(np.argmax(degrees))] -= degrees.sum() - 360.0
    ax.add_patch(Circle(centre, radius, facecolor="white", edgecolor="none", zorder=2.5))  # hides links
    start = 90.0
    for share, colour in zip(degrees, (COMPROMISED, ISOLATED, HEALTHY_SHARE)):
        if share > 0:
            ax.add_patch(Wedge(centre, radius, start, start + share, width=radius * 0.42,
                               facecolor=colour, edgecolor="white", linewidth=1.2, zorder=3))
            start += share
