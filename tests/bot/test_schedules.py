"""Report schedules: natural phrases and crontab lines, persistence across a restart, one post per due
minute, misfire grace and coalescing (APScheduler with our stable job ids)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from apscheduler.schedulers.background import BackgroundScheduler

from bot.schedules import MISFIRE_GRACE_SECONDS, ReportScheduler, ScheduleError, trigger_for, understand
from memory.chat import ChatMemory
from memory.reports import ReportMemory
from memory.store import open_store

FRIDAY_10 = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)


@pytest.mark.parametrize(("text", "cron"), [
    ("every weekday at 09:00", "0 9 * * 1-5"),
    ("send the posture report here every weekday at 9", "0 9 * * 1-5"),
    ("daily at 18:30", "30 18 * * *"),
    ("every monday 8am", "0 8 * * 1"),
    ("every 2 hours", "0 */2 * * *"),
    ("0 9 * * 1-5", "0 9 * * 1-5"),
])
def test_phrases_and_crontab_lines_become_cron(text, cron):
    assert understand(text, "UTC")[0] == cron


@pytest.mark.parametrize(("cron", "after", "expected"), [
    ("0 9 * * 1-5", FRIDAY_10, datetime(2026, 12, 7, 9, 0, tzinfo=UTC)),  # Friday 10:00 -> Monday 09:00
    ("0 9 * * 0", FRIDAY_10, datetime(2026, 12, 6, 9, 0, tzinfo=UTC)),  # 0 is Sunday, as in cron
    ("0 9 * * 7", FRIDAY_10, datetime(2026, 12, 6, 9, 0, tzinfo=UTC)),  # so is 7
    ("0 */2 * * *", FRIDAY_10 + timedelta(minutes=30), datetime(2026, 12, 4, 12, 0, tzinfo=UTC)),
])
def test_weekdays_are_numbered_as_in_cron_not_as_in_apscheduler(cron, after, expected):
    assert trigger_for(cron, "UTC").get_next_fire_time(None, after) == expected


def test_times_follow_the_configured_time_zone():
    fire = trigger_for("0 9 * * *", "Europe/Paris").get_next_fire_time(None, FRIDAY_10)
    assert fire.astimezone(UTC).hour == 8  # 09:00 in Paris in December is 08:00 UTC


@pytest.mark.parametrize("text", ["at noon sometime", "whenever you like", "61 9 * * *", "0 25 * * *"])
def test_an_unreadable_schedule_says_what_was_understood_and_gives_an_example(text):
    with pytest.raises(ScheduleError) as info:
        understand(text, "UTC")
    assert "report schedule" in str(info.value) or "crontab" in str(info.value)


def test_an_unknown_time_zone_is_a_clear_error():
    with pytest.raises(ScheduleError, match="CYBEROPS_TZ"):
        trigger_for("0 9 * * *", "Mars/Olympus")


@pytest.fixture
def memory(tmp_path):
    store = open_store(tmp_path / "s.db")
    yield ReportMemory(store), ChatMemory(store)
    store.close()


def make_scheduler(memory, posted):
    reports, chat = memory
    return ReportScheduler(reports=reports, chat=chat, post=posted.append, timezone="UTC",
                           scheduler=BackgroundScheduler(timezone="UTC"))


def test_schedules_survive_a_restart_as_jobs_with_stable_ids(memory):
    posted = []
    first = make_scheduler(memory, posted)
    schedule, when = first.add(surface="slack", channel="C1", text="every weekday at 09:00", who="slack:U1")
    assert "09:00" in when
    first.start()
    first.shutdown()
    second = make_scheduler(memory, posted)  # a new process
    assert second.start() == 1
    job = second.scheduler.get_job(f"report-{schedule.id}")
    assert job is not None and job.coalesce and job.misfire_grace_time == MISFIRE_GRACE_SECONDS
    second.shutdown()


def test_a_due_run_posts_once_even_if_fired_twice_in_the_same_minute(memory):
    posted = []
    first = make_scheduler(memory, posted)
    schedule, _ = first.add(surface="slack", channel="C1", text="daily at 9", who="u")
    due = datetime(2026, 12, 7, 9, 0, 5, tzinfo=UTC)
    assert first.run_due(schedule.id, due=due)
    second = make_scheduler(memory, posted)  # restarted, or a second process
    assert not second.run_due(schedule.id, due=due + timedelta(seconds=20))
    assert second.run_due(schedule.id, due=due + timedelta(days=1))
    assert [s.id for s in posted] == [schedule.id, schedule.id]


def test_a_cancelled_schedule_is_gone_and_stays_gone_after_a_restart(memory):
    posted = []
    sched = make_scheduler(memory, posted)
    schedule, _ = sched.add(surface="discord", channel="42", text="every 2 hours", who="u")
    assert sched.cancel(schedule.id) and not sched.cancel(schedule.id)
    assert make_scheduler(memory, posted).start() == 0
    assert not sched.run_due(schedule.id)


def test_missed_runs_are_coalesced_into_one_within_the_grace_time(memory):
    """APScheduler runs a job whose runs were missed once, when inside the misfire grace time."""
    posted = []
    sched = make_scheduler(memory, posted)
    schedule, _ = sched.add(surface="slack", channel="C1", text="* * * * *", who="u")
    job = sched.scheduler.get_job(f"report-{schedule.id}")
    sched.scheduler.start(paused=True)
    now = datetime.now(UTC)
    job.modify(next_run_time=now - timedelta(minutes=3))  # three runs missed while "down"
    sched.scheduler.resume()
    deadline = now + timedelta(seconds=5)
    while not posted and datetime.now(UTC) < deadline:
        time.sleep(0.02)
    time.sleep(0.2)  # room for a (wrong) second run to show up
    sched.shutdown()
    assert len(posted) == 1
