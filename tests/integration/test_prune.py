"""Pruning: only ours, only after a good apply, never protected kinds, never too much."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from gitops_bot.cluster import applyset
from gitops_bot.cluster.apply import ApplyOptions, ApplySetRef, Outcome, inventory, reconcile
from gitops_bot.cluster.kube import Kube
from gitops_bot.core.objects.model import Key, Manifest, Origin, Render
from gitops_bot.errors import ClusterError
from gitops_bot.testing.cluster import LocalControlPlane
from tests import objects
from tests.waiting import until

pytestmark = pytest.mark.cluster


def render(objs: list[dict[str, Any]]) -> Render:
    return Render.of(
        "dev", [Manifest(Key.of(o), o, Origin("all.yaml", i)) for i, o in enumerate(objs)]
    )


def cms(namespace: str, names: range | list[int]) -> list[dict[str, Any]]:
    return [objects.configmap(f"cm-{i}", namespace=namespace, k="v") for i in names]


def names(kube: Kube, ref: ApplySetRef) -> set[str]:
    return {Key.of(o).name for o in inventory(kube, ref)}


@pytest.fixture
def ref(namespace: str) -> ApplySetRef:
    return ApplySetRef("gitops-bot-dev", namespace)


@pytest.mark.k8s_smoke
def test_a_removed_object_is_pruned_and_its_kind_leaves_the_parent(
    kube: Kube, namespace: str, ref: ApplySetRef
) -> None:
    sa = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": "old", "namespace": namespace},
    }
    unrelated = objects.configmap("not-ours", namespace=namespace, k="v")
    kube.apply(unrelated)  # same kind and namespace, no part-of label
    first = reconcile(kube, render([*cms(namespace, range(4)), sa]), applyset=ref, revision="c1")
    assert first.ok, first.error
    assert ("", "ServiceAccount") in applyset.read_parent(kube, ref).group_kinds

    result = reconcile(kube, render(cms(namespace, range(4))), applyset=ref, revision="c2")

    assert result.ok, result.error
    assert [(o.key.kind, o.key.name) for o in result.objects if o.outcome is Outcome.PRUNED] == [
        ("ServiceAccount", "old")
    ]
    assert kube.get("v1", "ServiceAccount", "old", namespace=namespace) is None
    assert kube.get("v1", "ConfigMap", "not-ours", namespace=namespace) is not None
    assert applyset.read_parent(kube, ref).group_kinds == {("", "ConfigMap")}
    assert names(kube, ref) == {f"cm-{i}" for i in range(4)}


def test_protected_kinds_are_skipped_unless_opted_in(
    kube: Kube, namespace: str, ref: ApplySetRef
) -> None:
    extra = f"t-{uuid.uuid4().hex[:10]}"
    pvc = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "data", "namespace": namespace},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }
    ns = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": extra}}
    keep = cms(namespace, range(4))
    try:
        first = reconcile(
            kube,
            render([*keep, pvc, ns]),
            applyset=ref,
            revision="c1",
            options=ApplyOptions(wait=False),
        )
        assert first.ok, first.error

        skipped = reconcile(kube, render(keep), applyset=ref, revision="c2")

        assert skipped.ok, skipped.error
        messages = {
            o.key.kind: o.message for o in skipped.objects if o.outcome is Outcome.PRUNE_SKIPPED
        }
        assert set(messages) == {"PersistentVolumeClaim", "Namespace"}
        assert "never pruned without an opt-in (prune_opt_in 'Namespace')" in messages["Namespace"]
        assert kube.get("v1", "Namespace", extra) is not None
        # Still ours, still in the inventory, its kinds still on the parent.
        assert {"data", extra} <= names(kube, ref)
        assert ("", "PersistentVolumeClaim") in applyset.read_parent(kube, ref).group_kinds

        opted = reconcile(
            kube,
            render(keep),
            applyset=ref,
            revision="c2",
            options=ApplyOptions(prune_opt_in=frozenset({"PersistentVolumeClaim"})),
        )

        assert opted.ok, opted.error
        assert {o.key.kind: o.outcome for o in opted.objects if o.key.kind != "ConfigMap"} == {
            "PersistentVolumeClaim": Outcome.PRUNED,
            "Namespace": Outcome.PRUNE_SKIPPED,
        }
        assert applyset.read_parent(kube, ref).group_kinds == {("", "ConfigMap"), ("", "Namespace")}
    finally:
        kube.delete("v1", "Namespace", extra)


def test_more_than_the_share_is_refused_and_nothing_is_pruned(
    kube: Kube, namespace: str, ref: ApplySetRef
) -> None:
    assert reconcile(kube, render(cms(namespace, range(10))), applyset=ref, revision="c1").ok

    result = reconcile(kube, render(cms(namespace, range(4))), applyset=ref, revision="c2")

    assert not result.ok
    assert "pruning 6 of the 10 objects in the inventory (60%) would exceed the limit of 50%" in (
        result.error
    )
    assert "nothing was pruned" in result.error
    assert len([o for o in result.objects if o.outcome is Outcome.PRUNE_SKIPPED]) == 6
    assert not result.requests.get("delete")
    assert names(kube, ref) == {f"cm-{i}" for i in range(10)}
    # The apply itself went through: the revision is recorded.
    assert applyset.read_parent(kube, ref).revision == "c2"

    allowed = reconcile(
        kube,
        render(cms(namespace, range(4))),
        applyset=ref,
        revision="c2",
        options=ApplyOptions(prune_max_share=0.6),
    )

    assert allowed.ok, allowed.error
    assert names(kube, ref) == {f"cm-{i}" for i in range(4)}


def test_nothing_is_pruned_when_the_apply_failed(
    kube: Kube, namespace: str, ref: ApplySetRef
) -> None:
    assert reconcile(kube, render(cms(namespace, range(4))), applyset=ref, revision="c1").ok
    bad = objects.configmap("bad", namespace=namespace)
    bad["data"] = {"k": 1}

    result = reconcile(kube, render([*cms(namespace, range(3)), bad]), applyset=ref, revision="c2")

    assert not result.ok
    assert not result.requests.get("delete")
    assert "cm-3" in names(kube, ref)


def test_an_object_owned_by_someone_else_is_not_pruned(
    control_plane: LocalControlPlane, kube: Kube, namespace: str, ref: ApplySetRef
) -> None:
    assert reconcile(kube, render(cms(namespace, range(4))), applyset=ref, revision="c1").ok
    owner = kube.apply(objects.configmap("owner", namespace=namespace, k="v"))
    other = Kube.from_kubeconfig(str(control_plane.kubeconfig), field_manager="operator")
    other.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": "cm-3",
                "namespace": namespace,
                "ownerReferences": [
                    {
                        "apiVersion": "v1",
                        "kind": "ConfigMap",
                        "name": "owner",
                        "uid": owner["metadata"]["uid"],
                    }
                ],
            },
        }
    )
    other.close()

    result = reconcile(kube, render(cms(namespace, range(3))), applyset=ref, revision="c2")

    assert result.ok, result.error
    skipped = [o for o in result.objects if o.outcome is Outcome.PRUNE_SKIPPED]
    assert [o.key.name for o in skipped] == ["cm-3"]
    assert "owned by ConfigMap owner" in skipped[0].message
    assert kube.get("v1", "ConfigMap", "cm-3", namespace=namespace) is not None


@pytest.fixture
def no_delete_policy(kube: Kube) -> Iterator[str]:
    """A ValidatingAdmissionPolicy that rejects deleting ConfigMaps labelled keep=yes."""
    name = f"keep-{uuid.uuid4().hex[:8]}"
    kube.apply(
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicy",
            "metadata": {"name": name},
            "spec": {
                "failurePolicy": "Fail",
                "matchConstraints": {
                    "resourceRules": [
                        {
                            "apiGroups": [""],
                            "apiVersions": ["v1"],
                            "operations": ["DELETE"],
                            "resources": ["configmaps"],
                        }
                    ]
                },
                "validations": [
                    {
                        "expression": "!has(oldObject.metadata.labels) || "
                        "!('keep' in oldObject.metadata.labels)",
                        "message": "this ConfigMap is kept",
                    }
                ],
            },
        }
    )
    kube.apply(
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicyBinding",
            "metadata": {"name": name},
            "spec": {"policyName": name, "validationActions": ["Deny"]},
        }
    )
    yield name
    kube.delete("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicyBinding", name)
    kube.delete("admissionregistration.k8s.io/v1", "ValidatingAdmissionPolicy", name)


def test_a_rejected_delete_stays_in_the_inventory_and_is_reported(
    kube: Kube, namespace: str, ref: ApplySetRef, no_delete_policy: str
) -> None:
    kept = cms(namespace, range(4))
    kept[3]["metadata"]["labels"] = {"keep": "yes"}
    assert reconcile(kube, render(kept), applyset=ref, revision="c1").ok

    probe = objects.configmap("probe", namespace=namespace, k="v")
    probe["metadata"]["labels"] = {"keep": "yes"}

    def policy_active() -> bool:
        kube.apply(probe)
        try:
            kube.delete("v1", "ConfigMap", "probe", namespace=namespace)
        except ClusterError:
            return True
        return False

    until(policy_active, what="the admission policy to take effect", timeout=30)

    result = reconcile(kube, render(kept[:3]), applyset=ref, revision="c2")

    assert not result.ok
    failed = [o for o in result.objects if o.outcome is Outcome.FAILED]
    assert [o.key.name for o in failed] == ["cm-3"]
    assert "this ConfigMap is kept" in failed[0].message
    assert "they stay in the inventory and are tried again next time" in result.error
    assert "cm-3" in names(kube, ref)
    assert ("", "ConfigMap") in applyset.read_parent(kube, ref).group_kinds


def test_a_recorded_kind_no_longer_served_is_kept_and_noted(
    control_plane: LocalControlPlane, kube: Kube, namespace: str, ref: ApplySetRef
) -> None:
    group = f"g{uuid.uuid4().hex[:8]}.example.com"
    crd = objects.crd(group=group, kind="Gizmo", plural="gizmos")
    crd_name = crd["metadata"]["name"]
    kube.apply(crd)  # installed by someone else, not part of the render
    try:
        until(lambda: kube.served(f"{group}/v1", "Gizmo"), what="the Gizmo kind to be served")
        gizmo = {
            "apiVersion": f"{group}/v1",
            "kind": "Gizmo",
            "metadata": {"name": "g", "namespace": namespace},
        }
        first = reconcile(
            kube, render([*cms(namespace, range(4)), gizmo]), applyset=ref, revision="c1"
        )
        assert first.ok, first.error
    finally:
        kube.delete("apiextensions.k8s.io/v1", "CustomResourceDefinition", crd_name)
    probe = Kube.from_kubeconfig(str(control_plane.kubeconfig))  # `kube` keeps its discovery
    try:
        until(
            lambda: probe.forget_discovery() or not probe.served(f"{group}/v1", "Gizmo"),
            what="the Gizmo kind to go",
        )
    finally:
        probe.close()

    result = reconcile(kube, render(cms(namespace, range(4))), applyset=ref, revision="c2")

    assert result.ok, result.error
    assert result.notes == (
        f"Gizmo.{group} is in the inventory but not served: its objects cannot be listed, "
        "so none of them is pruned",
    )
    assert (group, "Gizmo") in applyset.read_parent(kube, ref).group_kinds

    # A client that rediscovers from the start skips the kind before listing.
    fresh = Kube.from_kubeconfig(str(control_plane.kubeconfig))
    try:
        again = reconcile(fresh, render(cms(namespace, range(4))), applyset=ref, revision="c2")
    finally:
        fresh.close()
    assert again.ok, again.error
    assert again.notes == result.notes
