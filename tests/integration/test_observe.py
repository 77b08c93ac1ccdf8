"""The live side of the plan, on the real control plane."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from gitops_bot.cluster import observe, pool
from gitops_bot.cluster.kube import Kube
from gitops_bot.core.objects.model import Key, Manifest, Origin
from gitops_bot.testing.cluster import LocalControlPlane
from tests import objects

pytestmark = pytest.mark.cluster


def manifest(obj: dict[str, Any]) -> Manifest:
    return Manifest(Key.of(obj), obj, Origin("test.yaml"))


def cm(namespace: str, name: str, value: str = "v") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": namespace},
        "data": {"k": value},
    }


@pytest.fixture
def fresh_kube(control_plane: LocalControlPlane) -> Iterator[Kube]:
    """A client whose request counter starts at zero (discovery not yet done)."""
    client = Kube.from_kubeconfig(str(control_plane.kubeconfig))
    yield client
    client.close()


@pytest.mark.k8s_smoke
def test_one_list_per_kind_and_namespace_and_one_dry_run_per_object(
    kube: Kube, fresh_kube: Kube, namespace: str
) -> None:
    other = f"{namespace}-b"
    kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": other}})
    try:
        for i in range(10):
            kube.apply(cm(namespace, f"cm-{i}"))
        desired = [
            manifest(cm(ns, f"cm-{i}", "changed" if i % 5 == 0 else "v"))
            for ns in (namespace, other)
            for i in range(15)
        ]

        found = observe.observe(fresh_kube, desired)

        # discovery (2) + one LIST per namespace (2); a dry-run for each object
        # applying could change: 2 changed + 5 new in the first namespace, 15 new
        # in the other. The 8 unchanged ones are proven no-ops and not sent.
        assert fresh_kube.requests == {"GET": 2 + 2, "PATCH": 2 + 5 + 15}
        in_first = [found[m.key] for m in desired if m.key.namespace == namespace]
        assert all(o.dry_run is not None and o.error is None for o in found.values())
        assert [o.live is not None for o in in_first] == [True] * 10 + [False] * 5
        changed = found[Key("", "ConfigMap", namespace, "cm-5")]
        assert changed.live is not None
        assert changed.dry_run is not None
        assert changed.live["data"] == {"k": "v"}
        assert changed.dry_run["data"] == {"k": "changed"}
        assert kube.get("v1", "ConfigMap", "cm-5", namespace=namespace)["data"] == {"k": "v"}  # type: ignore[index]
    finally:
        kube.delete("v1", "Namespace", other)


def test_a_new_namespace_and_a_new_crd_are_notes_not_errors(fresh_kube: Kube) -> None:
    ns = f"t-{uuid.uuid4().hex[:8]}"
    group = f"g{uuid.uuid4().hex[:6]}.example.com"
    crd = objects.crd(group=group, kind="Gadget", plural="gadgets")
    desired = [
        manifest({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
        manifest(cm(ns, "app")),
        manifest(crd),
        manifest(
            {
                "apiVersion": f"{group}/v1",
                "kind": "Gadget",
                "metadata": {"name": "g1", "namespace": "default"},
            }
        ),
    ]

    found = observe.observe(fresh_kube, desired)

    assert found[desired[0].key].dry_run is not None  # the namespace itself dry-runs
    assert found[desired[1].key].note == f"namespace {ns} is created by this change"
    assert found[desired[2].key].dry_run is not None
    assert found[desired[3].key].note == "its CustomResourceDefinition is created by this change"
    assert all(o.error is None for o in found.values())


def test_an_invalid_object_is_an_error_for_that_object_only(
    fresh_kube: Kube, namespace: str
) -> None:
    bad = cm(namespace, "bad")
    bad["data"] = {"k": 5}  # ConfigMap data values must be strings
    good = cm(namespace, "good")

    found = observe.observe(fresh_kube, [manifest(bad), manifest(good)])

    error = found[Key("", "ConfigMap", namespace, "bad")].error
    assert error is not None
    # The API server answers 500 for a type error in an apply patch, and names the field.
    assert error.startswith(f"dry-run applying ConfigMap {namespace}/bad: HTTP 500")
    assert ".data.k: expected string" in error
    assert found[Key("", "ConfigMap", namespace, "good")].dry_run is not None


def test_a_field_owned_by_another_manager_is_shown_forced_with_a_note(
    control_plane: LocalControlPlane, kube: Kube, fresh_kube: Kube, namespace: str
) -> None:
    other = Kube.from_kubeconfig(str(control_plane.kubeconfig), field_manager="kubectl-edit")
    try:
        other.apply(cm(namespace, "shared", "theirs"))
    finally:
        other.close()

    found = observe.observe(fresh_kube, [manifest(cm(namespace, "shared", "ours"))])

    result = found[Key("", "ConfigMap", namespace, "shared")]
    assert result.error is None
    assert result.dry_run is not None
    assert result.dry_run["data"] == {"k": "ours"}
    assert "takes fields from another manager" in result.note
    assert "kubectl-edit" in result.note


def test_only_objects_that_applying_would_change_are_dry_run(
    kube: Kube, fresh_kube: Kube, namespace: str
) -> None:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {"name": "db", "namespace": namespace},
        "stringData": {"password": "pw-1"},
    }
    dep = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": namespace, "labels": {"tier": "front"}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1"}]},
            },
        },
    }
    applied = [cm(namespace, "a"), secret, dep]
    for obj in applied:
        kube.apply(obj)

    same = observe.observe(fresh_kube, [manifest(o) for o in applied])
    assert fresh_kube.requests["PATCH"] == 0
    assert all(o.dry_run is o.live for o in same.values())

    # A label we applied before and no longer set would be removed: that must
    # be dry-run, and the result must show it gone.
    unlabelled = copy.deepcopy(dep)
    del unlabelled["metadata"]["labels"]
    rotated = copy.deepcopy(secret)
    rotated["stringData"]["password"] = "pw-2"
    changed = observe.observe(fresh_kube, [manifest(unlabelled), manifest(rotated)])
    assert fresh_kube.requests["PATCH"] == 2
    result = changed[Key("apps", "Deployment", namespace, "web")].dry_run
    assert result is not None
    assert "tier" not in (result["metadata"].get("labels") or {})


def test_objects_the_change_removes_are_looked_up_live(
    kube: Kube, fresh_kube: Kube, namespace: str
) -> None:
    kube.apply(cm(namespace, "going"))

    found = observe.observe(
        fresh_kube, [manifest(cm(namespace, "staying"))], also=[manifest(cm(namespace, "going"))]
    )

    going = found[Key("", "ConfigMap", namespace, "going")]
    assert going.live is not None
    assert going.dry_run is None
    assert fresh_kube.requests["PATCH"] == 1  # the removed object is not dry-run


def test_the_limit_grows_with_successes_and_halves_when_throttled() -> None:
    limit = pool.AdaptiveLimit(start=4, maximum=8)
    for _ in range(40):
        limit.succeeded()
    assert limit.limit == 8
    limit.throttled()
    assert limit.limit == 4
    for _ in range(10):
        limit.throttled()
    assert limit.limit == 1
