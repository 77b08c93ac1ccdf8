"""cluster.watch on the real control plane: what a Watcher keeps once it has listed."""

from __future__ import annotations

import gc
import threading
import weakref
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

    def on_list(_target: watch.Target, items: list[dict[str, Any]]) -> None:
        marker = _Marker()
        items.append(marker)  # type: ignore[arg-type]
        listed.append(weakref.ref(marker))
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
