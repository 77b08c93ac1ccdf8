"""Deploy windows: when a policy lets an environment's gate pass.

Owns: the spelling of a window ("Mon-Thu 09:00-16:00 Europe/Berlin"), its
parsing (`parse`, which raises ConfigError saying what is wrong with the
text; the configuration parser adds file, line and key), and two questions
about a set of windows: is one open at an instant (`open_at`), and when does
the next one open (`next_opening`, for the message).
Refuses: reading the clock (the caller passes `now`, an aware datetime).

A window is wall-clock time in its time zone, so "09:00-16:00 Europe/Berlin"
stays 09:00-16:00 in Berlin across daylight saving changes. Days are a day
(`Sat`), a range (`Mon-Thu`; `Fri-Mon` wraps over the weekend) or several of
those joined by commas (`Mon,Wed-Fri`). A window whose end is not after its
start runs past midnight: "Fri 22:00-02:00 UTC" is open from Friday 22:00
to Saturday 02:00. `24:00` ends a window at midnight. The time zone database
is Python's zoneinfo (the system's, or the `tzdata` package).
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass

from gitops_bot.errors import ConfigError

DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_DAY_INDEX = {d.lower(): i for i, d in enumerate(DAYS)}
_TIME = re.compile(r"([01]\d|2[0-4]):([0-5]\d)")
# What an IANA zone name may contain; checked before zoneinfo sees the name,
# so that a name is never a path.
_ZONE = re.compile(r"[A-Za-z][A-Za-z0-9_+\-]*(/[A-Za-z0-9_+\-]+)*")
_MINUTES_PER_DAY = 24 * 60
EXAMPLE = "Mon-Thu 09:00-16:00 Europe/Berlin"


@dataclass(frozen=True)
class Window:
    days: frozenset[int]  # 0 = Monday, as datetime.weekday()
    start: int  # minutes after local midnight
    end: int  # minutes after local midnight, 1..1440; not after start: runs past midnight
    zone: str  # IANA name
    text: str = ""  # as written, for messages

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.zone)

    def __str__(self) -> str:
        return self.text or (
            f"{_days_text(self.days)} {_hhmm(self.start)}-{_hhmm(self.end)} {self.zone}"
        )


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _days_text(days: frozenset[int]) -> str:
    return ",".join(DAYS[d] for d in sorted(days))


def _day(word: str, text: str) -> int:
    index = _DAY_INDEX.get(word.lower())
    if index is None:
        raise ConfigError(
            f"{text!r}: {word!r} is not a day; write one of {', '.join(DAYS)} "
            f"(example: {EXAMPLE!r})"
        )
    return index


def _days(spec: str, text: str) -> frozenset[int]:
    days: set[int] = set()
    for part in spec.split(","):
        first, dash, last = part.partition("-")
        start = _day(first, text)
        if not dash:
            days.add(start)
            continue
        stop = _day(last, text)
        days.update((start + i) % 7 for i in range((stop - start) % 7 + 1))
    return frozenset(days)


def _minutes(word: str, text: str, *, end: bool) -> int:
    match = _TIME.fullmatch(word)
    if match is None:
        raise ConfigError(f"{text!r}: {word!r} is not a time; write HH:MM, 24-hour")
    minutes = int(match.group(1)) * 60 + int(match.group(2))
    if minutes > _MINUTES_PER_DAY or (minutes == _MINUTES_PER_DAY and not end):
        raise ConfigError(f"{text!r}: {word!r} is not a time of day; 24:00 may only end a window")
    return minutes


def parse(text: str) -> Window:
    """The window `text` spells, e.g. "Mon-Thu 09:00-16:00 Europe/Berlin"."""
    words = text.split()
    if len(words) != 3:
        raise ConfigError(
            f"{text!r} is not a deploy window; write DAYS HH:MM-HH:MM TIMEZONE, e.g. {EXAMPLE!r}"
        )
    days_word, times, zone = words
    days = _days(days_word, text)
    start_word, dash, end_word = times.partition("-")
    if not dash:
        raise ConfigError(f"{text!r}: {times!r} is not a time range; write HH:MM-HH:MM")
    start = _minutes(start_word, text, end=False)
    end = _minutes(end_word, text, end=True)
    if start == end:
        raise ConfigError(f"{text!r}: the window starts and ends at {start_word}; it is empty")
    if not _ZONE.fullmatch(zone) or ".." in zone:
        raise ConfigError(f"{text!r}: {zone!r} is not a time zone name such as Europe/Berlin")
    try:
        zoneinfo.ZoneInfo(zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError) as err:
        raise ConfigError(
            f"{text!r}: unknown time zone {zone!r}; use an IANA name such as Europe/Berlin or UTC"
        ) from err
    return Window(days=days, start=start, end=end, zone=zone, text=" ".join(words))


def _require_aware(now: dt.datetime) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("checking deploy windows: `now` must be an aware datetime")


def is_open(window: Window, now: dt.datetime) -> bool:
    """Whether `window` is open at the instant `now`."""
    _require_aware(now)
    local = now.astimezone(window.tz)
    minute = local.hour * 60 + local.minute
    today = local.weekday()
    if window.start < window.end:
        return today in window.days and window.start <= minute < window.end
    # Past midnight: the evening of a listed day, or the morning after one.
    return (today in window.days and minute >= window.start) or (
        (today - 1) % 7 in window.days and minute < window.end
    )


def open_at(windows: Iterable[Window], now: dt.datetime) -> bool:
    """Whether any window is open at `now`; no windows at all means always open."""
    windows = tuple(windows)
    return not windows or any(is_open(w, now) for w in windows)


@dataclass(frozen=True)
class Opening:
    at: dt.datetime  # in UTC
    window: Window

    def __str__(self) -> str:
        local = self.at.astimezone(self.window.tz)
        return f"{DAYS[local.weekday()]} {local:%H:%M} {self.window.zone}"


def _start_after(window: Window, now: dt.datetime) -> dt.datetime | None:
    tz = window.tz
    today = now.astimezone(tz).date()
    for offset in range(8):
        day = today + dt.timedelta(days=offset)
        if day.weekday() not in window.days:
            continue
        hours, minutes = divmod(window.start, 60)
        # A start inside a spring-forward gap (02:30 on the night clocks jump
        # from 02:00 to 03:00) resolves with the earlier offset, i.e. to 03:30
        # local time; the window is still open from then on.
        local = dt.datetime.combine(day, dt.time(hours, minutes), tzinfo=tz)
        start = local.astimezone(dt.UTC)
        if start > now:
            return start
    return None


def next_opening(windows: Iterable[Window], now: dt.datetime) -> Opening | None:
    """The earliest start of a window after `now`; None when there are no windows."""
    _require_aware(now)
    found = [Opening(at, w) for w in windows if (at := _start_after(w, now.astimezone(dt.UTC)))]
    return min(found, key=lambda o: o.at) if found else None


def closed_message(windows: Iterable[Window], now: dt.datetime) -> str:
    """What the gate says outside every window."""
    opening = next_opening(windows, now)
    if opening is None:
        return "outside deploy window"
    return f"outside deploy window; next opens {opening}"
