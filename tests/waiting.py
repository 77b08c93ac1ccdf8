"""Polling with a deadline, for tests that wait on controllers."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def until(probe: Callable[[], T | None], *, what: str, timeout: float = 60.0) -> T:
    """Call `probe` until it returns something truthy; that value."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(0.1)
    raise AssertionError(f"waited {timeout:.0f}s for {what}; last probe gave {last!r}")
