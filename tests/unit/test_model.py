from __future__ import annotations

import pytest

from gitops_bot.core.objects.model import Key, Manifest, Origin, Render, canonical_json


@pytest.mark.parametrize(
    ("obj", "key", "text"),
    [
        (
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "web", "namespace": "shop"},
            },
            Key("apps", "Deployment", "shop", "web"),
            "Deployment shop/web",
        ),
        (
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}},
            Key("", "Namespace", "", "shop"),
            "Namespace shop",
        ),
        (
            {"apiVersion": "example.com/v1beta1", "kind": "Widget", "metadata": {"name": "w"}},
            Key("example.com", "Widget", "", "w"),
            "Widget w",
        ),
        ({}, Key("", "", "", ""), " "),
    ],
)
def test_key_of(obj: dict[str, object], key: Key, text: str) -> None:
    assert Key.of(obj) == key
    assert str(key) == text


def test_key_ignores_the_version() -> None:
    old = {"apiVersion": "autoscaling/v1", "kind": "HPA", "metadata": {"name": "a"}}
    new = {"apiVersion": "autoscaling/v2", "kind": "HPA", "metadata": {"name": "a"}}
    assert Key.of(old) == Key.of(new)


def test_qualified_kind() -> None:
    assert Key("apps", "Deployment", "a", "b").qualified_kind == "Deployment.apps"
    assert Key("", "ConfigMap", "a", "b").qualified_kind == "ConfigMap"


def test_origin_text() -> None:
    assert str(Origin("deploy/app.yaml", 2, 14)) == "deploy/app.yaml:14 (document 3)"
    assert str(Origin("helm template web")) == "helm template web (document 1)"


def _m(name: str, data: dict[str, str]) -> Manifest:
    obj = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}
    return Manifest(Key.of(obj), obj, Origin("x.yaml"))


def test_render_is_sorted_and_its_hash_depends_on_content_only() -> None:
    a, b = _m("a", {"k": "1"}), _m("b", {"k": "2"})
    one = Render.of("dev", [b, a])
    two = Render.of("dev", [a, b])
    assert [m.key.name for m in one.manifests] == ["a", "b"]
    assert one.hash == two.hash
    assert Render.of("dev", [a, _m("b", {"k": "3"})]).hash != one.hash
    assert set(one.by_key()) == {a.key, b.key}


def test_canonical_json_is_order_independent() -> None:
    assert canonical_json({"b": 1, "a": [1, {"d": 2, "c": 3}]}) == canonical_json(
        {"a": [1, {"c": 3, "d": 2}], "b": 1}
    )
