from __future__ import annotations

import pytest

from gitops_bot.cluster.kube import Resource, describe
from gitops_bot.errors import ClusterError


@pytest.mark.parametrize(
    ("resource", "namespace", "name", "path"),
    [
        (
            Resource("v1", "ConfigMap", "configmaps", True),
            "shop",
            "web",
            "/api/v1/namespaces/shop/configmaps/web",
        ),
        (Resource("v1", "Namespace", "namespaces", False), None, "shop", "/api/v1/namespaces/shop"),
        (
            Resource("apps/v1", "Deployment", "deployments", True),
            "shop",
            None,
            "/apis/apps/v1/namespaces/shop/deployments",
        ),
        (
            Resource("example.com/v1", "Widget", "widgets", True),
            "a b",
            "x/y",
            "/apis/example.com/v1/namespaces/a%20b/widgets/x%2Fy",
        ),
    ],
)
def test_paths(resource: Resource, namespace: str | None, name: str | None, path: str) -> None:
    assert resource.path(namespace=namespace, name=name) == path


def test_namespaced_kind_without_namespace_is_an_error() -> None:
    with pytest.raises(ClusterError, match="Deployment is namespaced"):
        Resource("apps/v1", "Deployment", "deployments", True).path(namespace=None, name="web")


@pytest.mark.parametrize(
    ("obj", "text"),
    [
        (
            {"kind": "Deployment", "metadata": {"name": "web", "namespace": "shop"}},
            "Deployment shop/web",
        ),
        ({"kind": "Namespace", "metadata": {"name": "shop"}}, "Namespace shop"),
        ({}, "<no kind> <no name>"),
    ],
)
def test_describe(obj: dict[str, object], text: str) -> None:
    assert describe(obj) == text
