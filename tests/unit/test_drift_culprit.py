"""puller.drift.culprit: who changed a field we set, also through a subresource."""

from __future__ import annotations

from typing import Any

import pytest

from gitops_bot.puller.drift import culprit

DESIRED = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web", "labels": {"app": "web"}},
    "spec": {"replicas": 2, "paused": False},
}


def _live(replicas: int, entries: list[dict[str, Any]], **labels: str) -> dict[str, Any]:
    return {
        **DESIRED,
        "metadata": {
            "name": "web",
            "labels": {"app": "web", **labels},
            "managedFields": [
                {"fieldsType": "FieldsV1", "operation": "Update", **e} for e in entries
            ],
        },
        "spec": {"replicas": replicas, "paused": False},
    }


OURS = {
    "manager": "gitops-bot",
    "operation": "Apply",
    "time": "2026-01-01T00:00:00Z",
    "fieldsV1": {"f:metadata": {"f:labels": {"f:app": {}}}, "f:spec": {"f:paused": {}}},
}
REPLICAS = {"f:spec": {"f:replicas": {}}}


@pytest.mark.parametrize(
    ("live", "who"),
    [
        (
            _live(5, [OURS, {"manager": "kubectl", "subresource": "scale", "fieldsV1": REPLICAS}]),
            "kubectl (via scale)",
        ),
        (
            _live(
                7,
                [
                    OURS,
                    {
                        "manager": "kube-controller-manager",
                        "subresource": "scale",
                        "time": "2026-01-01T00:05:00Z",
                        "fieldsV1": REPLICAS,
                    },
                    # Newer, but it owns nothing that drifted.
                    {
                        "manager": "kubectl-label",
                        "time": "2026-01-01T00:09:00Z",
                        "fieldsV1": {"f:metadata": {"f:labels": {"f:team": {}}}},
                    },
                ],
                team="x",
            ),
            "kube-controller-manager (via scale)",
        ),
        (
            _live(
                3,
                [
                    OURS,
                    {"manager": "a", "time": "2026-01-01T00:01:00Z", "fieldsV1": REPLICAS},
                    {"manager": "b", "time": "2026-01-01T00:02:00Z", "fieldsV1": REPLICAS},
                ],
            ),
            "b",  # of two owners, the newest writer
        ),
        (_live(3, [OURS]), ""),  # nobody owns the drifted field: nobody is named
    ],
    ids=["kubectl-scale", "hpa", "newest", "nobody"],
)
def test_the_culprit_is_named_with_the_subresource(live: dict[str, Any], who: str) -> None:
    assert culprit(DESIRED, live, manager="gitops-bot") == who
