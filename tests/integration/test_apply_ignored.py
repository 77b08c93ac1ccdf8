"""Fields the cluster owns (core.objects.ignore) on the real control plane: never
applied after the create, handed over without a reset, never a change."""

from __future__ import annotations

import copy
import uuid
from typing import Any

import pytest

from gitops_bot.cluster.apply import ApplyOptions, ApplyResult, ApplySetRef, Outcome, reconcile
from gitops_bot.cluster.kube import Kube
from gitops_bot.core.objects import ignore
from gitops_bot.core.objects.model import Key, Manifest, Origin, Render
from gitops_bot.core.policy import rules as policy_config
from tests import objects

pytestmark = pytest.mark.cluster

MUTATING = ("apply", "dry-run", "delete")
OPTIONS = ApplyOptions(wait=False)


def render(objs: list[dict[str, Any]]) -> Render:
    return Render.of(
        "dev", [Manifest(Key.of(o), o, Origin("env/dev/all.yaml", i)) for i, o in enumerate(objs)]
    )


def sent(result: ApplyResult) -> dict[str, int]:
    return {k: n for k, n in result.requests.items() if k in MUTATING}


def scale(kube: Kube, namespace: str, replicas: int, *, manager: str = "hpa-like") -> None:
    """What a HorizontalPodAutoscaler does: a PATCH of /scale."""
    kube._call(
        "PATCH",
        f"/apis/apps/v1/namespaces/{namespace}/deployments/web/scale",
        doing="scaling web",
        query=[("fieldManager", manager)],
        body={"spec": {"replicas": replicas}},
        content_type="application/merge-patch+json",
    )


def replicas(kube: Kube, namespace: str) -> int:
    obj = kube.get("apps/v1", "Deployment", "web", namespace=namespace)
    assert obj is not None
    return int(obj["spec"]["replicas"])


def annotated(obj: dict[str, Any], fields: str) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    out["metadata"].setdefault("annotations", {})[ignore.ANNOTATION] = fields
    return out


@pytest.fixture
def ref(namespace: str) -> ApplySetRef:
    return ApplySetRef(f"gitops-bot-{uuid.uuid4().hex[:6]}", namespace)


def test_replicas_under_an_hpa_are_neither_sent_nor_fought(
    kube: Kube, namespace: str, ref: ApplySetRef
) -> None:
    web = annotated(objects.deployment(namespace=namespace, replicas=3), "spec.replicas")
    first = reconcile(kube, render([web]), applyset=ref, revision="c1", options=OPTIONS)
    assert first.ok, first.error
    assert replicas(kube, namespace) == 3, "the manifest's value is the starting value"

    assert sent(reconcile(kube, render([web]), applyset=ref, revision="c1", options=OPTIONS)) == {}

    scale(kube, namespace, 7)
    again = reconcile(kube, render([web]), applyset=ref, revision="c1", options=OPTIONS)
    assert sent(again) == {}
    assert {o.outcome for o in again.objects} == {Outcome.UNCHANGED}
    assert replicas(kube, namespace) == 7

    # A change in Git of the ignored field alone is no change either.
    web5 = annotated(objects.deployment(namespace=namespace, replicas=5), "spec.replicas")
    changed = reconcile(kube, render([web5]), applyset=ref, revision="c2", options=OPTIONS)
    assert {o.outcome for o in changed.objects} == {Outcome.UNCHANGED}
    assert "dry-run" not in changed.requests  # only the parent records the new revision
    assert replicas(kube, namespace) == 7


def test_declaring_a_field_ignored_hands_it_over_without_resetting_it(
    kube: Kube, namespace: str, ref: ApplySetRef
) -> None:
    web = objects.deployment(namespace=namespace, replicas=4)
    assert reconcile(kube, render([web]), applyset=ref, revision="c1", options=OPTIONS).ok

    # Our manager owns replicas; stopping to send it would make the server drop
    # it (back to 1) unless another manager holds it first.
    rules = (
        ignore.Rule(
            kinds=(policy_config.KindMatch("Deployment", "apps"),),
            fields=(ignore.parse_field("spec.replicas"),),
        ),
    )
    handed = reconcile(
        kube, render([web]), applyset=ref, revision="c2", options=OPTIONS, ignore_fields=rules
    )
    assert handed.ok, handed.error
    assert replicas(kube, namespace) == 4
    live = kube.get("apps/v1", "Deployment", "web", namespace=namespace)
    assert live is not None
    owners = {
        e["manager"]
        for e in live["metadata"]["managedFields"]
        if "f:replicas" in (e.get("fieldsV1") or {}).get("f:spec", {})
    }
    assert owners == {ignore.handover_manager(kube.field_manager)}

    steady = reconcile(
        kube, render([web]), applyset=ref, revision="c2", options=OPTIONS, ignore_fields=rules
    )
    assert sent(steady) == {}
    scale(kube, namespace, 6)
    after = reconcile(
        kube, render([web]), applyset=ref, revision="c2", options=OPTIONS, ignore_fields=rules
    )
    assert sent(after) == {}
    assert replicas(kube, namespace) == 6


def test_a_ca_bundle_injected_by_another_manager_is_left_alone(
    kube: Kube, namespace: str, ref: ApplySetRef
) -> None:
    name = f"hooks-{uuid.uuid4().hex[:8]}"
    hooks = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": name},
        "webhooks": [
            {
                "name": "a.example.com",
                "admissionReviewVersions": ["v1"],
                "sideEffects": "None",
                "failurePolicy": "Ignore",
                "rules": [
                    {
                        "apiGroups": [""],
                        "apiVersions": ["v1"],
                        "operations": ["CREATE"],
                        "resources": ["configmaps"],
                        "scope": "Namespaced",
                    }
                ],
                "namespaceSelector": {"matchLabels": {"never": "matches"}},
                "clientConfig": {"service": {"namespace": namespace, "name": "a"}},
            }
        ],
    }
    rules = (
        ignore.Rule(
            kinds=(policy_config.KindMatch("ValidatingWebhookConfiguration"),),
            fields=(ignore.parse_field("webhooks[*].clientConfig.caBundle"),),
        ),
    )
    try:
        first = reconcile(
            kube, render([hooks]), applyset=ref, revision="c1", options=OPTIONS, ignore_fields=rules
        )
        assert first.ok, first.error
        kube._call(  # what cert-manager's cainjector does
            "PATCH",
            f"/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations/{name}",
            doing="injecting",
            query=[("fieldManager", "cainjector")],
            body={"webhooks": [{"name": "a.example.com", "clientConfig": {"caBundle": "Q0E="}}]},
            content_type="application/strategic-merge-patch+json",
        )
        again = reconcile(
            kube, render([hooks]), applyset=ref, revision="c1", options=OPTIONS, ignore_fields=rules
        )
        assert sent(again) == {}
        live = kube.get("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration", name)
        assert live is not None
        assert live["webhooks"][0]["clientConfig"]["caBundle"] == "Q0E="
    finally:
        kube.delete("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration", name)


def test_a_bad_annotation_fails_validation_naming_object_and_annotation(
    kube: Kube, namespace: str, ref: ApplySetRef
) -> None:
    web = annotated(objects.deployment(namespace=namespace), "spec.replicas, metadata.name")
    result = reconcile(kube, render([web]), applyset=ref, revision="c1", options=OPTIONS)
    assert not result.ok
    assert (
        f"Deployment {namespace}/web (env/dev/all.yaml (document 1)): annotation " in result.error
    )
    assert ignore.ANNOTATION in result.error
    assert "'metadata.name'" in result.error
    assert kube.get("apps/v1", "Deployment", "web", namespace=namespace) is None
