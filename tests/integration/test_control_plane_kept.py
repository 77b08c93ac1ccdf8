"""A kept control plane stays faithful: the simulated node heartbeats through
its Lease as a kubelet does, so it is never marked NotReady while kwok runs,
and when it did go away and came back, its pods become Ready again.

These are the only tests that wait on wall-clock time on purpose: the node
controller's grace period (50 s by default) is what they prove we survive.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from gitops_bot.testing.binaries import Binaries
from gitops_bot.testing.cluster import NODE_NAME, LocalControlPlane
from tests import objects
from tests.waiting import until

pytestmark = pytest.mark.cluster

NS = "kept"
KEPT_FOR_S = 300.0
PROBE_EVERY_S = 5.0


def conditions(obj: dict[str, Any]) -> dict[str, str]:
    return {c["type"]: c["status"] for c in (obj.get("status") or {}).get("conditions") or []}


def snapshot(cp: LocalControlPlane) -> dict[str, Any]:
    """What a person would look at: the node, the Deployment, its pods."""
    _, node = cp.request("GET", f"/api/v1/nodes/{NODE_NAME}")
    _, dep = cp.request("GET", f"/apis/apps/v1/namespaces/{NS}/deployments/web")
    _, pods = cp.request("GET", f"/api/v1/namespaces/{NS}/pods?labelSelector=app%3Dweb")
    return {
        "node": conditions(node).get("Ready"),
        "taints": [t["key"] for t in (node.get("spec") or {}).get("taints") or []],
        "available": conditions(dep).get("Available"),
        "availableReplicas": (dep.get("status") or {}).get("availableReplicas"),
        "pods": sorted(conditions(p).get("Ready", "?") for p in pods["items"]),
    }


HEALTHY = {
    "node": "True",
    "taints": [],
    "available": "True",
    "availableReplicas": 2,
    "pods": ["True", "True"],
}


def start_with_deployment(cp: LocalControlPlane) -> None:
    status, body = cp.request(
        "POST", "/api/v1/namespaces", {"metadata": {"name": NS}, "apiVersion": "v1"}
    )
    assert status == 201, body
    status, body = cp.request(
        "POST",
        f"/apis/apps/v1/namespaces/{NS}/deployments",
        objects.deployment(namespace=NS, name="web", replicas=2),
    )
    assert status == 201, body
    until(lambda: snapshot(cp) == HEALTHY, what="the Deployment to be available")


@pytest.fixture
def fast_node_monitor(binaries: Binaries) -> Iterator[LocalControlPlane]:
    """A control plane whose node controller gives up on a silent node in 6 s."""
    extra = {"kube-controller-manager": ["--node-monitor-grace-period=6s"]}
    with LocalControlPlane(binaries, extra_args=extra) as cp:
        yield cp


@pytest.mark.timeout(KEPT_FOR_S + 120)
def test_a_deployment_stays_available_in_a_cluster_kept_for_five_minutes(
    own_control_plane: LocalControlPlane,
) -> None:
    cp = own_control_plane
    start_with_deployment(cp)

    seen: list[tuple[float, dict[str, Any]]] = []
    begin = time.monotonic()
    while (elapsed := time.monotonic() - begin) < KEPT_FOR_S:
        state = snapshot(cp)
        seen.append((round(elapsed), state))
        assert state == HEALTHY, f"after {elapsed:.0f}s the cluster drifted: {state}"
        time.sleep(PROBE_EVERY_S)
    _, lease = cp.request(
        "GET", f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{NODE_NAME}"
    )
    renewed = datetime.fromisoformat(lease["spec"]["renewTime"].replace("Z", "+00:00"))
    assert lease["spec"]["leaseDurationSeconds"] == 40  # the kubelet's default
    assert (datetime.now(UTC) - renewed).total_seconds() < 40  # renewed as a kubelet does
    assert len(seen) >= KEPT_FOR_S / PROBE_EVERY_S - 1


def test_pods_become_ready_again_when_their_node_comes_back(
    fast_node_monitor: LocalControlPlane,
) -> None:
    cp = fast_node_monitor
    start_with_deployment(cp)

    cp.kill("kwok")  # the "kubelet" goes silent: no Lease renewals
    # What a person sees once the node controller gave up on the node: the
    # node not Ready, its pods not Ready, the Deployment without an
    # available replica (each written by its own controller, in turn).
    until(
        lambda: (
            (s := snapshot(cp))["node"] != "True"
            and s["pods"] == ["False", "False"]
            and not s["availableReplicas"]
        ),
        what="the node, its pods and the Deployment to be marked unavailable",
        timeout=60,
    )

    cp.restart("kwok")
    until(lambda: snapshot(cp) == HEALTHY, what="node and pods Ready again", timeout=60)
