"""The status object's record, and naming who made a drift."""

from __future__ import annotations

from typing import Any

import pytest

from gitops_bot.puller import status as status_mod
from gitops_bot.puller.drift import culprit


def _record(i: int, outcome: str = "applied") -> status_mod.Record:
    return status_mod.Record(time=f"t{i}", commit=f"{i:040x}", outcome=outcome, render_hash=f"h{i}")


def test_the_status_object_round_trips_and_keeps_the_last_ten_applies() -> None:
    status = status_mod.EnvStatus(env="prod")
    for i in range(12):
        status = status.applied(_record(i), health={"counts": {"Healthy": i}}, ok=True)
    status = status.applied(_record(12, "failed"), health={}, ok=False)
    status = status.drifted({"object": "ConfigMap a/b", "manager": "kubectl-edit"})
    obj = status_mod.to_object(status, namespace="gitops-bot")
    assert obj["metadata"]["name"] == "gitops-bot-status-prod"
    assert all(isinstance(v, str) for v in obj["data"].values())

    back = status_mod.from_object("prod", obj)
    assert back == status
    assert len(back.history) == status_mod.HISTORY
    assert back.history[-1].outcome == "failed"
    assert (back.commit, back.attempted) == (f"{11:040x}", f"{12:040x}")
    assert back.base == f"{12:040x}", "descent is judged from the newest commit started"


def test_a_rollback_is_read_from_the_annotation() -> None:
    obj = status_mod.to_object(status_mod.EnvStatus(env="dev"), namespace="ns")
    obj["metadata"]["annotations"] = {status_mod.ROLLBACK_ANNOTATION: "abc"}
    assert status_mod.from_object("dev", obj).rollback_to == "abc"
    assert status_mod.from_object("dev", None) == status_mod.EnvStatus(env="dev")


def test_health_is_summarized_with_the_objects_not_healthy_named() -> None:
    summary = status_mod.summarize_health(
        [("Deployment a/web", "Progressing", "1 of 2 updated"), ("ConfigMap a/x", "Healthy", "")]
    )
    assert summary == {
        "counts": {"Healthy": 1, "Progressing": 1},
        "notHealthy": ["Deployment a/web: Progressing: 1 of 2 updated"],
        "more": 0,
    }


def _entry(
    manager: str, time: str, fields: dict[str, Any], operation: str = "Update", sub: str = ""
) -> dict[str, Any]:
    entry = {
        "manager": manager,
        "operation": operation,
        "time": time,
        "fieldsType": "FieldsV1",
        "fieldsV1": fields,
    }
    if sub:
        entry["subresource"] = sub
    return entry


DESIRED = {
    "apiVersion": "v1",
    "kind": "ConfigMap",
    "metadata": {"name": "a"},
    "data": {"v": "1", "w": "1"},
}


@pytest.mark.parametrize(
    ("live_data", "entries", "expected"),
    [
        (  # kubectl edit took data.v
            {"v": "9", "w": "1"},
            [
                _entry("gitops-bot", "2026-01-01T00:00:00Z", {"f:data": {"f:w": {}}}, "Apply"),
                _entry("kubectl-edit", "2026-01-01T00:01:00Z", {"f:data": {"f:v": {}}}),
            ],
            "kubectl-edit",
        ),
        (  # two others; the most recent one that touched a drifted field
            {"v": "9", "w": "8"},
            [
                _entry("gitops-bot", "2026-01-01T00:00:00Z", {"f:metadata": {}}, "Apply"),
                _entry("old-script", "2026-01-01T00:01:00Z", {"f:data": {"f:w": {}}}),
                _entry("kubectl-patch", "2026-01-01T00:02:00Z", {"f:data": {"f:v": {}}}),
            ],
            "kubectl-patch",
        ),
        (  # another manager that owns only fields we do not set is not it
            {"v": "9", "w": "1", "x": "1"},
            [
                _entry("gitops-bot", "2026-01-01T00:00:00Z", {"f:data": {"f:w": {}}}, "Apply"),
                _entry("labeller", "2026-01-01T00:05:00Z", {"f:data": {"f:x": {}}}),
            ],
            "",
        ),
        (  # the server says a status writer owns it: it is named, with the subresource
            {"v": "9", "w": "1"},
            [_entry("controller", "2026-01-01T00:05:00Z", {"f:data": {"f:v": {}}}, sub="status")],
            "controller (via status)",
        ),
        (  # kubectl scale, an HPA: writes through /scale
            {"v": "9", "w": "1"},
            [
                _entry("gitops-bot", "2026-01-01T00:00:00Z", {"f:data": {"f:w": {}}}, "Apply"),
                _entry("kubectl", "2026-01-01T00:05:00Z", {"f:data": {"f:v": {}}}, sub="scale"),
            ],
            "kubectl (via scale)",
        ),
    ],
    ids=["edit", "most-recent-of-two", "other-fields", "status-writer", "scale-writer"],
)
def test_the_drift_is_pinned_on_the_manager_that_wrote_our_field(
    live_data: dict[str, str], entries: list[dict[str, Any]], expected: str
) -> None:
    live = {**DESIRED, "metadata": {"name": "a", "managedFields": entries}, "data": live_data}
    assert culprit(DESIRED, live, manager="gitops-bot") == expected
