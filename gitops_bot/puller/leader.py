"""Leader election on one Lease: at most one replica holds it at a time.

Owns: the client-go algorithm on a coordination.k8s.io/v1 Lease (one per
environment in puller.leases; or one for all environments). A candidate
takes the Lease when it is free or expired (holder empty, or not renewed
within leaseDurationSeconds), and the leader renews it every `retry_s`,
from a Lease it reads itself or one read for it (act()); every write
carries the resourceVersion read, so of two candidates only one wins. The
leader counts itself leader only until `renew_deadline_s` after its last
successful renewal by its own monotonic clock (shorter than the lease
duration, so it stops before anyone else may start), stops counting itself
leader at once on leave() while it keeps renewing, and gives the Lease up on
release(). Refuses: applying anything (the loop asks `holds` before each
step) and deciding which Leases to campaign for (puller.leases does).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

from gitops_bot.cluster import lease
from gitops_bot.cluster.kube import Kube
from gitops_bot.errors import ClusterError


def _utcnow() -> datetime:
    return datetime.now(UTC)


class Elector:
    def __init__(
        self,
        kube: Kube,
        *,
        namespace: str,
        name: str,
        identity: str,
        duration_s: int = 15,
        renew_deadline_s: float = 10.0,
        retry_s: float = 2.0,
        now: Callable[[], datetime] = _utcnow,
        monotonic: Callable[[], float] = time.monotonic,
        log: logging.Logger | None = None,
    ) -> None:
        if not renew_deadline_s < duration_s:
            raise ValueError("the renew deadline must be shorter than the lease duration")
        self.kube = kube
        self.namespace, self.name, self.identity = namespace, name, identity
        self.duration_s, self.renew_deadline_s, self.retry_s = duration_s, renew_deadline_s, retry_s
        self._now, self._monotonic = now, monotonic
        self.log = log or logging.getLogger(__name__)
        self._lock = threading.Lock()
        self._valid_until = 0.0  # monotonic time until which we may act as leader
        self.observed = False  # read the Lease at least once (for /readyz)
        self.holder = ""  # the holder seen last
        self._seen_version = ""  # the Lease's resourceVersion when last seen to change ...
        self._seen_at = 0.0  # ... and when (monotonic)
        self.transitions = 0  # times this candidate became leader
        self._leaving = False  # leave() was called: not leader, released when quiet
        self.note = ""  # written as the Lease's `poked` with the next create or renewal

    @property
    def is_leader(self) -> bool:
        with self._lock:
            return not self._leaving and self._monotonic() < self._valid_until

    def holds(self, env: str) -> bool:
        """The loop's question (puller.leases asks it per environment)."""
        return self.is_leader

    def describe(self) -> str:
        """Who leads, for /readyz on a standby."""
        return f"{self.holder or 'nobody'} leads"

    def try_acquire_or_renew(self) -> bool:
        """One round: True if we hold the Lease afterwards."""
        try:
            current = lease.get(self.kube, self.namespace, self.name)
        except ClusterError as err:
            self.log.warning("leader election: %s", err)
            return False
        return self.act(current)  # timed from after the read: it was seen then

    def act(self, current: lease.Lease | None, *, started: float | None = None) -> bool:
        """One round on the Lease as read (`current`, None if absent), seen at
        monotonic time `started` (default: now; never before the read returned,
        or another holder's renewal could look older than it is): create it,
        renew it, or take it when free. True if we hold it afterwards, until
        `started` plus the renew deadline (`started` is before our write, so
        this ends before anyone may take it). A write carries the
        resourceVersion read."""
        started = self._monotonic() if started is None else started
        now = self._now()
        try:
            if current is None:
                written = lease.create(
                    self.kube,
                    lease.Lease(
                        name=self.name,
                        namespace=self.namespace,
                        holder=self.identity,
                        duration_s=self.duration_s,
                        acquired=now,
                        renewed=now,
                        poked=self.note,
                    ),
                )
            elif current.holder == self.identity:
                written = lease.update(
                    self.kube,
                    dataclasses.replace(
                        current,
                        duration_s=self.duration_s,
                        acquired=current.acquired or now,
                        renewed=now,
                        poked=self.note or current.poked,
                    ),
                )
            elif self.free(current, started):
                written = lease.update(
                    self.kube,
                    dataclasses.replace(
                        current,
                        holder=self.identity,
                        duration_s=self.duration_s,
                        acquired=now,
                        renewed=now,
                        transitions=current.transitions + 1,
                    ),
                )
            else:
                return False
        except lease.LeaseConflictError:
            return False  # someone wrote in between: read again next round
        except ClusterError as err:
            self.log.warning("leader election: %s", err)
            return False
        self._seen(written, started)
        with self._lock:
            was = self._monotonic() < self._valid_until
            # A failed renewal does not extend this: is_leader turns False by itself.
            self._valid_until = started + self.renew_deadline_s
        if not was:
            self.transitions += 1
            self.log.info("leader election: %s now leads %s", self.identity, self.name)
        return True

    @property
    def held(self) -> bool:
        """Whether the Lease is ours within the renew deadline, leaving or not."""
        with self._lock:
            return self._monotonic() < self._valid_until

    def leave(self) -> None:
        """Stop counting as leader at once but keep renewing, until release():
        the caller releases once nothing it started under the Lease still runs."""
        with self._lock:
            self._leaving = True

    @property
    def leaving(self) -> bool:
        with self._lock:
            return self._leaving

    def free(self, current: lease.Lease | None, now: float | None = None) -> bool:
        """Whether the Lease (as read) may be taken by us: absent, released, or
        not renewed for its duration by our clock since we saw it change."""
        if current is None:
            return True
        return self._free(current, self._monotonic() if now is None else now)

    def seen_for(self, now: float | None = None) -> float:
        """Seconds since we saw the Lease change last."""
        with self._lock:
            return (self._monotonic() if now is None else now) - self._seen_at

    def _free(self, current: lease.Lease, now: float) -> bool:
        """Whether another holder's Lease may be taken: released, or not renewed
        for its duration as measured by our own clock since we saw it change
        (client-go's rule: immune to clock skew between replicas)."""
        self._seen(current, now)
        if not current.holder:
            return True
        return now - self._seen_at > current.duration_s

    def _seen(self, current: lease.Lease, now: float) -> None:
        with self._lock:
            self.observed = True
            self.holder = current.holder
            if current.resource_version != self._seen_version:
                self._seen_version = current.resource_version
                self._seen_at = now

    def release(self) -> None:
        """Give the Lease up (others need not wait for it to expire); also one
        whose renewal came too late, if it still names us."""
        with self._lock:
            ours = self._monotonic() < self._valid_until or self.holder == self.identity
            self._valid_until = 0.0
            self._leaving = False
        if not ours:
            return
        try:
            current = lease.get(self.kube, self.namespace, self.name)
            if current is not None and current.holder == self.identity:
                lease.update(
                    self.kube,
                    dataclasses.replace(current, holder="", duration_s=1, renewed=self._now()),
                )
        except ClusterError as err:
            self.log.warning("leader election: releasing %s: %s", self.name, err)

    def run(self, stop: threading.Event) -> None:
        """Campaign and renew until `stop` is set; then release."""
        try:
            while not stop.is_set():
                self.try_acquire_or_renew()
                stop.wait(self.retry_s)
        finally:
            self.release()
