"""Recurring schedules in operator messages ("every weekday at 9") as 5-field cron.

Rules, not the embedding model: a schedule must be exact or absent.  Only recurring
phrases count ("at 5pm" alone is a one-off, so no schedule).  A time without am/pm is
read on the 24-hour clock ("at 9" = 09:00); a recurrence without a time runs at 09:00.
"""

from __future__ import annotations

import re

_DAY_ALIASES = {"sun": 0, "mon": 1, "tue": 2, "tues": 2, "wed": 3, "thu": 4, "thur": 4, "thurs": 4, "fri": 5, "sat": 6}
DEFAULT_HOUR = 9
_PERIOD_HOUR = {"morning": 9, "afternoon": 14, "evening": 18, "night": 22}

_DAY_WORD = r"(?:sun|mon|tues?|wed(?:nes)?|thu(?:rs?)?|fri|sat(?:ur)?)(?:day)?"
_EVERY = r"(?:every|each)"  # "on monday" alone is a one-off
_INTERVAL = re.compile(r"\bevery\s+(\d{1,3})\s*(minutes?|mins?|hours?|hrs?|days?)\b")
_HOURLY = re.compile(r"\b(?:hourly|every\s+hour|each\s+hour)\b")
_WEEKDAYS = re.compile(rf"\b(?:{_EVERY}\s+weekdays?|weekdays|monday\s+(?:to|through|-)\s+friday)\b")
_WEEKENDS = re.compile(rf"\b(?:{_EVERY}\s+weekends?|weekends)\b")
_PLURAL_DAYS = r"(?:sun|mon|tues|wednes|thurs|fri|satur)days"
_NAMED_DAYS = re.compile(rf"\b(?:{_EVERY}\s+{_DAY_WORD}(?:\s*(?:,|and|&)\s*{_DAY_WORD})*|{_PLURAL_DAYS})\b")
_ONE_DAY = re.compile(rf"\b({_DAY_WORD})s?\b")
_DAILY = re.compile(r"\b(?:daily|nightly|every\s*day|each\s+day|every\s+(?:morning|afternoon|evening|night)"
                    r"|each\s+(?:morning|afternoon|evening|night))\b")
_WEEKLY = re.compile(r"\b(?:weekly|every\s+week|each\s+week)\b")
_TIME = re.compile(
    r"\b(?:at\s+)?(?P<h>\d{1,2})(?::(?P<m>\d{2}))?\s*(?P<ap>am|pm|a\.m\.|p\.m\.)"  # 8am, 5:30 pm
    r"|\b(?P<h2>\d{1,2}):(?P<m2>\d{2})\b"                                           # 09:00
    r"|\bat\s+(?P<h3>\d{1,2})(?:h|\s*o'?clock)?\b(?![.:]\d)"                         # at 9
    r"|\b(?P<word>noon|midday|midnight)\b"
)
_PERIOD = re.compile(r"\b(morning|afternoon|evening|night)\b")


def _time(text: str) -> tuple[int, int, tuple[int, int]] | None:
    """(hour, minute, span) of the first clock time in ``text``, or None."""
    for m in _TIME.finditer(text):
        if m.group("word"):
            hour = 0 if m.group("word") == "midnight" else 12
            return hour, 0, m.span()
        raw_h = m.group("h") or m.group("h2") or m.group("h3")
        minute = int(m.group("m") or m.group("m2") or 0)
        hour = int(raw_h)
        ap = (m.group("ap") or "").replace(".", "")
        if ap:
            if not 1 <= hour <= 12:
                continue
            hour = hour % 12 + (12 if ap == "pm" else 0)
        if hour <= 23 and minute <= 59:
            return hour, minute, m.span()
    return None


def _days(fragment: str) -> list[int]:
    found = []
    for word in _ONE_DAY.findall(fragment):
        day = _DAY_ALIASES[word[:3]]
        if day not in found:
            found.append(day)
    return sorted(found)


def _interval(m: re.Match) -> str | None:
    n, unit = int(m.group(1)), m.group(2)
    if n < 1:
        return None
    if unit.startswith("m"):
        if n < 60:
            return f"*/{n} * * * *"
        n, unit = (n // 60, "h") if n % 60 == 0 else (0, "m")
        if not n:
            return None  # "every 90 minutes" has no 5-field cron
    if unit.startswith("h"):
        if n < 24:
            return f"0 */{n} * * *" if n > 1 else "0 * * * *"
        return f"0 0 */{n // 24} * *" if n % 24 == 0 else None
    return f"0 {DEFAULT_HOUR} */{n} * *" if n > 1 else f"0 {DEFAULT_HOUR} * * *"


def parse_schedule(text: str) -> dict | None:
    """``{"cron": "0 9 * * 1-5", "text": "every weekday at 9"}`` for a recurring phrase, else None.

    ``text`` is the span of the original message from the first to the last schedule word.
    """
    low = text.lower()
    spans: list[tuple[int, int]] = []
    if m := _INTERVAL.search(low):
        cron = _interval(m)
        if cron and not m.group(2).startswith("d"):
            return {"cron": cron, "text": text[m.start():m.end()]}
        if cron is None:
            return None
        day_field, dow, spans = cron.split()[2], "*", [m.span()]
    elif m := _HOURLY.search(low):
        return {"cron": "0 * * * *", "text": text[m.start():m.end()]}
    elif m := _WEEKDAYS.search(low):
        day_field, dow, spans = "*", "1-5", [m.span()]
    elif m := _WEEKENDS.search(low):
        day_field, dow, spans = "*", "0,6", [m.span()]
    elif (m := _NAMED_DAYS.search(low)) and _days(m.group(0)):
        day_field, dow, spans = "*", ",".join(map(str, _days(m.group(0)))), [m.span()]
    elif m := _DAILY.search(low):
        day_field, dow, spans = "*", "*", [m.span()]
    elif m := _WEEKLY.search(low):
        day_field, dow, spans = "*", "1", [m.span()]
    else:
        return None
    clock = _time(low)
    if clock:
        hour, minute, span = clock
        spans.append(span)
    else:
        period = _PERIOD.search(low)
        hour, minute = (_PERIOD_HOUR[period.group(1)] if period else DEFAULT_HOUR), 0
    start, end = min(s for s, _ in spans), max(e for _, e in spans)
    return {"cron": f"{minute} {hour} {day_field} * {dow}", "text": text[start:end].strip()}
