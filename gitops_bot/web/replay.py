"""Refusing a plan request seen before, or too old to judge.

Owns: the memory of the single-use values a plan request carries (the
signed body's nonce; an OIDC token's jti) until the request they came
with expires, and the refusals: a request issued outside the window
(stale, or from a clock far ahead), a value seen before (a replay), and a
full memory (fails closed: refused, not forgotten). Refuses: checking
signatures or tokens (gitops_bot.web.callers does, first) and sharing the
memory between replicas (each replica remembers what it was sent; the
trust zone in docs/security.md says what a replay to another replica can
do).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

WINDOW_S = 300  # a request is good this long after it was issued (and as long before)
MAX_REMEMBERED = 100_000  # ~10 MiB; far more than plans asked in a window


class Replays:
    def __init__(
        self,
        *,
        window_s: int = WINDOW_S,
        max_remembered: int = MAX_REMEMBERED,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.window_s, self.max_remembered, self._clock = window_s, max_remembered, clock
        self._until: dict[str, float] = {}  # value -> until when it is remembered
        self._lock = threading.Lock()

    def fresh(self, issued_at: int) -> str | None:
        """Why a request issued at `issued_at` (Unix seconds) is refused, if it is."""
        age = self._clock() - issued_at
        if age > self.window_s:
            return (
                f"the request expired: it was issued {age:.0f} s ago, and a plan request "
                f"is good for {self.window_s} s"
            )
        if -age > self.window_s:
            return (
                f"the request was issued {-age:.0f} s in the future: the caller's clock is "
                f"off by more than {self.window_s} s"
            )
        return None

    def first_use(self, kind: str, value: str, *, until: float) -> str | None:
        """Remember `value` until `until`; why not when it was seen before or memory is full."""
        key = f"{kind}:{value}"
        with self._lock:
            now = self._clock()
            if self._until.get(key, 0.0) > now:
                return f"the request was replayed: its {kind} was used before"
            if len(self._until) >= self.max_remembered:
                self._until = {k: t for k, t in self._until.items() if t > now}
                if len(self._until) >= self.max_remembered:
                    return "too many plan requests in the replay window: try again later"
            self._until[key] = max(until, now + 1)
            return None
