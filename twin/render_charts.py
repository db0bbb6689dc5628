"""Charts for posture reports: the palette every picture shares, PNG output, the trend chart.

Matplotlib's object API only (``Figure``, never ``pyplot``): no global state and no
display, so a report job can draw from a worker thread.  The palette is Paul Tol's
colour-blind-safe "vibrant" set; every state also differs by shape or line style.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import datetime, timedelta

import numpy as np
from matplotlib.dates import ConciseDateFormatter
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, PercentFormatter

#: Shared colours (Paul Tol "vibrant"): red, orange and blue stay apart for every
#: common colour-vision deficiency; grey and the hollow marker carry "isolated".
COMPROMISED = "#CC3311"
ENTRY = "#EE7733"
HIGH_VALUE = "#DDAA33"
HEALTHY = "#4A7FB0"
HEALTHY_SHARE = "#BBCCEE"  # large areas: pale, so a thin red slice stands out
AVAILABILITY = "#0077BB"
ISOLATED = "#8C8C8C"
LINK = "#C3CCD5"
GATEWAY = "#9AA7B4"
INK = "#222222"
MUTED = "#6B6B6B"

DPI = 110
TREND_SIZE = (10.0, 4.6)  # inches


def png_bytes(fig: Figure) -> bytes:
    """The figure as PNG bytes at :data:`DPI` (no timestamps, so the same figure gives the same bytes)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return buf.getvalue()


def render_trend(
    steps: Sequence,
    availability: Sequence[float],
    seen: Sequence[float],
    isolated: Sequence[float],
    *,
    title: str = "",
) -> bytes:
    """A PNG line chart: availability (%, left axis), seen compromises and isolated hosts (right).

    ``steps`` are step numbers or datetimes.  Availability may be given as fractions
    (all values <= 1, as the simulator reports it) or as percentages.  An empty series
    gives a "no data yet" chart rather than an error.
    """
    series = {"availability": availability, "seen": seen, "isolated": isolated}
    n = len(steps)
    for name, values in series.items():
        if len(values) != n:
            raise ValueError(f"{name} has {len(values)} values but there are {n} steps")
    fig = Figure(figsize=TREND_SIZE, dpi=DPI)
    fig.suptitle(title or "Posture over time", x=0.06, ha="left", fontsize=13, fontweight="bold", color=INK)
    if n == 0:
        fig.text(0.5, 0.5, "no data yet", ha="center", va="center", fontsize=16, color=MUTED)
        fig.text(0.5, 0.41, "the chart fills in as the twin steps", ha="center", fontsize=10, color=MUTED)
        return png_bytes(fig)

    x = list(steps)
    avail = np.asarray(availability, dtype=float)
    if np.isfinite(avail).any() and np.nanmax(avail) <= 1.0:
        avail = avail * 100.0  # fractions -> percent
    marker = "o" if n <= 40 else None
    dot = 6.0 if n < 3 else 3.5

    ax = fig.add_axes((0.07, 0.2, 0.84, 0.66))
    ax.fill_between(x, avail, 0, color=AVAILABILITY, alpha=0.08, linewidth=0)
    ax.plot(x, avail, color=AVAILABILITY, linewidth=2.2, marker=marker, markersize=dot, label="availability")
    ax.set_ylim(0, 105)
    ax.yaxis.set_major_formatter(PercentFormatter(100, decimals=0))
    ax.set_ylabel("availability", color=AVAILABILITY)
    ax.tick_params(axis="y", colors=AVAILABILITY)

    counts = fig.add_axes(ax.get_position(), sharex=ax, frameon=False)
    counts.yaxis.tick_right()
    counts.yaxis.set_label_position("right")
    counts.plot(x, np.asarray(seen, dtype=float), color=COMPROMISED, linewidth=1.8,
                marker=marker, markersize=dot, label="seen compromises")
    counts.plot(x, np.asarray(isolated, dtype=float), color=ISOLATED, linewidth=1.8, linestyle="--",
                marker="s" if marker else None, markersize=dot - 0.5, label="isolated hosts")
    top = np.nanmax(np.concatenate([np.asarray(seen, float), np.asarray(isolated, float), [0.0]]))
    counts.set_ylim(0, max(4.0, float(top) * 1.15 if np.isfinite(top) else 4.0))
    counts.yaxis.set_major_locator(MaxNLocator(integer=True))
    counts.set_ylabel("hosts")
    counts.tick_params(axis="x", labelbottom=False, bottom=False)

    if isinstance(x[0], int | np.integer):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("step")
    elif isinstance(x[0], datetime | np.datetime64):
        ax.xaxis.set_major_formatter(ConciseDateFormatter(ax.xaxis.get_major_locator()))
    if n == 1:  # one point: a step or an hour either side (matplotlib would pick +-0.1 or +-2 years)
        if isinstance(x[0], datetime):
            ax.set_xlim(x[0] - timedelta(hours=1), x[0] + timedelta(hours=1))
        elif isinstance(x[0], np.datetime64):
            ax.set_xlim(x[0] - np.timedelta64(1, "h"), x[0] + np.timedelta64(1, "h"))
        else:
            ax.set_xlim(x[0] - 1, x[0] + 1)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    ax.grid(axis="y", color="#E4E4E4", linewidth=0.8)
    ax.set_axisbelow(True)

    handles = ax.get_legend_handles_labels()[0] + counts.get_legend_handles_labels()[0]
    fig.legend(handles=handles, loc="upper right", bbox_to_anchor=(0.91, 0.975), ncols=3,
               frameon=False, fontsize=9)
    last = f"now: {avail[-1]:.0f}% available · {int(np.nan_to_num(seen[-1]))} seen compromised · " \
           f"{int(np.nan_to_num(isolated[-1]))} isolated"
    fig.text(0.07, 0.035, f"{n} point{'s' if n != 1 else ''} · {last}", fontsize=9, color=MUTED)
    return png_bytes(fig)
