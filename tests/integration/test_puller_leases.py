"""Per-environment Leases on the real control plane: 3 replicas share 30 environments.

Each replica is the real loop with its real Leases on threads; every apply
goes through the real engine, wrapped to record who applied which
environment from when to when, so that two replicas applying one
environment at once would be seen. A crash stops a replica's renewals and
its loop without giving anything up (as SIGKILL would).
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from gitops_bot.cluster import apply
from gitops_bot.cluster import lease as lease_mod
from gitops_bot.cluster.kube import Kube
from gitops_bot.puller.leases import EnvLeases, env_lease, member_lease
from gitops_bot.puller.loop import Puller
from gitops_bot.testing.binaries import Binaries
from tests.integration import pullerkit
from tests.integration.pullerkit import Remote

pytestmark = pytest.mark.cluster

PREFIX = "gitops-bot-puller"
ENVS = tuple(f"env-{i:02d}" for i in range(30))
DURATION = 3
RENEW_DEADLINE = 2.0
RETRY = 0.4


@dataclass
class _Applies:
    """Who applied which environment, from when to when (monotonic), and any overlap."""

    spans: list[tuple[str, str, float, float]] = field(default_factory=list)
    overlaps: list[str] = field(default_factory=list)
    _active: dict[str, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def wrap(self, real: Callable[..., apply.ApplyResult]) -> Callable[..., apply.ApplyResult]:
        def recorded(kube: Kube, render: Any, **kwargs: Any) -> apply.ApplyResult:
            env = kwargs["applyset"].name.removeprefix("gitops-bot-")
            who = threading.current_thread().name
            with self._lock:
                if env in self._active:
                    self.overlaps.append(f"{who} applied {env} while {self._active[env]} did")
                self._active[env] = who
            started = time.monotonic()
            try:
                time.sleep(0.05)  # widen the window two appliers would share
                return real(kube, render, **kwargs)
            finally:
                with self._lock:
                    self._active.pop(env, None)
                    self.spans.append((who, env, started, time.monotonic()))

        return recorded

    def by(self, who: str, *, after: float = float("-inf")) -> set[str]:
        with self._lock:
            return {env for w, env, start, _ in self.spans if w == who and start >= after}


class _Replica:
    """One puller replica on threads: its Leases' rounds and its loop."""

    def __init__(self, puller: Puller, leases: EnvLeases) -> None:
        self.puller, self.leases = puller, leases
        self.name = puller.settings.identity
        self.stop, self.stop_leases, self.crashed = (threading.Event() for _ in range(3))
        self.last_renewal = 0.0  # when the last round that renewed something began
        self.lease_thread = threading.Thread(target=self._campaign, daemon=True)
        self.loop_thread = threading.Thread(
            target=puller.run, args=(self.stop,), name=self.name, daemon=True
        )
        self.lease_thread.start()
        self.loop_thread.start()

    def _campaign(self) -> None:
        while not self.stop_leases.is_set():
            began = time.monotonic()
            self.leases.round()
            if self.leases.held():
                self.last_renewal = began
            self.stop_leases.wait(RETRY)
        if not self.crashed.is_set():
            self.leases.release()

    def crash(self) -> None:
        """Stop renewing and looping, giving nothing up."""
        self.crashed.set()
        self.stop_leases.set()
        self.stop.set()
        self.puller.poke()  # its loop sees `stop` (and holds nothing: it renews no more)

    def close(self) -> None:
        """Stop as the puller does: the loop first, then give the Leases up."""
        self.stop.set()
        self.puller.poke()  # wake the loop so it sees `stop`
        self.loop_thread.join(30)
        self.stop_leases.set()
        self.lease_thread.join(30)


@pytest.fixture
def applies(monkeypatch: pytest.MonkeyPatch) -> _Applies:
    recorded = _Applies()
    monkeypatch.setattr(apply, "reconcile", recorded.wrap(apply.reconcile))
    return recorded


def _repo(remote: Remote, namespace: str, value: str, *, first: bool = False) -> None:
    files: dict[str, str | None] = {}
    if first:
        files[".gitops.yaml"] = pullerkit.config(namespace, ENVS)
    for env in ENVS:
        files.update(pullerkit.configmaps(env, 1, value=value, prefix=f"cm-{env}"))
    remote.commit(files)
    remote.push()


def _values(kube: Kube, namespace: str) -> dict[str, str]:
    found = kube.list_objects("v1", "ConfigMap", namespace=namespace)
    return {
        o["metadata"]["name"]: o["data"]["v"]
        for o in found
        if o["metadata"]["name"].startswith("cm-env-")
    }


def _all(kube: Kube, namespace: str, value: str) -> bool:
    values = _values(kube, namespace)
    return len(values) == len(ENVS) and set(values.values()) == {value}


@pytest.fixture
def replicas(
    kube: Kube, namespace: str, binaries: Binaries, tmp_path: Path
) -> Iterator[tuple[Remote, list[_Replica]]]:
    remote = Remote(tmp_path / "git")
    _repo(remote, namespace, "1", first=True)
    started: list[_Replica] = []
    for name in ("r0", "r1", "r2"):
        leases = EnvLeases(
            kube,
            namespace=namespace,
            prefix=PREFIX,
            envs=ENVS,
            identity=name,
            duration_s=DURATION,
            renew_deadline_s=RENEW_DEADLINE,
            retry_s=RETRY,
        )
        puller = pullerkit.make(
            kube,
            remote,
            namespace=namespace,
            cache=tmp_path / name,
            binaries=binaries,
            envs=ENVS,
            elector=leases,
            identity=name,
            interval_s=300,  # only a poke or a gained Lease wakes a loop
        )
        started.append(_Replica(puller, leases))
    yield remote, started
    for replica in started:
        replica.close()


def _spread(replicas: list[_Replica]) -> dict[str, tuple[str, ...]]:
    return {r.name: r.leases.held() for r in replicas}


def test_three_replicas_share_thirty_environments_and_take_over_a_crashed_ones(
    kube: Kube, namespace: str, replicas: tuple[Remote, list[_Replica]], applies: _Applies
) -> None:
    remote, (r0, r1, r2) = replicas
    everyone = [r0, r1, r2]
    pullerkit.eventually(lambda: _all(kube, namespace, "1"), timeout=90)

    def even() -> bool:
        held = _spread(everyone)
        return sorted(len(h) for h in held.values()) == [10, 10, 10] and len(
            {e for h in held.values() for e in h}
        ) == len(ENVS)

    pullerkit.eventually(even, timeout=30)
    # Each applies what it holds: a change is applied by all three, each its own share,
    # though only one was poked (as the Service would): the others see its note.
    # Timed before the push: a replica's own fetch may find the commit before
    # the push returns here (it did on a loaded machine, once).
    changed_at = time.monotonic()
    _repo(remote, namespace, "2")
    r0.puller.poke()
    pullerkit.eventually(lambda: _all(kube, namespace, "2"), timeout=60)
    shares = {r.name: applies.by(r.name, after=changed_at) for r in everyone}
    assert all(shares.values()), shares
    assert {e for s in shares.values() for e in s} == set(ENVS)
    for r in everyone:
        ready, why = r.puller.ready()
        assert ready
        assert why.startswith("leader of "), why
        assert why.endswith(", synced"), why
        lease = lease_mod.get(kube, namespace, env_lease(PREFIX, r.leases.held()[0]))
        assert lease is not None
        assert lease.holder == r.name
        assert b'gitops_bot_env_leased{env="%s"} 1.0' % r.leases.held()[0].encode() in (
            r.puller.reporter.metrics.exposition()
        )

    lost = r1.leases.held()
    r1.crash()
    crashed_at = time.monotonic()
    survivors = [r0, r2]
    pullerkit.eventually(
        lambda: sorted(len(h) for h in _spread(survivors).values()) == [15, 15], timeout=20
    )
    took = time.monotonic() - crashed_at
    since_renewal = time.monotonic() - r1.last_renewal
    # Expired by the survivors' clocks one duration after they saw the last renewal,
    # then taken in their next rounds (each a LIST and ~10 writes, slower under load).
    assert took < DURATION + 4 * RETRY + 2.0, f"took over after {took:.1f} s"
    assert since_renewal > DURATION, "taken before its Leases could expire"
    assert not r1.leases.held()

    pushed_at = time.monotonic()
    _repo(remote, namespace, "3")
    r2.puller.poke()
    pullerkit.eventually(lambda: _all(kube, namespace, "3"), timeout=60)
    assert applies.by(r0.name, after=pushed_at) | applies.by(r2.name, after=pushed_at) == set(ENVS)
    assert set(lost) <= applies.by(r0.name, after=crashed_at) | applies.by(
        r2.name, after=crashed_at
    )
    assert not applies.by(r1.name, after=crashed_at + RENEW_DEADLINE)
    assert applies.overlaps == []


def test_a_replica_gives_its_leases_up_when_it_stops_and_another_takes_them_at_once(
    kube: Kube, namespace: str, replicas: tuple[Remote, list[_Replica]], applies: _Applies
) -> None:
    _, (r0, r1, r2) = replicas
    pullerkit.eventually(lambda: _all(kube, namespace, "1"), timeout=90)
    pullerkit.eventually(lambda: all(len(r.leases.held()) == 10 for r in (r0, r1, r2)), timeout=30)
    given = r2.leases.held()
    r2.close()  # the loop stops, then the Leases are given up
    released_at = time.monotonic()
    assert lease_mod.get(kube, namespace, member_lease(PREFIX, "r2")) is None
    for env in given:
        lease = lease_mod.get(kube, namespace, env_lease(PREFIX, env))
        assert lease is not None
        assert lease.holder in {"", "r0", "r1"}
    pullerkit.eventually(lambda: len(r0.leases.held()) + len(r1.leases.held()) == 30, timeout=10)
    assert time.monotonic() - released_at < DURATION, "a released Lease needs no expiry"
    assert applies.overlaps == []


def test_a_one_lease_puller_still_holding_the_old_lease_keeps_the_others_out(
    kube: Kube, namespace: str
) -> None:
    """During an upgrade from the one-Lease puller: its leader holds `<prefix>`."""
    old = lease_mod.create(
        kube,
        lease_mod.Lease(name=PREFIX, namespace=namespace, holder="old", duration_s=DURATION),
    )
    leases = EnvLeases(
        kube,
        namespace=namespace,
        prefix=PREFIX,
        envs=("dev",),
        identity="new",
        duration_s=DURATION,
        renew_deadline_s=RENEW_DEADLINE,
        retry_s=RETRY,
    )
    for _ in range(3):
        leases.round()
        old = lease_mod.update(kube, old)  # the old leader renews
    assert leases.held() == ()
    assert leases.describe() == f"old holds the Lease {PREFIX} of a one-Lease puller"
    lease_mod.update(kube, dataclasses.replace(old, holder=""))  # it shuts down
    leases.round()
    assert leases.held() == ("dev",)
