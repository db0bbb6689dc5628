"""Scheduled posture reports: parse "every weekday at 09:00" (or a crontab line), keep schedules in
SQLite, and run them with APScheduler.

Jobs have stable ids (``report-<id>``), coalesce missed runs into one, and get a misfire
grace time; at start every saved schedule becomes a job again, so a restart loses none.
Each run posts under a key made of the schedule id and the minute it was due, so a
restart or a second process in the same minute never posts it twice.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

from graph.intent_schedule import parse_schedule
from memory.chat import ChatMemory
from memory.reports import ReportMemory, Schedule

log = logging.getLogger(__name__)

MISFIRE_GRACE_SECONDS = 600
_DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")
_CRON_LINE = re.compile(r"^\s*(\S+\s+){4}\S+\s*$")
EXAMPLE = "`report schedule every weekday at 09:00` (or a crontab line such as `report schedule 0 9 * * 1-5`)"


class ScheduleError(ValueError):
    """A schedule that can't be understood; the message says what was understood and gives an example."""


def trigger_for(cron: str, timezone: str) -> CronTrigger:
    """An APScheduler trigger for a standard five-field crontab line (0 or 7 = Sunday, as in cron).

    APScheduler 3 numbers weekdays from Monday = 0, so numeric weekdays are spelled out first.
    """
    fields = cron.split()
    if len(fields) != 5:
        raise ScheduleError(f"a crontab line has five fields (minute hour day month weekday), not {len(fields)}")
    fields[4] = re.sub(r"\d+", lambda m: _DAY_NAMES[int(m.group())] if int(m.group()) < 8 else m.group(), fields[4])
    minute, hour, day, month, weekday = fields
    try:
        return CronTrigger(minute=minute, hour=hour, day=day, month=month, day_of_week=weekday,
                           timezone=_zone(timezone))
    except ValueError as exc:
        raise ScheduleError(f"{cron!r} is not a valid crontab line ({exc})") from None


def understand(text: str, timezone: str) -> tuple[str, str]:
    """``(cron, description)`` for an operator's schedule, or ScheduleError saying what was understood."""
    text = text.strip()
    if _CRON_LINE.match(text):
        trigger_for(text, timezone)  # validates
        return text.strip(), f"crontab `{text.strip()}`"
    parsed = parse_schedule(text)
    if parsed is None:
        raise ScheduleError(f"I could not read a schedule in {text!r}. Try {EXAMPLE}.")
    trigger_for(parsed["cron"], timezone)
    return parsed["cron"], parsed["text"]


class ReportScheduler:
    """Runs ``post(schedule)`` for every saved schedule at its times."""

    def __init__(self, *, reports: ReportMemory, chat: ChatMemory, post: Callable[[Schedule], None],
                 timezone: str = "UTC", scheduler: BackgroundScheduler | None = None) -> None:
        self.reports, self.chat, self.post, self.timezone = reports, chat, post, timezone
        self.scheduler = scheduler or BackgroundScheduler(timezone=_zone(timezone))

    def start(self) -> int:
        """Rebuild a job for every saved schedule and start; returns how many."""
        schedules = self.reports.schedules()
        for schedule in schedules:
            self._add_job(schedule)
        self.scheduler.start()
        return len(schedules)

    def shutdown(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)

    def add(self, *, surface: str, channel: str, text: str, who: str) -> tuple[Schedule, str]:
        """Save and start a schedule; returns it and its next run in words."""
        cron, description = understand(text, self.timezone)
        schedule_id = self.reports.add_schedule(surface=surface, channel=channel, cron=cron,
                                                timezone=self.timezone, text=description, who=who)
        schedule = next(s for s in self.reports.schedules() if s.id == schedule_id)
        job = self._add_job(schedule)
        return schedule, self._when(job)

    def cancel(self, schedule_id: int) -> bool:
        if not self.reports.cancel_schedule(schedule_id):
            return False
        if self.scheduler.get_job(f"report-{schedule_id}"):
            self.scheduler.remove_job(f"report-{schedule_id}")
        return True

    def next_run(self, schedule_id: int) -> str:
        return self._when(self.scheduler.get_job(f"report-{schedule_id}"))

    def run_due(self, schedule_id: int, *, due: datetime | None = None) -> bool:
        """Post the report of ``schedule_id`` for the run due at ``due`` (now), once; False if done already."""
        schedule = next((s for s in self.reports.schedules() if s.id == schedule_id), None)
        if schedule is None:
            return False
        due = due or datetime.now(_zone(schedule.timezone))
        if not self.chat.first_delivery(f"report:{schedule_id}:{due:%Y-%m-%dT%H:%M}"):
            return False
        try:
            self.post(schedule)
        except Exception:  # a failed post must not kill the scheduler; the next run tries again
            log.exception("posting scheduled report %s failed", schedule_id)
        return True

    def _add_job(self, schedule: Schedule):
        return self.scheduler.add_job(
            self.run_due, trigger_for(schedule.cron, schedule.timezone), args=[schedule.id],
            id=f"report-{schedule.id}", replace_existing=True, coalesce=True, max_instances=1,
            misfire_grace_time=MISFIRE_GRACE_SECONDS)

    @staticmethod
    def _when(job) -> str:
        if job is None:
            return "not scheduled"
        when = getattr(job, "next_run_time", None)
        if when is None:  # scheduler not started yet: ask the trigger
            when = job.trigger.get_next_fire_time(None, datetime.now(job.trigger.timezone))
        return when.strftime("%a %Y-%m-%d %H:%M %Z") if when else "never"


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(f"unknown time zone {name!r} (CYBEROPS_TZ); use an IANA name such as Europe/Paris") from None
