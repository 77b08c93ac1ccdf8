"""Stages, waves and health: CRDs and Namespaces first, waves in order, bounded waits."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from gitops_bot.cluster import applyset
from gitops_bot.cluster.apply import ApplyOptions, ApplySetRef, Outcome, reconcile
from gitops_bot.cluster.kube import Kube
from gitops_bot.core.objects.health import Status
from gitops_bot.core.objects.model import Key, Manifest, Origin, Render
from tests import objects

pytestmark = pytest.mark.cluster


def render(objs: list[dict[str, Any]]) -> Render:
    return Render.of(
        "dev", [Manifest(Key.of(o), o, Origin("all.yaml", i)) for i, o in enumerate(objs)]
    )


@pytest.fixture
def ref(namespace: str) -> ApplySetRef:
    return ApplySetRef("gitops-bot-dev", namespace)


@pytest.fixture
def crd(kube: Kube) -> Iterator[dict[str, Any]]:
    group = f"g{uuid.uuid4().hex[:8]}.example.com"
    schema = {
        "type": "object",
        "properties": {
            "spec": {"type": "object", "properties": {"size": {"type": "integer"}}},
        },
    }
    obj = objects.crd(group=group, kind="Gadget", plural="gadgets", schema=schema)
    yield obj
    kube.delete("apiextensions.k8s.io/v1", "CustomResourceDefinition", obj["metadata"]["name"])


def gadget(crd: dict[str, Any], namespace: str, name: str, size: Any) -> dict[str, Any]:
    return {
        "apiVersion": f"{crd['spec']['group']}/v1",
        "kind": "Gadget",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"size": size},
    }


@pytest.mark.k8s_smoke
def test_a_crd_and_its_custom_resources_in_one_revision(
    kube: Kube, namespace: str, ref: ApplySetRef, crd: dict[str, Any]
) -> None:
    objs = [
        crd,
        gadget(crd, namespace, "g1", 3),
        objects.configmap("cm", namespace=namespace, k="v"),
    ]

    result = reconcile(kube, render(objs), applyset=ref, revision="c1")

    assert result.ok, result.error
    assert result.healthy
    assert {o.key.kind: o.outcome for o in result.objects} == {
        "CustomResourceDefinition": Outcome.CREATED,
        "Gadget": Outcome.CREATED,
        "ConfigMap": Outcome.CREATED,
    }
    assert result.requests["dry-run"] == 3  # the Gadget after the CRD was served
    live = kube.get(f"{crd['spec']['group']}/v1", "Gadget", "g1", namespace=namespace)
    assert live is not None
    assert live["spec"] == {"size": 3}
    parent = applyset.read_parent(kube, ref)
    assert (crd["spec"]["group"], "Gadget") in parent.group_kinds
    assert ("apiextensions.k8s.io", "CustomResourceDefinition") in parent.group_kinds

    again = reconcile(kube, render(objs), applyset=ref, revision="c1")
    assert again.ok, again.error
    assert {
        o.key.kind: o.outcome for o in again.objects if o.outcome is not Outcome.UNCHANGED
    } == {}


def test_a_custom_resource_the_new_crd_rejects_stops_after_stage_0(
    kube: Kube, namespace: str, ref: ApplySetRef, crd: dict[str, Any]
) -> None:
    objs = [
        crd,
        gadget(crd, namespace, "bad", "large"),  # size must be an integer
        objects.configmap("cm", namespace=namespace),
    ]

    result = reconcile(kube, render(objs), applyset=ref, revision="c1")

    assert not result.ok
    assert result.error.startswith(
        f"validation failed after stage 0 (CRDs and Namespaces: CustomResourceDefinition "
        f"{crd['metadata']['name']} applied); nothing else was changed"
    )
    by_kind = {o.key.kind: o for o in result.objects}
    assert by_kind["Gadget"].outcome is Outcome.FAILED
    assert "spec.size" in by_kind["Gadget"].message
    assert by_kind["CustomResourceDefinition"].outcome is Outcome.CREATED
    assert kube.get("v1", "ConfigMap", "cm", namespace=namespace) is None


def test_a_namespace_and_objects_in_it_in_one_revision(
    kube: Kube, namespace: str, ref: ApplySetRef
) -> None:
    new = f"t-{uuid.uuid4().hex[:10]}"
    objs = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": new}},
        objects.configmap("app", namespace=new, value="1"),
        objects.deployment(namespace=new, replicas=1),
    ]
    try:
        result = reconcile(kube, render(objs), applyset=ref, revision="c1")

        assert result.ok, result.error
        assert result.healthy
        assert {o.outcome for o in result.objects} == {Outcome.CREATED}
        parent = applyset.read_parent(kube, ref)
        assert parent.namespaces == {new}  # the children live beyond the parent's namespace

        again = reconcile(kube, render(objs), applyset=ref, revision="c1")
        assert {o.outcome for o in again.objects} == {Outcome.UNCHANGED}
        assert not again.requests.get("apply")
    finally:
        kube.delete("v1", "Namespace", new)


@pytest.mark.k8s_smoke
def test_waves_apply_in_order_and_wait_for_the_previous_wave(
    kube: Kube, namespace: str, ref: ApplySetRef
) -> None:
    def waved(obj: dict[str, Any], wave: int) -> dict[str, Any]:
        obj["metadata"]["annotations"] = {"gitops-bot.io/wave": str(wave)}
        return obj

    migrate = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "migrate", "namespace": namespace},
        "spec": {
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [{"name": "m", "image": "migrate:1"}],
                }
            }
        },
    }
    objs = [
        waved(migrate, -1),
        *[waved(objects.configmap(f"late-{i}", namespace=namespace), 2) for i in range(3)],
        *[waved(objects.configmap(f"first-{i}", namespace=namespace), -1) for i in range(3)],
        *[objects.configmap(f"middle-{i}", namespace=namespace) for i in range(3)],
    ]

    result = reconcile(kube, render(objs), applyset=ref, revision="c1")

    assert result.ok, result.error
    job_health = next(o.health for o in result.objects if o.key.kind == "Job")
    assert job_health is not None
    assert job_health.status is Status.HEALTHY  # kwok completes the Job's pod
    versions: dict[str, list[int]] = {}
    for item in kube.list_objects(
        "v1", "ConfigMap", namespace=namespace, label_selector=ref.selector
    ):
        versions.setdefault(item["metadata"]["name"].split("-")[0], []).append(
            int(item["metadata"]["resourceVersion"])
        )
    assert max(versions["first"]) < min(versions["middle"])
    assert max(versions["middle"]) < min(versions["late"])
    job = kube.get("batch/v1", "Job", "migrate", namespace=namespace)
    assert job is not None
    completed = int(job["metadata"]["resourceVersion"])
    assert completed < min(versions["middle"])  # wave 0 waited for the Job to complete


def test_a_rollout_that_never_gets_healthy_times_out_naming_it(
    kube: Kube, namespace: str, ref: ApplySetRef
) -> None:
    stuck = objects.deployment(namespace=namespace, name="stuck", replicas=1)
    stuck["spec"]["template"]["spec"]["nodeSelector"] = {"no-such-node": "anywhere"}
    objs = [stuck, objects.deployment(namespace=namespace, name="fine", replicas=1)]

    result = reconcile(
        kube, render(objs), applyset=ref, revision="c1", options=ApplyOptions(health_timeout=3)
    )

    assert not result.ok
    assert not result.healthy
    assert result.error.startswith("waiting for health: 1 object(s) not healthy within 3s:")
    assert f"Deployment {namespace}/stuck (Progressing: 0 of 1 updated replicas available)" in (
        result.error
    )
    health = {o.key.name: o.health for o in result.objects}
    assert health["fine"] is not None
    assert health["fine"].status is Status.HEALTHY
    assert health["stuck"] is not None
    assert health["stuck"].status is Status.PROGRESSING
    # Applied all the same, and recorded: the revision is in the cluster.
    assert applyset.read_parent(kube, ref).revision == "c1"


@pytest.mark.k8s_smoke
def test_statefulsets_and_daemonsets_are_waited_for(
    kube: Kube, namespace: str, ref: ApplySetRef
) -> None:
    labels = {"app": "db"}
    template = {
        "metadata": {"labels": labels},
        "spec": {"containers": [{"name": "db", "image": "postgres:17"}]},
    }
    sts = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "db", "namespace": namespace},
        "spec": {
            "replicas": 2,
            "serviceName": "db",
            "selector": {"matchLabels": labels},
            "template": template,
        },
    }
    ds = {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": "agent", "namespace": namespace},
        "spec": {
            "selector": {"matchLabels": {"app": "agent"}},
            "template": {**template, "metadata": {"labels": {"app": "agent"}}},
        },
    }

    result = reconcile(kube, render([sts, ds]), applyset=ref, revision="c1")

    assert result.ok, result.error
    health = {o.key.kind: o.health for o in result.objects}
    assert health["StatefulSet"] is not None
    assert health["StatefulSet"].message == "2 of 2 replicas ready"
    assert health["DaemonSet"] is not None
    assert health["DaemonSet"].message == "1 of 1 pods available"
