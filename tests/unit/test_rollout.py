"""Health of StatefulSets, DaemonSets and Jobs (core.objects.rollout), as tables."""

from __future__ import annotations

from typing import Any

import pytest

from gitops_bot.core.objects.health import Status
from gitops_bot.core.objects.rollout import assess


def obj(
    kind: str, spec: dict[str, Any], status: dict[str, Any], generation: int = 2
) -> dict[str, Any]:
    group = "batch/v1" if kind == "Job" else "apps/v1"
    meta = {"name": "x", "generation": generation}
    return {"apiVersion": group, "kind": kind, "metadata": meta, "spec": spec, "status": status}


def sts(status: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return obj("StatefulSet", {"replicas": 3, **spec}, status)


def ds(**status: Any) -> dict[str, Any]:
    return obj("DaemonSet", {}, status)


def job(*conditions: tuple[str, str], active: int = 0) -> dict[str, Any]:
    listed = [{"type": t, "status": s, "message": f"{t} says so"} for t, s in conditions]
    return obj("Job", {}, {"conditions": listed, "active": active})


DONE = {"observedGeneration": 2, "readyReplicas": 3, "updatedReplicas": 3}


@pytest.mark.parametrize(
    ("live", "status", "message"),
    [
        (sts({"observedGeneration": 1}), Status.PROGRESSING, "waiting for the controller"),
        (
            sts({"observedGeneration": 2, "readyReplicas": 1}),
            Status.PROGRESSING,
            "1 of 3 replicas ready",
        ),
        (
            sts({**DONE, "currentRevision": "a", "updateRevision": "b", "updatedReplicas": 1}),
            Status.PROGRESSING,
            "1 of 3 replicas at the new revision",
        ),
        (
            sts({**DONE, "currentRevision": "b", "updateRevision": "b"}),
            Status.HEALTHY,
            "3 of 3 replicas ready",
        ),
        (
            sts(
                {**DONE, "updatedReplicas": 0},
                updateStrategy={"type": "RollingUpdate", "rollingUpdate": {"partition": 2}},
            ),
            Status.PROGRESSING,
            "0 of 1 partitioned replicas updated",
        ),
        (
            sts({**DONE, "updatedReplicas": 1}, updateStrategy={"rollingUpdate": {"partition": 2}}),
            Status.HEALTHY,
            "partitioned rollout complete: 1 updated",
        ),
        (
            sts(DONE, updateStrategy={"type": "OnDelete"}),
            Status.HEALTHY,
            "3 of 3 replicas ready (updated on delete)",
        ),
        (ds(observedGeneration=1), Status.PROGRESSING, "waiting for the controller"),
        (
            ds(observedGeneration=2, desiredNumberScheduled=3, updatedNumberScheduled=2),
            Status.PROGRESSING,
            "2 of 3 pods updated",
        ),
        (
            ds(
                observedGeneration=2,
                desiredNumberScheduled=3,
                updatedNumberScheduled=3,
                numberAvailable=1,
            ),
            Status.PROGRESSING,
            "1 of 3 updated pods available",
        ),
        (
            ds(
                observedGeneration=2,
                desiredNumberScheduled=3,
                updatedNumberScheduled=3,
                numberAvailable=3,
            ),
            Status.HEALTHY,
            "3 of 3 pods available",
        ),
        (job(active=1), Status.PROGRESSING, "running (1 active pods)"),
        (job(("Complete", "True")), Status.HEALTHY, "complete"),
        (job(("Failed", "True")), Status.DEGRADED, "Failed says so"),
        (job(("Suspended", "True")), Status.PROGRESSING, "suspended"),
    ],
)
def test_assess(live: dict[str, Any], status: Status, message: str) -> None:
    health = assess(live)
    assert health.status is status
    assert message in health.message


def test_other_kinds_follow_core_health() -> None:
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "status": {"conditions": [{"type": "Established", "status": "True"}]},
    }
    assert assess(crd).status is Status.HEALTHY
    assert assess({"apiVersion": "v1", "kind": "ConfigMap"}).status is Status.HEALTHY
