"""cluster.watch on the real control plane: what a Watcher keeps once it has listed."""

from __future__ import annotations

import gc
import threading
import time
import weakref
from collections.abc import Iterable
from typing import Any

import pytest

from gitops_bot.cluster import watch
from gitops_bot.cluster.kube import Kube
from tests import objects

pytestmark = pytest.mark.cluster


class _Marker:
    """Put into the listed items: alive for as long as something holds the list."""


def test_a_watcher_does_not_hold_the_listed_objects_while_it_watches(
    kube: Kube, namespace: str
) -> None:
    # The list stayed referenced by the watch thread for as long as it
    # watched: 26 MiB of a puller's memory with 10,000 ConfigMaps.
    for i in range(3):
        cm = objects.configmap(f"cm-{i}", namespace=namespace, v="1")
        cm["metadata"]["labels"] = {"app": "w"}
        kube.apply(cm)
    listed: list[weakref.ref[_Marker]] = []
    got = threading.Event()

    def on_list(_target: watch.Target, items: Iterable[dict[str, Any]]) -> None:
        marker = _Marker()
        held = [*items, marker]
        listed.append(weakref.ref(marker))
        del held
        got.set()

    watcher = watch.Watcher(
        kube,
        watch.Target("v1", "ConfigMap", namespace),
        selector="app=w",
        on_event=lambda _e: None,
        on_list=on_list,
    ).start()
    try:
        assert got.wait(10)
        assert watcher.synced.wait(10)
        cm = objects.configmap("cm-0", namespace=namespace, v="2")
        cm["metadata"]["labels"] = {"app": "w"}
        kube.apply(cm)  # the watch is streaming now
        gc.collect()
        assert len(listed) == 1
        assert listed[0]() is None
    finally:
        watcher.stop()


def test_a_list_is_read_a_page_at_a_time_and_the_watch_starts_after_it(
    kube: Kube, namespace: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A LIST of 10,000 objects parsed at once was the largest thing a puller
    # held (22 MiB of live objects waiting for the drift check); pages of
    # LIST_PAGE objects are handed on as they arrive, and the watch resumes
    # from the list's resourceVersion, so nothing between is missed.
    monkeypatch.setattr(watch, "LIST_PAGE", 2)
    for i in range(5):
        cm = objects.configmap(f"cm-{i}", namespace=namespace, v="1")
        cm["metadata"]["labels"] = {"app": "p"}
        kube.apply(cm)
    lists_before = kube.calls["list"]
    names: list[str] = []
    events: list[watch.Event] = []
    got = threading.Event()

    def on_list(_target: watch.Target, items: Iterable[dict[str, Any]]) -> None:
        names.extend(i["metadata"]["name"] for i in items)
        got.set()

    watcher = watch.Watcher(
        kube,
        watch.Target("v1", "ConfigMap", namespace),
        selector="app=p",
        on_event=events.append,
        on_list=on_list,
    ).start()
    try:
        assert got.wait(10)
        assert watcher.synced.wait(10)
        assert sorted(names) == [f"cm-{i}" for i in range(5)]
        assert kube.calls["list"] - lists_before == 3  # 2 + 2 + 1
        cm = objects.configmap("cm-9", namespace=namespace, v="1")
        cm["metadata"]["labels"] = {"app": "p"}
        kube.apply(cm)
        deadline = time.monotonic() + 10
        while not any(e.obj["metadata"]["name"] == "cm-9" for e in events):
            assert time.monotonic() < deadline, "the watch did not see a change after the list"
            time.sleep(0.05)
        assert not any(e.obj["metadata"]["name"] != "cm-9" for e in events)
    finally:
        watcher.stop()
