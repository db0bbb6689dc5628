"""The conversation's answers that only read or report: status, incidents, hosts, posture reports.

:class:`Answers` is mixed into :class:`bot.conversation.Conversation` (it uses its
``defence``, ``surfaces``, ``scheduler`` and ``paused``).
"""

from __future__ import annotations

import logging
import sqlite3

from bot import replies
from bot.surface import Message, Reply
from memory.store import MemoryUnavailable

log = logging.getLogger("bot.conversation")


class Answers:
    """Read-only commands of :class:`~bot.conversation.Conversation`."""

    def _report(self, msg: Message, rest: str) -> Reply:
        """``report [now] | schedule WHEN | list | cancel ID``."""
        from bot.report_view import post_report
        from bot.schedules import EXAMPLE, ScheduleError

        word, _, arg = rest.partition(" ")
        if word in ("", "now"):
            if msg.surface not in self.surfaces:
                return Reply("I can't post here.")
            post_report(self.defence, self.surfaces[msg.surface], msg.channel)
            return Reply("Posted the posture report.")
        if self.scheduler is None:
            return Reply("Scheduled reports need `cyberops serve` (the scheduler is not running here).")
        if word == "schedule":
            try:
                schedule, when = self.scheduler.add(surface=msg.surface, channel=msg.channel, text=arg,
                                                    who=f"{msg.surface}:{msg.user}")
            except ScheduleError as exc:
                return Reply(str(exc))
            return Reply(f"Scheduled posture report #{schedule.id}: {schedule.text} ({schedule.timezone}); "
                         f"next on {when}. `report cancel {schedule.id}` stops it.", ephemeral=False)
        if word == "list":
            found = self.scheduler.reports.schedules(surface=msg.surface, channel=msg.channel)
            if not found:
                return Reply(f"No report is scheduled here. Try {EXAMPLE}.")
            return Reply("\n".join(f"#{s.id}: {s.text} ({s.timezone}), next on {self.scheduler.next_run(s.id)}, "
                                    f"by {s.created_by}" for s in found))
        if word == "cancel":
            if not arg.strip().lstrip("#").isdigit():
                return Reply("Say `report cancel ID` with the number from `report list`.")
            ok = self.scheduler.cancel(int(arg.strip().lstrip("#")))
            return Reply(f"Cancelled report #{arg.strip().lstrip('#')}." if ok else "No such scheduled report.",
                         ephemeral=not ok)
        return Reply(f"Say `report now`, `report list`, `report cancel ID` or {EXAMPLE}.")

    def _status(self) -> str:
        perception, _ = self.defence.perceive()  # the twin, in this process: always there
        try:
            rows = []
            for row in self.defence.short.incidents(status="open"):
                rows.append(row | {"pending": self.defence.status(row["id"]).pending is not None})
            paused = self.paused
        except (sqlite3.Error, MemoryUnavailable) as exc:  # memory unreadable: the twin still answers
            log.warning("status without memory: %s", exc)
            return (replies.status_text(perception.summary, [], False).rsplit("\n", 1)[0]
                    + "\n_My memory can't be read right now, so open incidents are not listed._")
        return replies.status_text(perception.summary, rows, paused)

    def _incidents(self) -> str:
        rows = self.defence.short.incidents()[-10:]
        if not rows:
            return "No incident yet."
        lines = []
        for row in reversed(rows):
            record = self.defence.long.incident_record(row["id"])
            outcome = f" — {record['outcome']}" if record else ""
            lines.append(f"`{row['id']}` {row['status']} (opened {row['opened_at'][:16]}Z) {row['title']}{outcome}")
        return "\n".join(lines)

    def _hosts(self, subnet: str) -> str:
        net = self.defence.sim.network
        if subnet and subnet not in net.subnets:
            return f"No subnet {subnet!r}; subnets: {', '.join(net.subnets)}."
        box_rows = []
        for i, name in enumerate(net.names):
            if subnet and net.subnets[net.subnet_of[i]] != subnet:
                continue
            box_rows.append({"host": name, "subnet": net.subnets[net.subnet_of[i]], "role": net.roles[i],
                             "entry": bool(net.entry[i]), "high_value": bool(net.high_value[i]),
                             "isolated": bool(self.defence.sim.isolated[0, i]),
                             "seen_compromised": bool(self.defence.sim.visible[0, i])})
        box_rows.sort(key=lambda r: (not r["seen_compromised"], not r["high_value"], not r["entry"]))
        return replies.hosts_text(box_rows)
