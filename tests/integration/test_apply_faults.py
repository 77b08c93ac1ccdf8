"""The API server restarted mid-apply: the next reconcile converges, nothing lost or doubled."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from gitops_bot.cluster import applyset
from gitops_bot.cluster.apply import (
    ApplyOptions,
    ApplyResult,
    ApplySetRef,
    Outcome,
    inventory,
    reconcile,
)
from gitops_bot.cluster.kube import Kube
from gitops_bot.core.objects.model import Key, Manifest, Origin, Render
from gitops_bot.testing.cluster import LocalControlPlane
from tests import objects
from tests.waiting import until

pytestmark = pytest.mark.cluster

NS = "shop"


def render(objs: list[dict[str, Any]]) -> Render:
    return Render.of(
        "prod", [Manifest(Key.of(o), o, Origin("all.yaml", i)) for i, o in enumerate(objs)]
    )


def test_api_server_restarted_mid_apply_then_the_next_reconcile_converges(
    own_control_plane: LocalControlPlane,
) -> None:
    cp = own_control_plane
    kube = Kube.from_kubeconfig(str(cp.kubeconfig))
    try:
        kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
        ref = ApplySetRef("gitops-bot-prod", NS)
        old = [objects.configmap(f"old-{i}", namespace=NS, k="v") for i in range(100)]
        assert reconcile(kube, render(old), applyset=ref, revision="c1").ok

        new = [objects.configmap(f"new-{i}", namespace=NS, k=str(i)) for i in range(1000)]
        desired = render(old[10:] + new)  # drops old-0..9, adds 1,000
        options = ApplyOptions(wait=False)
        interrupted: list[ApplyResult] = []
        worker = threading.Thread(
            target=lambda: interrupted.append(
                reconcile(kube, desired, applyset=ref, revision="c2", options=options)
            )
        )
        worker.start()
        probe = Kube.from_kubeconfig(str(cp.kubeconfig))
        try:
            until(
                lambda: (
                    probe.get("v1", "ConfigMap", "new-0", namespace=NS) is not None
                    or not worker.is_alive()
                ),
                what="the apply to start",
                timeout=60,
            )
        finally:
            probe.close()
        cp.restart("kube-apiserver")
        worker.join(timeout=120)

        first = interrupted[0]
        assert not first.ok
        assert "HTTP" in first.error or "Error" in first.error
        assert not first.requests.get("delete")  # no prune after a failed apply
        assert kube.get("v1", "ConfigMap", "old-0", namespace=NS) is not None
        parent = applyset.read_parent(kube, ref)
        assert parent.revision == "c1"
        assert parent.group_kinds == {("", "ConfigMap")}

        second = reconcile(kube, desired, applyset=ref, revision="c2", options=options)

        assert second.ok, second.error
        by_outcome: dict[Outcome, int] = {}
        for o in second.objects:
            by_outcome[o.outcome] = by_outcome.get(o.outcome, 0) + 1
        assert by_outcome[Outcome.PRUNED] == 10
        assert by_outcome.get(Outcome.FAILED, 0) == 0
        # What the interrupted run applied is recognised as done; the rest is created now.
        created_before = sum(1 for o in first.objects if o.outcome is Outcome.CREATED)
        assert by_outcome[Outcome.CREATED] <= 1000 - created_before
        members = inventory(kube, ref)
        assert sorted(Key.of(m).name for m in members) == sorted(
            m.key.name for m in desired.manifests
        )
        for member in members:
            ours = [
                f
                for f in member["metadata"]["managedFields"]
                if f["manager"] == kube.field_manager and f["operation"] == "Apply"
            ]
            assert len(ours) == 1
        assert applyset.read_parent(kube, ref).revision == "c2"

        third = reconcile(kube, desired, applyset=ref, revision="c2", options=options)

        assert third.ok, third.error
        assert {o.outcome for o in third.objects} == {Outcome.UNCHANGED}
        assert set(third.requests) <= {"get", "list"}
    finally:
        kube.close()
