"""A plan-only Kube on the real control plane: a live plan through it is the
same as through the normal client, and the API server's audit log shows it
sent no write but dry-runs; a real write through it is refused before it
leaves the process."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from gitops_bot.cluster.kube import PLAN_USER_AGENT, Kube
from gitops_bot.core.objects.model import Key, Manifest, Origin, Render
from gitops_bot.core.report.plan import Action
from gitops_bot.errors import ClusterError
from gitops_bot.planner import plan
from gitops_bot.testing.cluster import LocalControlPlane
from tests import objects, waiting

pytestmark = pytest.mark.cluster

REFUSED = "refused: this client only plans: a dry-run is the only write it sends"
MASK_KEY = b"k" * 32


@pytest.fixture
def planner(kube: Kube) -> Iterator[Kube]:
    client = kube.plan_only()
    yield client
    client.close()


def render(*objs: dict[str, Any]) -> Render:
    return Render.of("dev", [Manifest(Key.of(o), o, Origin("app.yaml")) for o in objs])


def in_namespace(event: dict[str, Any], namespace: str) -> bool:
    return (event.get("objectRef") or {}).get("namespace") == namespace


def dry_run_query(event: dict[str, Any]) -> list[str]:
    return parse_qs(urlsplit(event["requestURI"]).query).get("dryRun", [])


def plan_writes(control_plane: LocalControlPlane, namespace: str) -> list[dict[str, Any]]:
    """The audited writes of plan-only clients in `namespace`."""
    return [e for e in control_plane.audit_events(PLAN_USER_AGENT) if in_namespace(e, namespace)]


def test_a_live_plan_through_a_plan_only_client_is_the_same_and_sends_only_dry_runs(
    control_plane: LocalControlPlane, kube: Kube, planner: Kube, namespace: str
) -> None:
    web = objects.deployment(namespace=namespace)
    settings = objects.configmap("settings", namespace=namespace, level="info")
    creds = objects.secret("creds", namespace=namespace, password="old-pass")
    gone = objects.configmap("gone", namespace=namespace, left="over")
    for obj in (web, settings, creds, gone):
        kube.apply(obj)
    before = {
        (o["kind"], o["metadata"]["name"]): kube.get(
            o["apiVersion"], o["kind"], o["metadata"]["name"], namespace=namespace
        )
        for o in (web, settings, creds, gone)
    }
    base = render(web, settings, creds, gone)
    head = render(
        objects.deployment(namespace=namespace, image="nginx:1.28"),
        settings,  # unchanged: proven a no-op, not sent
        objects.secret("creds", namespace=namespace, password="new-pass"),
        objects.configmap("extra", namespace=namespace, new="yes"),
        objects.secret("token", namespace=namespace, token="fresh"),
    )

    expected = plan.live_diff(kube, base, head, mask_key=MASK_KEY, secrets=set())
    planned = plan.live_diff(planner, base, head, mask_key=MASK_KEY, secrets=set())

    assert planned == expected
    changes, drift, errors = planned
    assert errors == []
    assert drift == ()
    assert {c.key.name: c.action for c in changes} == {
        "web": Action.UPDATE,
        "settings": Action.UNCHANGED,
        "creds": Action.UPDATE,
        "extra": Action.CREATE,
        "token": Action.CREATE,
        "gone": Action.DELETE,
    }
    assert "new-pass" not in repr(changes)
    assert planner.requests["PATCH"] == 4  # web, creds, extra, token: dry-runs
    assert planner.calls["dry-run"] == 4
    assert planner.calls["apply"] == planner.calls["delete"] == 0

    # Every write the plan client sent is in the audit log, each with dryRun=All.
    def all_sent() -> list[dict[str, Any]] | None:
        found = plan_writes(control_plane, namespace)
        return found if len(found) >= planner.requests["PATCH"] else None

    audited = waiting.until(all_sent, what="the plan dry-runs in the audit log", timeout=20)
    assert len(audited) == 4
    assert {e["objectRef"]["name"] for e in audited} == {"web", "creds", "extra", "token"}
    assert all(e["verb"] == "patch" for e in audited)
    assert all(dry_run_query(e) == ["All"] for e in audited), [e["requestURI"] for e in audited]
    assert all(e["userAgent"] == PLAN_USER_AGENT for e in audited)
    assert all(e["responseStatus"]["code"] in (200, 201) for e in audited)
    # Same identity as the normal client: only the User-Agent tells them apart.
    normal = [
        e
        for e in control_plane.audit_events()
        if in_namespace(e, namespace) and e["userAgent"] != PLAN_USER_AGENT
    ]
    assert any(dry_run_query(e) == [] for e in normal)  # real writes are audited too
    assert {e["user"]["username"] for e in audited} == {e["user"]["username"] for e in normal}
    # And the cluster is as it was (the Deployment's status is the controller's).
    for (kind, name), was in before.items():
        assert was is not None
        now = kube.get(was["apiVersion"], kind, name, namespace=namespace)
        assert now is not None
        field = "generation" if kind == "Deployment" else "resourceVersion"
        assert now["metadata"][field] == was["metadata"][field], (kind, name)
    assert kube.get("v1", "ConfigMap", "extra", namespace=namespace) is None
    assert kube.get("v1", "Secret", "token", namespace=namespace) is None


def test_a_real_write_through_a_plan_only_client_is_refused_and_never_sent(
    control_plane: LocalControlPlane, kube: Kube, planner: Kube, namespace: str
) -> None:
    settings = objects.configmap("settings", namespace=namespace, level="info")
    kube.apply(settings)
    live = kube.get("v1", "ConfigMap", "settings", namespace=namespace)
    assert live is not None
    changed = objects.configmap("settings", namespace=namespace, level="debug")
    new = objects.secret("token", namespace=namespace, token="fresh")

    with pytest.raises(ClusterError) as applying:
        planner.apply(changed)
    assert str(applying.value) == f"applying ConfigMap {namespace}/settings: {REFUSED}"
    with pytest.raises(ClusterError, match=REFUSED):
        planner.apply(changed, force=True)
    with pytest.raises(ClusterError, match=REFUSED):
        planner.apply_reporting(new)
    with pytest.raises(ClusterError) as deleting:
        planner.delete("v1", "ConfigMap", "settings", namespace=namespace)
    assert str(deleting.value) == f"deleting ConfigMap {namespace}/settings: {REFUSED}"
    assert planner.requests.keys() == {"GET"}  # discovery only: nothing was sent

    # A dry-run through the same client after them is audited: once it is in
    # the log, a refused write that had been sent would be there too.
    planner.apply(changed, dry_run=True)
    audited = waiting.until(
        lambda: plan_writes(control_plane, namespace),
        what="the plan client's dry-run in the audit log",
        timeout=20,
    )
    assert len(audited) == 1
    assert dry_run_query(audited[0]) == ["All"]
    after = kube.get("v1", "ConfigMap", "settings", namespace=namespace)
    assert after is not None
    assert after["data"] == {"level": "info"}
    assert after["metadata"]["resourceVersion"] == live["metadata"]["resourceVersion"]
    assert kube.get("v1", "Secret", "token", namespace=namespace) is None


def test_closing_the_plan_client_leaves_the_normal_one_open(kube: Kube, namespace: str) -> None:
    planner = kube.plan_only()
    assert planner.list_objects("v1", "ConfigMap", namespace=namespace) is not None
    planner.close()

    kube.apply(objects.configmap("after", namespace=namespace, still="open"))

    assert kube.get("v1", "ConfigMap", "after", namespace=namespace) is not None
