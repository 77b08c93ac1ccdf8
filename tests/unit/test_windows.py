"""Deploy windows: spelling, open or closed at an instant, next opening, DST."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gitops_bot.core.policy import windows
from gitops_bot.errors import ConfigError

UTC = dt.UTC


def at(text: str) -> dt.datetime:
    """An instant, written in UTC: "2024-03-04 08:30" (a Monday)."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "days", "start", "end", "zone"),
    [
        ("Mon-Thu 09:00-16:00 Europe/Berlin", {0, 1, 2, 3}, 540, 960, "Europe/Berlin"),
        ("Sat 10:00-12:00 UTC", {5}, 600, 720, "UTC"),
        ("Fri-Mon 22:00-02:00 UTC", {4, 5, 6, 0}, 1320, 120, "UTC"),
        ("mon,Wed-fri 00:00-24:00 America/New_York", {0, 2, 3, 4}, 0, 1440, "America/New_York"),
        ("Sun-Sat 08:00-09:30 Asia/Kolkata", set(range(7)), 480, 570, "Asia/Kolkata"),
        ("  Tue   07:05-07:06   Etc/GMT+5 ", {1}, 425, 426, "Etc/GMT+5"),
    ],
)
def test_parse(text: str, days: set[int], start: int, end: int, zone: str) -> None:
    window = windows.parse(text)
    assert (window.days, window.start, window.end, window.zone) == (
        frozenset(days),
        start,
        end,
        zone,
    )
    assert str(window) == " ".join(text.split())


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Mon-Thu 09:00-16:00", "is not a deploy window; write DAYS HH:MM-HH:MM TIMEZONE"),
        ("Mon-Thu 09:00 - 16:00 UTC", "is not a deploy window"),
        ("Mo 09:00-16:00 UTC", "'Mo' is not a day; write one of Mon, Tue, Wed, Thu, Fri, Sat, Sun"),
        ("Mon-Fry 09:00-16:00 UTC", "'Fry' is not a day"),
        ("Mon 9:00-16:00 UTC", "'9:00' is not a time; write HH:MM, 24-hour"),
        ("Mon 09:00-16:60 UTC", "'16:60' is not a time"),
        ("Mon 24:00-10:00 UTC", "'24:00' is not a time of day; 24:00 may only end a window"),
        ("Mon 24:30-10:00 UTC", "'24:30' is not a time of day"),
        ("Mon 09:00 UTC", "'09:00' is not a time range; write HH:MM-HH:MM"),
        ("Mon 0900-1000 UTC", "'0900' is not a time"),
        ("Mon 10:00-10:00 UTC", "the window starts and ends at 10:00; it is empty"),
        ("Mon 09:00-10:00 Mars/Olympus", "unknown time zone 'Mars/Olympus'"),
        ("Mon 09:00-10:00 ../../etc/passwd", "is not a time zone name such as Europe/Berlin"),
        ("Mon 09:00-10:00 /etc/localtime", "is not a time zone name"),
        ("Mon 09:00-10:00 Europe/../UTC", "is not a time zone name"),
    ],
)
def test_parse_refuses(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        windows.parse(text)
    assert message in str(info.value)
    assert str(info.value).startswith(repr(text))


BERLIN = windows.parse("Mon-Thu 09:00-16:00 Europe/Berlin")


@pytest.mark.parametrize(
    ("window", "now", "is_open"),
    [
        # Winter: Berlin is UTC+1.
        (BERLIN, "2024-03-04 07:59", False),  # Mon 08:59 Berlin
        (BERLIN, "2024-03-04 08:00", True),  # Mon 09:00
        (BERLIN, "2024-03-04 14:59", True),  # Mon 15:59
        (BERLIN, "2024-03-04 15:00", False),  # Mon 16:00: the end is not inside
        (BERLIN, "2024-03-08 09:00", False),  # Fri
        # Summer: Berlin is UTC+2; the same wall-clock window moves in UTC.
        (BERLIN, "2024-07-01 07:00", True),  # Mon 09:00 CEST
        (BERLIN, "2024-07-01 14:00", False),  # Mon 16:00 CEST
        # The Monday of the spring change (2024-03-31 is a Sunday) and after.
        (BERLIN, "2024-04-01 07:00", True),
        (BERLIN, "2024-04-01 06:59", False),
        # The local day decides, not the UTC day: Thu 23:30 UTC is Fri 00:30 in Berlin.
        (windows.parse("Fri 00:00-01:00 Europe/Berlin"), "2024-03-07 23:30", True),
        # Wrapping the week: Fri-Mon includes Sat and Sun.
        (windows.parse("Fri-Mon 10:00-12:00 UTC"), "2024-03-09 11:00", True),  # Sat
        (windows.parse("Fri-Mon 10:00-12:00 UTC"), "2024-03-06 11:00", False),  # Wed
        # Past midnight: Fri 22:00 to Sat 02:00; Sun 22:00 to Mon 02:00.
        (windows.parse("Fri,Sun 22:00-02:00 UTC"), "2024-03-08 23:00", True),  # Fri
        (windows.parse("Fri,Sun 22:00-02:00 UTC"), "2024-03-09 01:59", True),  # Sat early
        (windows.parse("Fri,Sun 22:00-02:00 UTC"), "2024-03-09 02:00", False),
        (windows.parse("Fri,Sun 22:00-02:00 UTC"), "2024-03-04 01:00", True),  # Mon early
        (windows.parse("Fri,Sun 22:00-02:00 UTC"), "2024-03-08 01:00", False),  # Fri early
        (windows.parse("Sat 00:00-24:00 UTC"), "2024-03-09 23:59", True),
        (windows.parse("Sat 00:00-24:00 UTC"), "2024-03-10 00:00", False),
    ],
)
def test_is_open(window: windows.Window, now: str, is_open: bool) -> None:
    assert windows.is_open(window, at(now)) is is_open
    assert windows.open_at([window], at(now)) is is_open


def test_no_windows_means_always_open() -> None:
    assert windows.open_at([], at("2024-03-09 03:00"))
    assert windows.next_opening([], at("2024-03-09 03:00")) is None


def test_any_open_window_opens_the_gate() -> None:
    both = [BERLIN, windows.parse("Sat 10:00-12:00 UTC")]
    assert windows.open_at(both, at("2024-03-09 11:00"))
    assert not windows.open_at(both, at("2024-03-09 13:00"))


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValueError, match="aware datetime"):
        windows.open_at([BERLIN], dt.datetime(2024, 3, 4, 9))


@pytest.mark.parametrize(
    ("wins", "now", "opens_utc", "message"),
    [
        (
            [BERLIN],
            "2024-03-07 15:30",  # Thu 16:30 Berlin, just closed
            "2024-03-11 08:00",
            "outside deploy window; next opens Mon 09:00 Europe/Berlin",
        ),
        (
            [BERLIN],
            "2024-03-04 06:00",  # Mon 07:00 Berlin: today's window is next
            "2024-03-04 08:00",
            "outside deploy window; next opens Mon 09:00 Europe/Berlin",
        ),
        (
            # Over the spring change: Fri 29 March (CET) to Mon 1 April (CEST).
            [BERLIN],
            "2024-03-29 12:00",
            "2024-04-01 07:00",
            "outside deploy window; next opens Mon 09:00 Europe/Berlin",
        ),
        (
            [BERLIN, windows.parse("Sat 10:00-12:00 UTC")],
            "2024-03-08 12:00",  # Fri: Saturday's comes first
            "2024-03-09 10:00",
            "outside deploy window; next opens Sat 10:00 UTC",
        ),
        (
            [windows.parse("Wed 10:00-11:00 UTC")],
            "2024-03-06 10:30",  # open now: the next opening is a week later
            "2024-03-13 10:00",
            "outside deploy window; next opens Wed 10:00 UTC",
        ),
    ],
)
def test_next_opening(wins: list[windows.Window], now: str, opens_utc: str, message: str) -> None:
    opening = windows.next_opening(wins, at(now))
    assert opening is not None
    assert opening.at == at(opens_utc)
    assert windows.closed_message(wins, at(now)) == message


def test_a_start_inside_the_spring_forward_gap_still_opens() -> None:
    # 2024-03-31 02:30 does not exist in Berlin (02:00 jumps to 03:00).
    window = windows.parse("Sun 02:30-05:00 Europe/Berlin")
    opening = windows.next_opening([window], at("2024-03-30 12:00"))
    assert opening is not None
    assert windows.is_open(window, opening.at)
    assert not windows.is_open(window, opening.at - dt.timedelta(minutes=61))


_instants = st.datetimes(
    min_value=dt.datetime(2020, 1, 1), max_value=dt.datetime(2035, 1, 1), timezones=st.just(UTC)
)
_texts = st.builds(
    lambda d1, d2, h1, h2, zone: (
        f"{windows.DAYS[d1]}-{windows.DAYS[d2]} {h1:02d}:00-{h2:02d}:00 {zone}"
    ),
    st.integers(0, 6),
    st.integers(0, 6),
    st.integers(0, 23),
    st.integers(1, 24),
    st.sampled_from(["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe"]),
).filter(lambda t: t.split()[1][:2] != t.split()[1][6:8])


@settings(max_examples=300, deadline=None)
@given(_texts, _instants)
def test_the_next_opening_is_open_and_nothing_opens_before_it(text: str, now: dt.datetime) -> None:
    window = windows.parse(text)
    opening = windows.next_opening([window], now)
    assert opening is not None
    assert now < opening.at <= now + dt.timedelta(days=8)
    assert windows.is_open(window, opening.at)
    # Just before the opening the window is closed (or it was open all along,
    # when a window on the previous day ends at midnight where this one starts).
    before = opening.at - dt.timedelta(minutes=1)
    assert (
        not windows.is_open(window, before)
        or window.end in (window.start, 1440, 0)
        or (window.start == 0)
    )
