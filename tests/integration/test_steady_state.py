"""A render applied once is left alone: the second reconcile sends nothing.

The chart in charts/upstream writes objects the way popular upstream charts
do (podinfo, ingress-nginx, cert-manager, kube-prometheus-stack): resource
quantities in every spelling, probes, an HPA, a StatefulSet with a volume
claim template, Services with named ports, a CRD with defaults and an object
of it, a webhook, a CronJob, an Ingress, a PDB, RBAC, zero values the API
server drops. It is rendered with the real helm and applied to the real API
server; then a reconcile from a fresh client (a restarted puller) must send
no apply, no delete and no dry-run, and a live plan must show no change.
Also here: core.objects.quantity against the API server itself, on random spellings.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitops_bot.cluster.apply import ApplyOptions, ApplySetRef, Outcome, reconcile
from gitops_bot.cluster.kube import Kube
from gitops_bot.core.objects import noop, quantity
from gitops_bot.core.objects.model import Key, Manifest, Origin, Render
from gitops_bot.core.repo.config import Environment, Source, SourceKind
from gitops_bot.core.report.plan import Action
from gitops_bot.planner import plan
from gitops_bot.render import render as render_mod
from gitops_bot.render.sandbox import Tools
from gitops_bot.testing.binaries import Binaries
from gitops_bot.testing.cluster import LocalControlPlane
from tests.unit.test_quantity import spellings

pytestmark = pytest.mark.cluster

CHART = Path(__file__).parent / "charts" / "upstream"
MUTATING = ("apply", "delete", "dry-run")
# The control plane shares two cores; each example is one request of 100 quantities.
SLOW_OK = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]


def in_range(text: str) -> bool:
    return quantity.parse(text).exponent < 20  # the server refuses 1e4000 (and 0, negatives)


@pytest.fixture
def fresh_kube(control_plane: LocalControlPlane) -> Iterator[Kube]:
    client = Kube.from_kubeconfig(str(control_plane.kubeconfig))
    yield client
    client.close()


def render_upstream(tmp_path: Path, namespace: str, binaries: Binaries) -> Render:
    root = tmp_path / "repo"
    shutil.copytree(CHART, root / "charts" / "upstream")
    env = Environment(
        name="dev",
        source=Source(kind=SourceKind.AUTO, path="charts/upstream"),
        namespace=namespace,
    )
    tools = Tools(helm=binaries.path("helm"), kustomize=binaries.path("kustomize"))
    return render_mod.render(env, root=root, tools=tools)


@pytest.fixture
def upstream(kube: Kube, tmp_path: Path, namespace: str, binaries: Binaries) -> Iterator[Render]:
    render = render_upstream(tmp_path, namespace, binaries)
    yield render
    for m in render.manifests:  # the namespace takes the rest with it
        if not m.key.namespace:
            kube.delete(m.api_version, m.key.kind, m.key.name)


def not_unchanged(result: Any) -> list[str]:
    return sorted(str(o.key) for o in result.objects if o.outcome is not Outcome.UNCHANGED)


def test_a_second_reconcile_of_upstream_style_charts_sends_no_write_and_no_dry_run(
    kube: Kube, fresh_kube: Kube, namespace: str, upstream: Render
) -> None:
    ref = ApplySetRef(f"gitops-bot-{uuid.uuid4().hex[:6]}", namespace)
    first = reconcile(kube, upstream, applyset=ref, revision="c1", options=ApplyOptions(wait=False))
    assert first.ok, first.error
    assert len(first.objects) == len(upstream.manifests) >= 25

    second = reconcile(
        fresh_kube, upstream, applyset=ref, revision="c1", options=ApplyOptions(wait=False)
    )

    assert second.ok, second.error
    assert not_unchanged(second) == []
    assert {k: n for k, n in second.requests.items() if k in MUTATING} == {}

    # The live plan of the same render: no change, no drift, and nothing dry-run.
    before = dict(fresh_kube.calls)
    changes, drift, errors = plan.live_diff(
        fresh_kube, upstream, upstream, mask_key=b"k" * 32, secrets=set()
    )
    assert errors == []
    assert drift == ()
    assert [str(c.key) for c in changes if c.action is not Action.UNCHANGED] == []
    assert fresh_kube.calls.get("dry-run", 0) == before.get("dry-run", 0)


def test_a_key_the_render_drops_from_an_atomic_map_is_applied(kube: Kube, namespace: str) -> None:
    def deployment(node_selector: dict[str, str]) -> Render:
        obj = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": namespace},
            "spec": {
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {
                        "nodeSelector": node_selector,
                        "containers": [{"name": "web", "image": "nginx:1.27"}],
                    },
                },
            },
        }
        return Render.of("dev", [Manifest(Key.of(obj), obj, Origin("web.yaml"))])

    ref = ApplySetRef("gitops-bot-atomic", namespace)
    options = ApplyOptions(wait=False)
    first = deployment({"disk": "ssd", "zone": "a"})
    assert reconcile(kube, first, applyset=ref, revision="c1", options=options).ok

    second = reconcile(
        kube, deployment({"disk": "ssd"}), applyset=ref, revision="c2", options=options
    )

    assert second.ok, second.error
    assert not_unchanged(second) == [f"Deployment {namespace}/web"]
    live = kube.get("apps/v1", "Deployment", "web", namespace=namespace)
    assert live is not None
    assert live["spec"]["template"]["spec"]["nodeSelector"] == {"disk": "ssd"}


ZERO_FIELDS = {
    "hostNetwork": False,
    "priorityClassName": "",
    "schedulerName": "default-scheduler",
    "nodeSelector": {},
    "tolerations": [],
    "imagePullSecrets": [],
}


@settings(max_examples=15, suppress_health_check=SLOW_OK)
@given(
    st.fixed_dictionaries(
        {
            "cpu": spellings(positive=True).filter(in_range),
            "memory": spellings(positive=True).filter(in_range) | st.integers(1, 2**40),
            "replicas": st.sampled_from([1, 1.0, 2, 2.0]),
            "zeros": st.lists(st.sampled_from(sorted(ZERO_FIELDS)), unique=True),
            "env": st.sampled_from([None, [], [{"name": "A", "value": ""}]]),
        }
    )
)
def test_what_the_server_rewrites_in_an_applied_object_is_proven_unchanged(
    kube: Kube, namespace: str, case: dict[str, Any]
) -> None:
    cpu, memory, replicas, zeros, env = (
        case[k] for k in ("cpu", "memory", "replicas", "zeros", "env")
    )
    container: dict[str, Any] = {
        "name": "web",
        "image": "nginx:1.27",
        "resources": {"limits": {"cpu": cpu, "memory": memory}},
    }
    if env is not None:
        container["env"] = env
    obj = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "spellings", "namespace": namespace, "annotations": {}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}, "creationTimestamp": None},
                "spec": {"containers": [container], **{k: ZERO_FIELDS[k] for k in zeros}},
            },
        },
    }
    live = kube.apply(obj)
    assert noop.apply_is_noop(obj, live, manager=kube.field_manager)


# -- quantities: core.objects.quantity against the API server -------------------------


def hpa(namespace: str, name: str, values: list[Any]) -> dict[str, Any]:
    """An HPA with one Pods metric per value: a quantity field the server keeps
    in any number, which takes any positive value."""
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "x"},
            "maxReplicas": 2,
            "metrics": [
                {
                    "type": "Pods",
                    "pods": {
                        "metric": {"name": f"m{i}"},
                        "target": {"type": "AverageValue", "averageValue": v},
                    },
                }
                for i, v in enumerate(values)
            ],
        },
    }


def stored(kube: Kube, namespace: str, values: list[Any]) -> list[str]:
    result = kube.apply(hpa(namespace, "q", values), dry_run=True)
    return [m["pods"]["target"]["averageValue"] for m in result["spec"]["metrics"]]


# Quota names that take any non-negative quantity (pods, count/... take integers).
QUOTA_NAMES = [
    "cpu", "memory", "ephemeral-storage", "requests.cpu", "requests.memory", "limits.cpu",
    "limits.memory", "requests.ephemeral-storage", "limits.ephemeral-storage", "requests.storage",
]  # fmt: skip


def stored_in_resource_list(kube: Kube, namespace: str, values: list[Any]) -> list[str]:
    """Values as stored in a core/v1 ResourceList (a quota's `hard`), which
    core/v1's defaulting rounds up to 1m; ten names, so ten at a time."""
    out = []
    for start in range(0, len(values), len(QUOTA_NAMES)):
        batch = dict(zip(QUOTA_NAMES, values[start : start + len(QUOTA_NAMES)], strict=False))
        quota = {
            "apiVersion": "v1",
            "kind": "ResourceQuota",
            "metadata": {"name": "q", "namespace": namespace},
            "spec": {"hard": batch},
        }
        hard = kube.apply(quota, dry_run=True)["spec"]["hard"]
        out += [hard[name] for name in batch]
    return out


CHARTS_WRITE = [
    "2000m", "1000m", "100m", "0.1", "0.5", "1.5", "1024Mi", "1536Mi", "1.5Gi", "0.5Gi",
    "512Ki", "1000k", "1000000000n", "1e3", "1E3", "1e+3", "1e+09", "1000e0", "+1", "01",
    "1.500", "1.50", " 1", "1 ", "9Ei", "1000E", "12E", "0.000000000001Ki", ".001Ki",
    "100.035Ki", "1.", "1.G", ".5", "1e-10", "5e-324",
    1, 2, 250, 0.5, 0.1, 2.0, 1e-7, 1.5e16, 1e21, 123456789012345678, 2**64,
]  # fmt: skip


def test_spellings_charts_use_are_stored_as_core_quantity_predicts(
    kube: Kube, namespace: str
) -> None:
    assert stored(kube, namespace, CHARTS_WRITE) == [quantity.canonical(v) for v in CHARTS_WRITE]
    finer = [*CHARTS_WRITE, "1500u", "1n", "100u", "1001u", "0.0005", 1e-7, "1.0001"]
    assert stored_in_resource_list(kube, namespace, finer) == [
        quantity.canonical(v, resource_list=True) for v in finer
    ]


@settings(max_examples=4, suppress_health_check=SLOW_OK)
@given(st.lists(spellings(positive=True).filter(in_range), min_size=50, max_size=50))
def test_random_spellings_in_a_resource_list_are_stored_as_core_quantity_predicts(
    kube: Kube, namespace: str, texts: list[str]
) -> None:
    assert stored_in_resource_list(kube, namespace, texts) == [
        quantity.canonical(t, resource_list=True) for t in texts
    ]


@settings(max_examples=4, suppress_health_check=SLOW_OK)
@given(st.lists(spellings(positive=True).filter(in_range), min_size=100, max_size=100))
def test_random_spellings_are_stored_as_core_quantity_predicts(
    kube: Kube, namespace: str, texts: list[str]
) -> None:
    assert stored(kube, namespace, texts) == [quantity.canonical(t) for t in texts]


@settings(max_examples=2, suppress_health_check=SLOW_OK)
@given(
    st.lists(
        st.floats(min_value=1e-9, max_value=1e18, allow_nan=False) | st.integers(1, 2**70),
        min_size=100,
        max_size=100,
    )
)
def test_json_numbers_are_stored_as_core_quantity_predicts(
    kube: Kube, namespace: str, numbers: list[float | int]
) -> None:
    assert stored(kube, namespace, numbers) == [quantity.canonical(n) for n in numbers]
