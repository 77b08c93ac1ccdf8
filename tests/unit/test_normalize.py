"""normalize.for_diff: what the server adds goes, what a person wrote stays."""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

import pytest

from gitops_bot.core.objects import normalize

RENDERED: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web"}},
    "spec": {
        "replicas": 2,
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {"containers": [{"name": "web", "image": "shop/web:1.2.3"}]},
        },
    },
}

LIVE: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {
        "name": "web",
        "namespace": "shop",
        "labels": {"app": "web"},
        "annotations": {
            "deployment.kubernetes.io/revision": "3",
            "kubectl.kubernetes.io/last-applied-configuration": '{"kind":"Deployment"}',
        },
        "managedFields": [{"manager": "kubectl", "operation": "Apply"}],
        "resourceVersion": "4711",
        "uid": "0b5c-42",
        "generation": 3,
        "creationTimestamp": "2026-01-02T03:04:05Z",
        "selfLink": "/apis/apps/v1/namespaces/shop/deployments/web",
    },
    "spec": {
        "replicas": 2,
        "template": {
            "metadata": {"labels": {"app": "web"}, "creationTimestamp": None},
            "spec": {"containers": [{"name": "web", "image": "shop/web:1.2.3"}]},
        },
    },
    "status": {"replicas": 2, "readyReplicas": 2},
}


def _with_meta(**meta: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", **meta}}


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        pytest.param(LIVE, RENDERED, id="live-deployment-equals-its-render"),
        pytest.param(RENDERED, RENDERED, id="render-is-left-as-is"),
        pytest.param(
            _with_meta(deletionTimestamp="2026-01-01T00:00:00Z", deletionGracePeriodSeconds=30),
            _with_meta(),
            id="deletion-bookkeeping",
        ),
        pytest.param(
            _with_meta(ownerReferences=[{"kind": "ReplicaSet", "name": "web-1"}]),
            _with_meta(ownerReferences=[{"kind": "ReplicaSet", "name": "web-1"}]),
            id="owner-references-are-meaningful",
        ),
        pytest.param(
            _with_meta(finalizers=["shop/cleanup"]),
            _with_meta(finalizers=["shop/cleanup"]),
            id="finalizers-stay",
        ),
        pytest.param(
            _with_meta(annotations={"team": "shop", "deployment.kubernetes.io/revision": "9"}),
            _with_meta(annotations={"team": "shop"}),
            id="other-annotations-stay",
        ),
        pytest.param(
            _with_meta(annotations={}, labels={}),
            _with_meta(),
            id="empty-maps-dropped",
        ),
        pytest.param(
            _with_meta(annotations=None, labels=None, creationTimestamp=None),
            _with_meta(),
            id="null-maps-and-null-timestamp-dropped",
        ),
        pytest.param(
            {"kind": "Widget", "status": {"phase": "Ready"}, "spec": {"status": "kept"}},
            {"kind": "Widget", "spec": {"status": "kept"}},
            id="only-top-level-status-goes",
        ),
        pytest.param(
            {"kind": "Job", "spec": {"template": {"metadata": {"creationTimestamp": "x"}}}},
            {"kind": "Job", "spec": {"template": {"metadata": {"creationTimestamp": "x"}}}},
            id="a-set-template-timestamp-stays",
        ),
        pytest.param(
            {"kind": "CronJob", "metadata": "not-a-map", "spec": [{"metadata": {"labels": {}}}]},
            {"kind": "CronJob", "metadata": "not-a-map", "spec": [{"metadata": {}}]},
            id="malformed-input-does-not-crash",
        ),
    ],
)
def test_for_diff(given: dict[str, Any], expected: dict[str, Any]) -> None:
    assert normalize.for_diff(given) == expected


def test_for_diff_leaves_its_input_untouched() -> None:
    before = repr(LIVE)
    normalize.for_diff(LIVE)
    assert repr(LIVE) == before


def test_for_diff_accepts_read_only_mappings_and_tuples() -> None:
    frozen = MappingProxyType(
        {"kind": "ConfigMap", "metadata": MappingProxyType({"name": "c", "uid": "1"}), "x": (1, 2)}
    )
    out = normalize.for_diff(frozen)
    assert out == {"kind": "ConfigMap", "metadata": {"name": "c"}, "x": [1, 2]}
    assert type(out["metadata"]) is dict
    assert type(out["x"]) is list


def test_secret_string_data_is_folded_into_data_as_the_server_does() -> None:
    rendered = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "db"},
        "data": {"user": "c2hvcA==", "password": "b2xk"},
        "stringData": {"password": "new"},
    }
    stored = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "db"},
        "data": {"user": "c2hvcA==", "password": "bmV3"},
    }
    assert normalize.for_diff(rendered) == normalize.for_diff(stored)
    assert "stringData" not in normalize.for_diff(rendered)


def test_string_data_of_other_kinds_is_left_alone() -> None:
    obj = {"apiVersion": "example.com/v1", "kind": "Secret", "stringData": {"a": "b"}}
    assert normalize.for_diff(obj)["stringData"] == {"a": "b"}


def _secret(**data: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": data}


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        pytest.param(
            _secret(token="c2VjcmV0LXRv\na2Vu\n"), _secret(token="c2VjcmV0LXRva2Vu"), id="wrapped"
        ),
        pytest.param(_secret(token="QR=="), _secret(token="QQ=="), id="padding-bits-zeroed"),
        pytest.param(
            _secret(token="not base64!"), _secret(token="not base64!"), id="refused-as-is"
        ),
        pytest.param(_secret(token="QQ"), _secret(token="QQ"), id="unpadded-refused-as-is"),
        pytest.param(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "c"},
                "data": {"a": "QR=="},
            },
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": "c"},
                "data": {"a": "QR=="},
            },
            id="configmap-data-is-text",
        ),
        pytest.param(
            {
                "apiVersion": "v1",
                "kind": "LimitRange",
                "metadata": {"name": "l"},
                "spec": {
                    "limits": [{"type": "Container", "default": {"cpu": 0.5, "memory": "1024Mi"}}]
                },
            },
            {
                "apiVersion": "v1",
                "kind": "LimitRange",
                "metadata": {"name": "l"},
                "spec": {
                    "limits": [{"type": "Container", "default": {"cpu": "500m", "memory": "1Gi"}}]
                },
            },
            id="quantities-in-a-list-of-maps",
        ),
        pytest.param(
            {
                "apiVersion": "example.com/v1",
                "kind": "Widget",
                "metadata": {"name": "w"},
                "spec": {"cpu": "2000m", "ratio": 1.0, "big": 1e21, "half": 0.5, "on": True},
            },
            {
                "apiVersion": "example.com/v1",
                "kind": "Widget",
                "metadata": {"name": "w"},
                "spec": {"cpu": "2000m", "ratio": 1, "big": 1e21, "half": 0.5, "on": True},
            },
            id="custom-resource-only-whole-floats",
        ),
    ],
)
def test_values_are_compared_in_the_spelling_the_server_stores(
    given: dict[str, Any], expected: dict[str, Any]
) -> None:
    assert normalize.for_diff(given) == expected
    assert normalize.for_diff(expected) == expected  # stored spellings stay put
