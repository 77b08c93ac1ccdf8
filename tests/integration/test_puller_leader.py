"""Leader election on the real control plane: two pullers, one Lease."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitops_bot.cluster import lease as lease_mod
from gitops_bot.cluster.kube import Kube
from gitops_bot.puller.leader import Elector
from gitops_bot.testing.binaries import Binaries
from tests.integration import pullerkit
from tests.integration.pullerkit import Remote

pytestmark = pytest.mark.cluster

LEASE = "gitops-bot-puller"


def _elector(kube: Kube, namespace: str, identity: str) -> Elector:
    return Elector(
        kube,
        namespace=namespace,
        name=LEASE,
        identity=identity,
        duration_s=3,
        renew_deadline_s=2.0,
        retry_s=0.2,
    )


class _Running:
    """Campaign on a thread; `crash()` stops without giving the Lease up."""

    def __init__(self, elector: Elector) -> None:
        self.elector = elector
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.is_set():
            self.elector.try_acquire_or_renew()
            self.stop.wait(self.elector.retry_s)

    def crash(self) -> None:
        self.stop.set()
        self.thread.join(5)


@pytest.fixture
def pair(kube: Kube, namespace: str) -> Iterator[tuple[_Running, _Running]]:
    a, b = _Running(_elector(kube, namespace, "a")), _Running(_elector(kube, namespace, "b"))
    yield a, b
    a.crash()
    b.crash()


def _sample(a: Elector, b: Elector, seconds: float) -> set[str]:
    leaders: set[str] = set()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        both = (a.is_leader, b.is_leader)
        assert both != (True, True), "two leaders at once"
        leaders |= {n for n, lead in zip("ab", both, strict=True) if lead}
        time.sleep(0.01)
    return leaders


def test_one_of_two_candidates_leads_and_the_other_takes_over_after_a_crash(
    kube: Kube, namespace: str, pair: tuple[_Running, _Running]
) -> None:
    a, b = pair
    pullerkit.eventually(lambda: a.elector.is_leader or b.elector.is_leader, timeout=10)
    first = _sample(a.elector, b.elector, 2.0)
    assert len(first) == 1
    leader, standby = (a, b) if first == {"a"} else (b, a)
    assert standby.elector.observed
    assert standby.elector.holder == leader.elector.identity

    crashed_at = time.monotonic()
    leader.crash()
    pullerkit.eventually(lambda: standby.elector.is_leader, timeout=10)
    took = time.monotonic() - crashed_at
    assert not leader.elector.is_leader
    assert 2.0 < took < 6.0, f"took over after {took:.1f} s; the Lease lasts 3 s"
    lease = lease_mod.get(kube, namespace, LEASE)
    assert lease is not None
    assert lease.holder == standby.elector.identity
    assert lease.transitions >= 1


def test_a_leader_whose_lease_is_taken_stops_leading(
    kube: Kube, namespace: str, pair: tuple[_Running, _Running]
) -> None:
    a, b = pair
    pullerkit.eventually(lambda: a.elector.is_leader or b.elector.is_leader, timeout=10)
    leader = a if a.elector.is_leader else b
    b.crash() if leader is a else a.crash()
    current = lease_mod.get(kube, namespace, LEASE)
    assert current is not None
    lease_mod.update(kube, dataclasses.replace(current, holder="someone-else"))
    pullerkit.eventually(lambda: not leader.elector.is_leader, timeout=2.5)


def test_a_stale_write_loses(kube: Kube, namespace: str) -> None:
    mine = _elector(kube, namespace, "a")
    assert mine.try_acquire_or_renew()
    current = lease_mod.get(kube, namespace, LEASE)
    assert current is not None
    lease_mod.update(kube, current)  # someone renews in between
    with pytest.raises(lease_mod.LeaseConflictError):
        lease_mod.update(kube, current)
    with pytest.raises(lease_mod.LeaseConflictError):
        lease_mod.create(kube, current)


def test_two_pullers_never_apply_together(
    kube: Kube, namespace: str, binaries: Binaries, tmp_path: Path
) -> None:
    remote = Remote(tmp_path / "git")
    remote.commit({".gitops.yaml": pullerkit.config(namespace), **pullerkit.configmaps("dev", 5)})
    remote.push()
    stops, threads, pullers = [], [], []
    for name in ("a", "b"):
        elector = _elector(kube, namespace, name)
        puller = pullerkit.make(
            kube,
            remote,
            namespace=namespace,
            cache=tmp_path / name,
            binaries=binaries,
            elector=elector,
            identity=name,
        )
        stop = threading.Event()
        lease_thread = threading.Thread(target=elector.run, args=(stop,), daemon=True)
        loop_thread = threading.Thread(target=puller.run, args=(stop,), daemon=True)
        lease_thread.start()
        loop_thread.start()
        stops.append(stop)
        threads.append((lease_thread, loop_thread))
        pullers.append(puller)
    try:
        leader = pullerkit.eventually(
            lambda: next((p for p in pullers if p.synced.is_set()), None), timeout=20
        )
        standby = pullers[1 - pullers.index(leader)]
        assert standby.ready()[0]
        assert standby.ready()[1].startswith("standby")
        remote.commit(pullerkit.configmaps("dev", 5, value="2"))
        remote.push()
        leader.poke()
        pullerkit.eventually(
            lambda: kube.get("v1", "ConfigMap", "cm-4", namespace=namespace)["data"]["v"] == "2"
        )
        events = kube.list_objects("events.k8s.io/v1", "Event", namespace=namespace)
        instances = {e["reportingInstance"] for e in events if e["reason"] == "Applied"}
        assert instances == {leader.settings.identity}
        assert standby.tip == "", "the standby never even fetched"
    finally:
        for stop in stops:
            stop.set()
        for lease_thread, loop_thread in threads:
            loop_thread.join(10)
            lease_thread.join(10)
