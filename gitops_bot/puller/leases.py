"""Per-environment Leases: which environments this replica applies.

Owns: one coordination.k8s.io/v1 Lease per environment (`<prefix>-<env>`),
each won, renewed and given up with the client-go algorithm of
puller.leader:Elector, and one member Lease per replica
(`<prefix>.member.<identity>`) that says the replica is alive; and the
spread rule, run every round on one LIST of the namespace's Leases: with n
live members (fresh member Leases), a replica holds at most ceil(envs / n)
environments; it takes free ones (absent, released, or expired by its own
clock) in its own rendezvous-hash order, from its second round on (so that
replicas starting together see each other first); it leaves its excess,
least preferred first, only while some live member holds fewer; and anyone
takes an environment left free for a whole lease duration, whatever the
count. An environment left is released only once the loop is quiet on it
(no apply or heal in progress), and it stops counting as held at once.
While a replica of the one-Lease version holds the Lease `<prefix>` itself,
a replica holds nothing. Member Leases of replicas gone for long are deleted.
A poke (only one replica behind the Service gets it) is passed on: noted on
the poked replica's member Lease with its next renewal, and every replica
that sees a member's note change wakes its loop (no request of its own).
Refuses: applying anything (the loop asks `holds(env)`), and scheduling:
every contested Lease is decided by the API server's optimistic concurrency.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime

from gitops_bot.cluster import lease
from gitops_bot.cluster.kube import Kube
from gitops_bot.errors import ClusterError
from gitops_bot.puller.leader import Elector

GONE_AFTER_DURATIONS = 10  # a member Lease not renewed for this many durations is deleted


def _utcnow() -> datetime:
    return datetime.now(UTC)


@contextlib.contextmanager
def _always_quiet(_env: str) -> Iterator[bool]:
    yield True


def env_lease(prefix: str, env: str) -> str:
    """The Lease of an environment (environment names are DNS labels)."""
    return f"{prefix}-{env}"


def member_lease(prefix: str, identity: str) -> str:
    """The member Lease of a replica: a name no environment's Lease can have."""
    safe = re.sub(r"[^a-z0-9.-]+", "-", identity.lower()).strip("-.") or "replica"
    return f"{prefix}.member.{safe}"[:253].rstrip("-.")


def _rank(identity: str, env: str) -> int:
    """Rendezvous hashing: how much `identity` prefers `env` (each replica its own order)."""
    return int.from_bytes(hashlib.sha256(f"{identity}\0{env}".encode()).digest()[:8], "big")


class EnvLeases:
    def __init__(
        self,
        kube: Kube,
        *,
        namespace: str,
        prefix: str,
        envs: tuple[str, ...],
        identity: str,
        duration_s: int = 15,
        renew_deadline_s: float = 10.0,
        retry_s: float = 2.0,
        now: Callable[[], datetime] = _utcnow,
        monotonic: Callable[[], float] = time.monotonic,
        log: logging.Logger | None = None,
    ) -> None:
        self.kube, self.namespace, self.prefix = kube, namespace, prefix
        self.envs, self.identity = envs, identity
        self.duration_s, self.retry_s = duration_s, retry_s
        self._monotonic = monotonic
        self.log = log or logging.getLogger(__name__)

        def elector(name: str) -> Elector:
            return Elector(
                kube,
                namespace=namespace,
                name=name,
                identity=identity,
                duration_s=duration_s,
                renew_deadline_s=renew_deadline_s,
                retry_s=retry_s,
                now=now,
                monotonic=monotonic,
                log=self.log,
            )

        self._new = elector
        self._envs = {env: elector(env_lease(prefix, env)) for env in envs}
        self.member = elector(member_lease(prefix, identity))
        self._others: dict[str, Elector] = {}  # other members' Leases and the legacy one, watched
        self._free_since: dict[str, float] = {}  # env -> when first seen free (monotonic)
        self._lock = threading.Lock()
        # Set by the loop: a context that holds the environment's apply lock if it
        # can take it at once (True) or not (False); and a wake-up when gaining one.
        self.quiet: Callable[[str], AbstractContextManager[bool]] = _always_quiet
        self.changed: Callable[[], None] = lambda: None
        self.observed = False  # listed the Leases at least once (for /readyz)
        self.live = 0  # live replicas counted in the last round
        self.target = 0  # environments this replica may hold, as of the last round
        self.blocked_by = ""  # a one-Lease replica holding `<prefix>`
        self.rounds = 0
        self._notes: dict[str, str] = {}  # member Lease -> its poke note seen last
        self._pokes = 0

    # -- what the loop asks ----------------------------------------------------

    def holds(self, env: str) -> bool:
        elector = self._envs.get(env)
        return elector is not None and elector.is_leader

    def held(self) -> tuple[str, ...]:
        return tuple(env for env, elector in self._envs.items() if elector.is_leader)

    def describe(self) -> str:
        if self.blocked_by:
            return f"{self.blocked_by} holds the Lease {self.prefix} of a one-Lease puller"
        return (
            f"{len(self.held())} of {len(self.envs)} environments held here; "
            f"{self.live} replicas live"
        )

    def poke(self) -> None:
        """Pass a poke on to the other replicas (with the next renewal of the member Lease)."""
        with self._lock:
            self._pokes += 1
            self.member.note = f"{self.identity}/{time.time_ns()}/{self._pokes}"

    # -- one round --------------------------------------------------------------

    def round(self) -> None:
        """List the Leases once; renew ours; take or leave some; release what is quiet."""
        try:
            listed = {found.name: found for found in lease.list_all(self.kube, self.namespace)}
        except ClusterError as err:
            self.log.warning("environment leases: %s", err)
            return
        started = self._monotonic()  # when the Leases were seen (after the LIST returned)
        before = set(self.held())
        self.rounds += 1
        self.member.act(listed.get(self.member.name), started=started)
        live = self._live(listed, started)
        poked = self._poked(listed)
        blocked = self._blocked(listed, started)
        target = 0 if blocked else -(-len(self.envs) // len(live))
        for elector in self._envs.values():
            current = listed.get(elector.name)
            if current is not None and current.holder == self.identity:
                elector.act(current)  # timed from just before its write: one late renewal
                # of many does not cut the others' deadlines short
        mine = [env for env, elector in self._envs.items() if elector.held]
        counts = self._counts(listed, live, started)
        counts[self.identity] = len(mine)
        free = self._free(listed, started)
        if len(mine) > target and (blocked or any(counts[m] < target for m in live)):
            self._leave(mine, len(mine) - target)
        elif self.rounds > 1 and not blocked:
            self._take(listed, started, free, target - len(mine))
        self._release_quiet()
        with self._lock:
            self.observed, self.live, self.target = True, len(live), target
        if poked or set(self.held()) - before:
            self.changed()

    def _live(self, listed: dict[str, lease.Lease], started: float) -> set[str]:
        """Holders of fresh member Leases (and this replica); those gone for long deleted."""
        live = {self.identity}
        members = f"{self.prefix}.member."
        for name, current in listed.items():
            if not name.startswith(members) or name == self.member.name:
                continue
            watched = self._watched(name)
            if not watched.free(current, started):
                live.add(current.holder)
            elif watched.seen_for(started) > GONE_AFTER_DURATIONS * max(current.duration_s, 1):
                self._delete(current)
        return live

    def _poked(self, listed: dict[str, lease.Lease]) -> bool:
        """Whether another replica noted a poke since the last round."""
        members, poked = f"{self.prefix}.member.", False
        for name, current in listed.items():
            if name.startswith(members) and name != self.member.name:
                before = self._notes.get(name)
                self._notes[name] = current.poked
                poked = poked or (before is not None and current.poked != before)
        return poked

    def _blocked(self, listed: dict[str, lease.Lease], started: float) -> bool:
        legacy = listed.get(self.prefix)
        held = legacy is not None and not self._watched(self.prefix).free(legacy, started)
        self.blocked_by = legacy.holder if held and legacy is not None else ""
        return held

    def _counts(
        self, listed: dict[str, lease.Lease], live: set[str], started: float
    ) -> Counter[str]:
        """How many environments each live member holds (as the Leases say)."""
        counts: Counter[str] = Counter(dict.fromkeys(live, 0))
        for elector in self._envs.values():
            current = listed.get(elector.name)
            if current is None or current.holder == self.identity or current.holder not in live:
                continue
            if not elector.free(current, started):
                counts[current.holder] += 1
        return counts

    def _free(self, listed: dict[str, lease.Lease], started: float) -> dict[str, bool]:
        """The environments free to take, each with whether it lingered (free for a duration)."""
        free: dict[str, bool] = {}
        for env, elector in self._envs.items():
            if elector.held or not elector.free(listed.get(elector.name), started):
                self._free_since.pop(env, None)
                continue
            since = self._free_since.setdefault(env, started)
            free[env] = started - since > self.duration_s
        return free

    def _take(
        self,
        listed: dict[str, lease.Lease],
        started: float,
        free: dict[str, bool],
        room: int,
    ) -> None:
        """Take up to `room` free environments, most preferred first, and any that lingered."""
        order = sorted(free, key=lambda env: (not free[env], -_rank(self.identity, env)))
        for env in order:
            if room <= 0 and not free[env]:
                break
            elector = self._envs[env]
            if elector.act(listed.get(elector.name), started=started):
                room -= 1
                self._free_since.pop(env, None)

    def _leave(self, mine: list[str], excess: int) -> None:
        """Stop applying the `excess` least preferred environments held (released when quiet)."""
        leaving = [env for env in mine if self._envs[env].leaving]
        staying = sorted(
            (env for env in mine if env not in leaving), key=lambda env: _rank(self.identity, env)
        )
        for env in staying[: max(0, excess - len(leaving))]:
            self.log.info("environment leases: %s leaves %s to one with fewer", self.identity, env)
            self._envs[env].leave()

    def _release_quiet(self) -> None:
        for env, elector in self._envs.items():
            if not elector.leaving:
                continue
            with self.quiet(env) as quiet:
                if quiet:  # no apply or heal of it runs, and none starts: it is not held
                    elector.release()

    def _watched(self, name: str) -> Elector:
        if name not in self._others:
            self._others[name] = self._new(name)
        return self._others[name]

    def _delete(self, current: lease.Lease) -> None:
        try:
            lease.delete(self.kube, current)
        except ClusterError as err:
            self.log.warning("environment leases: deleting %s: %s", current.name, err)
            return
        self._others.pop(current.name, None)

    # -- its life ---------------------------------------------------------------

    def release(self) -> None:
        """Give every Lease up and delete the member Lease (the loop has stopped)."""
        for elector in self._envs.values():
            elector.release()
        try:
            mine = lease.get(self.kube, self.namespace, self.member.name)
            if mine is not None and mine.holder in {"", self.identity}:
                lease.delete(self.kube, mine)
        except ClusterError as err:
            self.log.warning("environment leases: deleting %s: %s", self.member.name, err)

    def run(self, stop: threading.Event) -> None:
        """Campaign and renew until `stop` is set; then release."""
        try:
            while not stop.is_set():
                self.round()
                stop.wait(self.retry_s)
        finally:
            self.release()
