"""The apply engine on the real control plane: validate, apply, no-op, conflicts."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator
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

pytestmark = pytest.mark.cluster

MUTATING = ("apply", "delete")


def render(objs: list[dict[str, Any]], env: str = "dev") -> Render:
    return Render.of(
        env,
        [Manifest(Key.of(o), o, Origin("env/dev/all.yaml", i)) for i, o in enumerate(objs)],
    )


def outcomes(result: ApplyResult) -> dict[str, Outcome]:
    return {o.key.name: o.outcome for o in result.objects}


@pytest.fixture
def ref(namespace: str) -> ApplySetRef:
    return ApplySetRef(f"gitops-bot-{uuid.uuid4().hex[:6]}", namespace)


@pytest.fixture
def fresh_kube(control_plane: LocalControlPlane) -> Iterator[Kube]:
    client = Kube.from_kubeconfig(str(control_plane.kubeconfig))
    yield client
    client.close()


def configmaps(namespace: str, n: int, **changed: str) -> list[dict[str, Any]]:
    return [
        objects.configmap(f"cm-{i}", namespace=namespace, value=changed.get(f"cm-{i}", "v"))
        for i in range(n)
    ]


@pytest.mark.k8s_smoke
def test_first_apply_creates_second_is_a_no_op_and_a_change_applies_only_that_object(
    kube: Kube, fresh_kube: Kube, namespace: str, ref: ApplySetRef
) -> None:
    objs = [*configmaps(namespace, 20), objects.deployment(namespace=namespace, replicas=1)]

    first = reconcile(kube, render(objs), applyset=ref, revision="c1")

    assert first.ok, first.error
    assert first.healthy
    assert set(outcomes(first).values()) == {Outcome.CREATED}
    assert first.requests["dry-run"] == 21
    live = kube.get("v1", "ConfigMap", "cm-3", namespace=namespace)
    assert live is not None
    assert live["metadata"]["labels"][applyset.PART_OF] == ref.id

    # A fresh client (as after a restart of the puller): discovery, then only reads.
    second = reconcile(fresh_kube, render(objs), applyset=ref, revision="c1")

    assert second.ok, second.error
    assert set(outcomes(second).values()) == {Outcome.UNCHANGED}
    assert second.healthy  # judged from the listed objects, without a request more
    # One GET of the parent, one LIST per kind (ConfigMap, Deployment) in the one namespace.
    assert second.requests == {"discovery": 2, "get": 1, "list": 2}

    changed = configmaps(namespace, 20, **{"cm-7": "new"}) + objs[20:]
    third = reconcile(kube, render(changed), applyset=ref, revision="c2")

    assert third.ok, third.error
    assert {k: v for k, v in outcomes(third).items() if v is not Outcome.UNCHANGED} == {
        "cm-7": Outcome.CONFIGURED
    }
    assert third.requests["dry-run"] == 1
    assert third.requests["apply"] == 2  # the object, and the parent's new revision
    assert "delete" not in third.requests
    parent = kube.get("v1", "ConfigMap", ref.name, namespace=namespace)
    assert parent is not None
    assert parent["metadata"]["annotations"][applyset.REVISION] == "c2"
    assert parent["metadata"]["annotations"][applyset.RENDER_HASH] == render(changed).hash


def test_one_invalid_object_among_fifty_changes_nothing_and_is_named(
    kube: Kube, namespace: str, ref: ApplySetRef
) -> None:
    objs = configmaps(namespace, 50)
    bad = objs[31]
    bad["data"] = {"value": 5}  # ConfigMap values must be strings

    result = reconcile(kube, render(objs), applyset=ref, revision="c1")

    assert not result.ok
    assert result.error.startswith("validation failed, nothing was changed: 1 object(s) failed")
    failed = [o for o in result.objects if o.outcome is Outcome.FAILED]
    assert [o.key.name for o in failed] == ["cm-31"]
    assert "env/dev/all.yaml (document 32)" in failed[0].message
    assert ".data.value: expected string" in failed[0].message
    assert "cm-31" in result.error
    assert not any(result.requests.get(verb) for verb in MUTATING)
    assert (
        kube.list_objects("v1", "ConfigMap", namespace=namespace, label_selector=ref.selector) == []
    )
    assert kube.get("v1", "ConfigMap", ref.name, namespace=namespace) is None


def test_a_field_the_schema_does_not_declare_is_refused_and_nothing_changes(
    kube: Kube, namespace: str, ref: ApplySetRef
) -> None:
    # The server's field validation is left at its default (Warn), which only
    # warns; a field the schema does not declare is refused by the apply itself.
    objs = configmaps(namespace, 3)
    objs[1]["spec"] = {"replcas": 2}  # a ConfigMap has no spec, and nothing has replcas

    result = reconcile(kube, render(objs), applyset=ref, revision="c1")

    assert not result.ok
    failed = [o for o in result.objects if o.outcome is Outcome.FAILED]
    assert [o.key.name for o in failed] == ["cm-1"]
    assert ".spec: field not declared in schema" in failed[0].message
    assert not any(result.requests.get(verb) for verb in MUTATING)
    assert kube.get("v1", "ConfigMap", "cm-0", namespace=namespace) is None


def test_errors_never_echo_a_secret_value(kube: Kube, namespace: str, ref: ApplySetRef) -> None:
    canary = int(uuid.uuid4().int % 10**15)
    secret = objects.secret("db", namespace=namespace, password="fine-as-a-string")
    # A number where a string belongs: the API server answers 500 and echoes the value.
    secret["stringData"]["pin"] = canary

    result = reconcile(kube, render([secret]), applyset=ref, revision="c1")

    assert not result.ok
    assert result.objects[0].outcome is Outcome.FAILED
    text = result.error + "".join(o.message for o in result.objects)
    assert ".stringData.pin: expected string" in text
    assert "Value:***" in text  # the echo was there, and was scrubbed
    assert str(canary) not in text


def test_the_secret_scrubber_is_built_once_per_set_of_secrets_not_per_object(
    kube: Kube, namespace: str, ref: ApplySetRef, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Built per object's result, it made a reconcile quadratic in the objects
    # (secret values grow with them): 24 s of 84 s at 2,000 objects.
    from gitops_bot.cluster import apply as apply_mod  # noqa: PLC0415 - patched here only

    built: list[int] = []
    real = apply_mod.mask.scrubber

    def counting(secrets: Any) -> Any:
        built.append(1)
        return real(secrets)

    monkeypatch.setattr(apply_mod.mask, "scrubber", counting)
    objs = [
        *configmaps(namespace, 40),
        *(
            objects.secret(f"s-{i}", namespace=namespace, password=f"pw-{i}-long")
            for i in range(20)
        ),
    ]

    result = reconcile(kube, render(objs), applyset=ref, revision="c1")

    assert result.ok, result.error
    assert outcomes(result) == {o["metadata"]["name"]: Outcome.CREATED for o in objs}
    assert len(built) <= 2  # the secrets of the render, then those of the cluster


@pytest.mark.k8s_smoke
def test_a_conflict_names_the_other_manager_and_is_forced_only_if_configured(
    control_plane: LocalControlPlane, kube: Kube, namespace: str, ref: ApplySetRef
) -> None:
    other = Kube.from_kubeconfig(str(control_plane.kubeconfig), field_manager="hand-edit")
    try:
        other.apply(objects.configmap("shared", namespace=namespace, value="theirs"))
    finally:
        other.close()
    objs = [objects.configmap("shared", namespace=namespace, value="ours")]
    objs.append(objects.configmap("mine", namespace=namespace, value="x"))

    refused = reconcile(kube, render(objs), applyset=ref, revision="c1")

    assert not refused.ok
    failed = {o.key.name: o.message for o in refused.objects if o.outcome is Outcome.FAILED}
    assert list(failed) == ["shared"]
    assert 'field manager "hand-edit"' in failed["shared"]
    assert not any(refused.requests.get(verb) for verb in MUTATING)
    assert kube.get("v1", "ConfigMap", "mine", namespace=namespace) is None

    forced = reconcile(
        kube,
        render(objs),
        applyset=ref,
        revision="c1",
        options=ApplyOptions(force_conflicts=True),
    )

    assert forced.ok, forced.error
    assert outcomes(forced) == {"shared": Outcome.CONFIGURED, "mine": Outcome.CREATED}
    live = kube.get("v1", "ConfigMap", "shared", namespace=namespace)
    assert live is not None
    assert live["data"] == {"value": "ours"}


def test_bad_wave_annotation_and_foreign_part_of_label_fail_before_any_request(
    fresh_kube: Kube, namespace: str, ref: ApplySetRef
) -> None:
    waved = objects.configmap("waved", namespace=namespace)
    waved["metadata"]["annotations"] = {"gitops-bot.io/wave": "soon"}
    foreign = objects.configmap("foreign", namespace=namespace)
    foreign["metadata"]["labels"] = {applyset.PART_OF: "applyset-someone-else-v1"}

    result = reconcile(fresh_kube, render([waved, foreign]), applyset=ref, revision="c1")

    assert not result.ok
    messages = {o.key.name: o.message for o in result.objects}
    assert "annotation gitops-bot.io/wave must be an integer" in messages["waved"]
    assert "'soon'" in messages["waved"]
    assert "env/dev/all.yaml" in messages["waved"]
    assert "applyset-someone-else-v1" in messages["foreign"]
    assert result.requests == {}


def test_empty_render_is_refused(kube: Kube, namespace: str, ref: ApplySetRef) -> None:
    reconcile(kube, render(configmaps(namespace, 3)), applyset=ref, revision="c1")

    result = reconcile(kube, render([]), applyset=ref, revision="c2")

    assert not result.ok
    assert "is empty: refusing to apply or prune anything" in result.error
    assert result.objects == ()
    assert result.requests == {}
    assert len(inventory(kube, ref)) == 3


def test_a_parent_of_another_tool_is_not_taken_over(
    kube: Kube, namespace: str, ref: ApplySetRef
) -> None:
    kube.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": ref.name,
                "namespace": namespace,
                "labels": {applyset.ID_LABEL: ref.id},
                "annotations": {applyset.TOOLING: "kubectl/v1.36"},
            },
        }
    )

    result = reconcile(kube, render(configmaps(namespace, 2)), applyset=ref, revision="c1")

    assert not result.ok
    assert "is managed by kubectl/v1.36, not gitops-bot" in result.error
    assert not any(result.requests.get(verb) for verb in MUTATING)


def test_the_parent_records_the_union_before_applying(
    kube: Kube, namespace: str, ref: ApplySetRef
) -> None:
    """A failed apply leaves the new kinds recorded, so nothing it created is lost."""
    reconcile(kube, render(configmaps(namespace, 2)), applyset=ref, revision="c1")
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "never", "namespace": namespace},
        "spec": {
            "template": {
                "spec": {
                    "restartPolicy": "Never",
                    "nodeSelector": {"no-such-node": "x"},
                    "containers": [{"name": "c", "image": "busybox"}],
                }
            }
        },
    }
    sa: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {
            "name": "late",
            "namespace": namespace,
            "annotations": {"gitops-bot.io/wave": "1"},
        },
    }

    result = reconcile(
        kube,
        render([*configmaps(namespace, 2), job, sa]),
        applyset=ref,
        revision="c2",
        options=ApplyOptions(health_timeout=2),
    )

    assert not result.ok
    assert "waiting for wave 0 to be healthy before the next" in result.error
    assert "Job " + namespace + "/never (Progressing" in result.error
    assert outcomes(result)["late"] is Outcome.NOT_APPLIED
    assert kube.get("v1", "ServiceAccount", "late", namespace=namespace) is None
    parent = applyset.read_parent(kube, ref)
    assert parent.group_kinds == {("", "ConfigMap"), ("batch", "Job"), ("", "ServiceAccount")}
    assert parent.revision == "c1"  # the new revision was not applied in full
    assert {Key.of(o).name for o in inventory(kube, ref)} == {"cm-0", "cm-1", "never"}


def test_secret_stringdata_is_a_no_op_the_second_time(
    kube: Kube, namespace: str, ref: ApplySetRef
) -> None:
    objs = [objects.secret("db", namespace=namespace, password="s3cret-value")]
    first = reconcile(kube, render(copy.deepcopy(objs)), applyset=ref, revision="c1")
    assert first.ok, first.error

    second = reconcile(kube, render(objs), applyset=ref, revision="c1")

    assert second.ok, second.error
    assert outcomes(second) == {"db": Outcome.UNCHANGED}
    assert not any(second.requests.get(verb) for verb in (*MUTATING, "dry-run"))
