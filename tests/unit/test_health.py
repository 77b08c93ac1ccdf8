from __future__ import annotations

from typing import Any

import pytest

from gitops_bot.core.objects.health import Status, assess


def deployment(*, want: int = 3, generation: int = 2, **status: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "generation": generation},
        "spec": {"replicas": want},
        "status": status,
    }


@pytest.mark.parametrize(
    ("obj", "status", "message"),
    [
        pytest.param(
            deployment(observedGeneration=1, replicas=3, updatedReplicas=3, availableReplicas=3),
            Status.PROGRESSING,
            "waiting for the controller",
            id="generation-not-observed",
        ),
        pytest.param(
            deployment(observedGeneration=2, updatedReplicas=1, replicas=3, availableReplicas=3),
            Status.PROGRESSING,
            "1 of 3 replicas updated",
            id="updating",
        ),
        pytest.param(
            deployment(observedGeneration=2, updatedReplicas=3, replicas=4, availableReplicas=3),
            Status.PROGRESSING,
            "1 old replicas pending termination",
            id="old-replicas-left",
        ),
        pytest.param(
            deployment(observedGeneration=2, updatedReplicas=3, replicas=3, availableReplicas=2),
            Status.PROGRESSING,
            "2 of 3 updated replicas available",
            id="not-available",
        ),
        pytest.param(
            deployment(observedGeneration=2, updatedReplicas=3, replicas=3, availableReplicas=3),
            Status.HEALTHY,
            "3 of 3 replicas available",
            id="rolled-out",
        ),
        pytest.param(
            deployment(
                observedGeneration=2,
                updatedReplicas=1,
                replicas=3,
                conditions=[
                    {
                        "type": "Progressing",
                        "status": "False",
                        "reason": "ProgressDeadlineExceeded",
                        "message": 'ReplicaSet "web-1" has timed out progressing.',
                    }
                ],
            ),
            Status.DEGRADED,
            "timed out progressing",
            id="deadline-exceeded",
        ),
        pytest.param(
            {
                "apiVersion": "apiextensions.k8s.io/v1",
                "kind": "CustomResourceDefinition",
                "status": {"conditions": [{"type": "Established", "status": "True"}]},
            },
            Status.HEALTHY,
            "established",
            id="crd-established",
        ),
        pytest.param(
            {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition"},
            Status.PROGRESSING,
            "waiting to be established",
            id="crd-new",
        ),
        pytest.param(
            {
                "apiVersion": "apiextensions.k8s.io/v1",
                "kind": "CustomResourceDefinition",
                "status": {
                    "conditions": [
                        {
                            "type": "NamesAccepted",
                            "status": "False",
                            "message": "plural name conflicts",
                        }
                    ]
                },
            },
            Status.DEGRADED,
            "conflicts",
            id="crd-names-rejected",
        ),
        pytest.param(
            {
                "apiVersion": "example.com/v1",
                "kind": "Widget",
                "status": {
                    "conditions": [{"type": "Ready", "status": "False", "reason": "Waiting"}]
                },
            },
            Status.PROGRESSING,
            "Waiting",
            id="ready-condition-false",
        ),
        pytest.param(
            {
                "apiVersion": "example.com/v1",
                "kind": "Widget",
                "status": {"conditions": [{"type": "Ready", "status": "True"}]},
            },
            Status.HEALTHY,
            "",
            id="ready-condition-true",
        ),
        pytest.param(
            {"apiVersion": "v1", "kind": "ConfigMap"},
            Status.HEALTHY,
            "",
            id="no-status",
        ),
    ],
)
def test_assess(obj: dict[str, Any], status: Status, message: str) -> None:
    verdict = assess(obj)
    assert verdict.status is status
    assert message in verdict.message


def test_deployment_replicas_default_to_one() -> None:
    obj = deployment(
        want=1, observedGeneration=2, updatedReplicas=1, replicas=1, availableReplicas=1
    )
    del obj["spec"]["replicas"]
    assert assess(obj).status is Status.HEALTHY
