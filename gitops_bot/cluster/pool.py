"""Many API requests at once, as many as the server is happy with.

Owns: `AdaptiveLimit` (additive increase, multiplicative decrease: one more
request in flight per window of successes, half as many when the server
throttles us) and `run_all`, which calls a function for every item on a
bounded thread pool under that limit, retrying throttled calls after the
server's Retry-After. Refuses: retrying anything but throttling; other
errors are the caller's to report.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import TypeVar, cast

from gitops_bot.cluster.kube import ThrottledError

T = TypeVar("T")
R = TypeVar("R")

_MAX_RETRIES = 5
_MAX_WAIT_S = 10.0


class AdaptiveLimit:
    def __init__(self, *, start: int, maximum: int) -> None:
        self.maximum = maximum
        self._limit = float(max(1, min(start, maximum)))
        self._in_flight = 0
        self._cond = threading.Condition()
        self.peak = 0  # most requests in flight at once, for the benchmark

    @property
    def limit(self) -> int:
        return int(self._limit)

    def __enter__(self) -> AdaptiveLimit:
        with self._cond:
            self._cond.wait_for(lambda: self._in_flight < int(self._limit))
            self._in_flight += 1
            self.peak = max(self.peak, self._in_flight)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with self._cond:
            self._in_flight -= 1
            self._cond.notify()  # one slot is free: wake one waiter, not all of them

    def succeeded(self) -> None:
        with self._cond:
            before = int(self._limit)
            self._limit = min(float(self.maximum), self._limit + 1.0 / self._limit)
            if int(self._limit) > before:
                self._cond.notify()  # one more slot

    def throttled(self) -> None:
        with self._cond:
            self._limit = max(1.0, self._limit / 2)


def run_all(
    fn: Callable[[T], R],
    items: Iterable[T],
    *,
    limit: AdaptiveLimit,
    sleep: Callable[[float], None] = time.sleep,
) -> list[R]:
    """fn(item) for every item, results in the order of `items`."""

    def one(item: T) -> R:
        for attempt in range(_MAX_RETRIES + 1):
            try:
                with limit:
                    result = fn(item)
            except ThrottledError as err:
                limit.throttled()
                if attempt == _MAX_RETRIES:
                    raise
                sleep(min(err.retry_after, _MAX_WAIT_S))
                continue
            limit.succeeded()
            return result
        raise AssertionError("unreachable")  # pragma: no cover

    # Workers take the next item from one shared iterator: no future (and its
    # Condition) per item, which at 20,000 requests was a tenth of the client's
    # CPU. The first error stops every worker at its next item, and is raised
    # once none runs, as an executor's map would.
    work = list(items)
    results: list[R | None] = [None] * len(work)
    pending = iter(enumerate(work))
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker() -> None:
        while True:
            with lock:
                taken = None if errors else next(pending, None)
            if taken is None:
                return
            index, item = taken
            try:
                results[index] = one(item)
            except BaseException as err:  # raised in the caller, below
                with lock:
                    errors.append(err)
                return

    threads = [
        threading.Thread(target=worker, name=f"pool-{i}", daemon=True)
        for i in range(min(limit.maximum, len(work)))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return cast("list[R]", results)
