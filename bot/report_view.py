"""Posture reports out: as Markdown plus PNGs in a folder (``cyberops report``), and as a chat post
with its pictures (report now, and the scheduled runs).

The content comes from :func:`graph.posture.build_report`; the pictures from ``twin.render``.
Each report's scorecard is saved, so the next one for the same place shows trend arrows.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from graph.posture import PostureReport, build_report, markdown
from twin.errors import InputError

if TYPE_CHECKING:
    from graph.runtime import Defence
    from bot.surface import Surface


def make_report(defence: Defence, *, scope: str) -> tuple[PostureReport, dict[str, bytes]]:
    """Build the report for ``scope`` and its two pictures; remembers its scorecard for the next one."""
    from twin.render import render_map, render_trend

    previous = defence.reports.last_report(scope)
    report = build_report(defence, scope=scope, previous=previous)
    sim = defence.sim
    images = {
        "map": render_map(sim.network, seen=sim.visible[0], isolated=sim.isolated[0], paths=report.path_indices,
                          title=f"{defence.scenario.name} at step {int(sim.t[0])}"),
        "trend": render_trend([m["step"] for m in report.metrics], [m["availability"] for m in report.metrics],
                              [m["seen"] for m in report.metrics], [m["isolated"] for m in report.metrics],
                              title=f"Since {report.since}"),
    }
    defence.reports.save_report(scope=scope, scorecard=report.scores())
    return report, images


def write_report(defence: Defence, out: str | Path) -> dict:
    """``cyberops report --out DIR``: report.md, map.png and trend.png in ``out``."""
    folder = Path(out)
    if folder.exists() and not folder.is_dir():
        raise InputError(str(folder), "--out", "exists and is not a folder")
    folder.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    report, images = make_report(defence, scope="cli")
    names = {key: f"{key}.png" for key in images}
    for key, data in images.items():
        (folder / names[key]).write_bytes(data)
    (folder / "report.md").write_text(markdown(report, images=names), encoding="utf-8")
    return {"out": str(folder), "files": ["report.md", *names.values()], "seconds": round(time.perf_counter() - start, 3),
            "scores": report.scores()}


def chat_text(report: PostureReport) -> str:
    """The report as one chat message (light markdown); the pictures follow as uploads."""
    lines = [f"*Posture report* — {report.at[:16]}Z (since {report.since[:16]}Z)", report.summary, ""]
    lines += [f"*{s.name}* {s.value}/100 {s.trend} — {s.figure}" for s in report.scorecard]
    if report.open_incidents:
        lines.append("*Open incidents:* " + "; ".join(
            f"{i['id']}{' (waiting for approval)' if i['waiting_for'] else ''}" for i in report.open_incidents))
    if report.actions:
        lines.append(f"*Actions in the period:* {len(report.actions)}, last: "
                     + "; ".join(f"{a['kind']} {', '.join(a['targets'])} (by {a['approved_by']})"
                                 for a in report.actions[-3:]))
    if report.paths:
        lines.append("*Top risks:* " + " | ".join(" → ".join(p) for p in report.paths))
    lines.append("*Recommendations:*")
    lines += [f"• {r}" for r in report.recommendations]
    return "\n".join(lines)


IMAGE_TITLES = {"map": "Map of the twin", "trend": "Availability and compromises"}
CHAT_ACTIONS = 5  # actions a chat post lists (the newest); its title says how many there were
CHAT_TARGETS = 5  # targets named per action


def period(report: PostureReport) -> str:
    """``2026-12-04 09:00Z, since 2026-12-03 09:00Z``."""
    return f"{report.at[:16].replace('T', ' ')}Z, since {report.since[:16].replace('T', ' ')}Z"


def report_sections(report: PostureReport, *, actions: int = CHAT_ACTIONS) -> list[tuple[str, list[str]]]:
    """The parts after the scorecard as ``(title, lines)`` in light markdown, for each surface to lay out
    within its own limits: open incidents, the newest actions and who approved them, top risks, recommendations."""
    incidents = [f"`{i['id']}` {i['title']}{' — waiting for approval' if i['waiting_for'] else ''}"
                 for i in report.open_incidents]
    shown = report.actions[-actions:] if actions > 0 else []
    done = [f"{a['at'][:16].replace('T', ' ')}Z {a['kind']} {_targets(a['targets'])} ({a['incident']}) — "
            f"approved by {a['approved_by']}" for a in reversed(shown)]
    title = f"Actions in the period ({len(report.actions)}" + (
        f", newest {len(shown)} shown)" if len(shown) < len(report.actions) else ")")
    risks = [f"Attack path: {' → '.join(p)}" for p in report.paths]
    risks += [f"`{v['host']}` ({v['role']}, {v['subnet']}) vulnerability {v['vulnerability']:.2f}"
              f"{', entry point' if v['entry'] else ''}" for v in report.vulnerable]
    return [(f"Open incidents ({len(incidents)})", incidents or ["None."]), (title, done or ["None."]),
            ("Top risks", risks or ["None."]), ("Recommendations", list(report.recommendations) or ["None."])]


def _targets(targets: list[str]) -> str:
    more = len(targets) - CHAT_TARGETS
    return ", ".join(f"`{t}`" for t in targets[:CHAT_TARGETS]) + (f" and {more} more" if more > 0 else "")


def post_report(defence: Defence, surface: Surface, channel: str) -> str:
    """Post a report in ``channel``; returns the message (or thread) id.

    A surface with its own layout (``post_report``: Block Kit, an embed, a table) gets the report and
    its pictures; any other gets the text as a thread, then the map and the trend chart uploaded into it.
    """
    report, images = make_report(defence, scope=f"{surface.name}:{channel}")
    laid_out = getattr(surface, "post_report", None)
    if callable(laid_out):
        return laid_out(channel, report, images)
    thread = surface.open_thread(channel, chat_text(report))
    for key, data in images.items():
        surface.upload(channel, thread, f"{key}.png", data, IMAGE_TITLES.get(key, key))
    return thread
