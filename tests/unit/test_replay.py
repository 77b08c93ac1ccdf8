"""Single-use values of plan requests: stale, future, replayed, and a full memory."""

from __future__ import annotations

from gitops_bot.web.replay import Replays


class Clock:
    def __init__(self) -> None:
        self.now = 10_000.0

    def __call__(self) -> float:
        return self.now


def test_a_request_is_fresh_within_the_window_either_side() -> None:
    clock = Clock()
    replays = Replays(window_s=300, clock=clock)
    assert replays.fresh(int(clock.now) - 300) is None
    assert replays.fresh(int(clock.now) + 300) is None
    stale = replays.fresh(int(clock.now) - 301)
    assert stale is not None
    assert "expired" in stale
    assert "301 s ago" in stale
    ahead = replays.fresh(int(clock.now) + 400)
    assert ahead is not None
    assert "in the future" in ahead


def test_a_value_is_taken_once_until_it_expires_and_kinds_are_apart() -> None:
    clock = Clock()
    replays = Replays(window_s=300, clock=clock)
    assert replays.first_use("nonce", "n1", until=clock.now + 300) is None
    again = replays.first_use("nonce", "n1", until=clock.now + 300)
    assert again == "the request was replayed: its nonce was used before"
    assert replays.first_use("OIDC token (jti)", "n1", until=clock.now + 300) is None
    clock.now += 301  # past its request's window: an old request is refused as stale anyway
    assert replays.first_use("nonce", "n1", until=clock.now + 300) is None


def test_a_full_memory_forgets_only_what_expired_and_else_refuses() -> None:
    clock = Clock()
    replays = Replays(window_s=300, max_remembered=2, clock=clock)
    assert replays.first_use("nonce", "a", until=clock.now + 10) is None
    assert replays.first_use("nonce", "b", until=clock.now + 300) is None
    full = replays.first_use("nonce", "c", until=clock.now + 300)
    assert full is not None
    assert "too many" in full
    clock.now += 11  # "a" expired: room for one
    assert replays.first_use("nonce", "c", until=clock.now + 300) is None
    assert replays.first_use("nonce", "b", until=clock.now + 300) is not None
