"""The webhook server's queue: handler calls, one at a time per pull request.

Owns: scheduling events onto a fixed set of worker threads: at most one
handler call at a time per key (a pull request, or a pushed ref), in arrival
order; a newer head or push replacing older waiting ones (never a waiting
comment or review: those are people's requests); a bounded number of waiting
events, with places reserved while a delivery is read; a handler's exception
logged and survived. Refuses: reading deliveries (webhook_server does) and
deciding anything about an event's content.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable

from gitops_bot.core.pr import events

Handler = Callable[[events.Event], None]
Actionable = (
    events.PullEvent
    | events.ReviewEvent
    | events.CommentEvent
    | events.PushEvent
    | events.PromotionCheck
)
Key = tuple[str, str, "int | str"]  # (forge, repo, pull request number or pushed ref)


def _supersedes(event: Actionable) -> bool:
    """Events that only say "plan (or check) the newest state": a newer one makes an older
    waiting one pointless. Comments and reviews are requests from people and
    are never dropped, nor reordered."""
    return isinstance(event, events.PullEvent | events.PushEvent | events.PromotionCheck)


class Workers:
    """Handler calls: one at a time per key, in arrival order; a newer pull-head
    or push event replaces older waiting ones of its kind for that key."""

    def __init__(
        self, *, handler: Handler, capacity: int, workers: int, log: logging.Logger
    ) -> None:
        self._handler = handler
        self._capacity = capacity
        self._log = log
        self._cond = threading.Condition()
        self._waiting: dict[Key, list[Actionable]] = {}  # per key, in arrival order
        self._size = 0  # waiting events, all keys
        self._ready: deque[Key] = deque()  # keys with a waiting event and no running call
        self._running: set[Key] = set()
        self._reserved = 0
        self._stopping = False
        self.counts = {"handled": 0, "failed": 0, "dropped_as_superseded": 0}
        self._threads = [
            threading.Thread(target=self._work, name=f"webhook-worker-{i}", daemon=True)
            for i in range(workers)
        ]
        for thread in self._threads:
            thread.start()

    def reserve(self) -> bool:
        """Hold a place in the queue for a delivery being read; False when it is full."""
        with self._cond:
            if self._stopping or self._size + self._reserved >= self._capacity:
                return False
            self._reserved += 1
            return True

    def release(self) -> None:
        with self._cond:
            self._reserved -= 1

    def submit(self, key: Key, event: Actionable) -> bool:
        """Queue `event` in its reserved place; False once close() has begun."""
        with self._cond:
            self._reserved -= 1
            if self._stopping:
                return False
            waiting = self._waiting.setdefault(key, [])
            if not waiting and key not in self._running:
                self._ready.append(key)
                self._cond.notify()
            if _supersedes(event):
                kept = [e for e in waiting if not _supersedes(e)]
                if len(kept) < len(waiting):
                    dropped = len(waiting) - len(kept)
                    self.counts["dropped_as_superseded"] += dropped
                    self._size -= dropped
                    self._log.info("webhook %s: a newer event supersedes %d waiting", key, dropped)
                    waiting[:] = kept
            waiting.append(event)
            self._size += 1
            return True

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._ready and not self._stopping:
                    self._cond.wait()
                if self._stopping:
                    return
                key = self._ready.popleft()
                waiting = self._waiting[key]
                event = waiting.pop(0)
                if not waiting:
                    del self._waiting[key]
                self._size -= 1
                self._running.add(key)
            outcome = "handled"
            try:
                self._handler(event)
            except Exception:
                outcome = "failed"
                self._log.exception(
                    "handling the %s for %s: the handler raised", type(event).__name__, key
                )
            with self._cond:
                self.counts[outcome] += 1
                self._running.discard(key)
                if key in self._waiting:
                    self._ready.append(key)
                    self._cond.notify()

    def stop(self) -> None:
        """Refuse new events and drop the waiting ones; running calls go on."""
        with self._cond:
            self._stopping = True
            if self._size:
                self._log.warning("closing: dropping %d waiting webhook events", self._size)
            self._waiting.clear()
            self._size = 0
            self._ready.clear()
            self._cond.notify_all()

    def join(self, *, timeout: float) -> bool:
        """True if every worker ended within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(thread.is_alive() for thread in self._threads)
