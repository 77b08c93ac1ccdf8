"""cluster.pool: every item's result in order, no more at once than the limit
allows, throttling retried after the server's Retry-After, and any other
error raised after the items under way finished (the rest are dropped)."""

from __future__ import annotations

import threading
import time

import pytest

from gitops_bot.cluster import pool
from gitops_bot.cluster.kube import ThrottledError


def test_results_come_in_the_order_of_the_items() -> None:
    limit = pool.AdaptiveLimit(start=4, maximum=8)

    def slow_for_small(i: int) -> int:
        time.sleep(0.001 * (20 - i % 20))
        return i * i

    assert pool.run_all(slow_for_small, range(200), limit=limit) == [i * i for i in range(200)]
    assert pool.run_all(slow_for_small, [], limit=limit) == []


def test_no_more_run_at_once_than_the_limit() -> None:
    limit = pool.AdaptiveLimit(start=3, maximum=3)
    running, most = 0, 0
    lock = threading.Lock()

    def one(_: int) -> None:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.005)
        with lock:
            running -= 1

    pool.run_all(one, range(60), limit=limit)
    assert most == 3
    assert limit.peak == 3


def test_the_limit_grows_with_successes_up_to_its_maximum() -> None:
    limit = pool.AdaptiveLimit(start=2, maximum=6)
    pool.run_all(lambda i: i, range(500), limit=limit)
    assert limit.limit == 6


def test_throttled_calls_are_retried_after_the_wait_and_halve_the_limit() -> None:
    limit = pool.AdaptiveLimit(start=8, maximum=8)
    tries: dict[int, int] = {}
    waits: list[float] = []
    lock = threading.Lock()

    def one(i: int) -> int:
        with lock:
            tries[i] = tries.get(i, 0) + 1
            first = tries[i] == 1
        if i % 10 == 0 and first:
            raise ThrottledError("429", retry_after=0.5)
        return i

    assert pool.run_all(one, range(40), limit=limit, sleep=waits.append) == list(range(40))
    assert waits == [0.5] * 4
    assert limit.limit < 8


def test_another_error_stops_the_rest_and_is_raised_once_none_runs() -> None:
    limit = pool.AdaptiveLimit(start=4, maximum=4)
    done: list[int] = []
    lock = threading.Lock()

    def one(i: int) -> int:
        if i == 3:
            raise ValueError("item 3")
        time.sleep(0.001)
        with lock:
            done.append(i)
        return i

    with pytest.raises(ValueError, match="item 3"):
        pool.run_all(one, range(500), limit=limit)
    ran = len(done)
    assert ran < 499  # the items not started yet were dropped
    time.sleep(0.05)
    assert len(done) == ran  # and nothing still runs behind the caller's back


def test_throttling_past_the_retries_is_raised() -> None:
    limit = pool.AdaptiveLimit(start=2, maximum=2)

    def always(_: int) -> int:
        raise ThrottledError("429", retry_after=1)

    with pytest.raises(ThrottledError):
        pool.run_all(always, range(3), limit=limit, sleep=lambda _: None)
