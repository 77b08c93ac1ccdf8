"""diff: structural changes, unified YAML diffs and per-object classification."""

from __future__ import annotations

import base64
import re
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gitops_bot.core.objects import diff
from gitops_bot.core.objects.diff import ABSENT
from gitops_bot.core.objects.model import Key, Manifest, Origin
from gitops_bot.core.report.plan import Action, FieldPath, SecretKeys

KEY = b"test-diff-key"
WEB = (("name", "web"),)
CONTAINERS: FieldPath = ("spec", "template", "spec", "containers")


def deployment(image: str = "shop/web:1.2.3", **extra: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web"}},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {"name": "web", "image": image, "args": ["--port", "8080"]},
                        {"name": "proxy", "image": "envoy:1.30"},
                    ],
                    **extra,
                },
            },
        },
    }


def containers(*items: dict[str, Any]) -> dict[str, Any]:
    return {"containers": list(items)}


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        pytest.param(deployment(), deployment(), (), id="equal"),
        pytest.param(
            {"a": 1, "b": {"c": 2, "d": 3}}, {"b": {"d": 3, "c": 2}, "a": 1}, (), id="key-order"
        ),
        pytest.param(
            deployment(),
            deployment("shop/web:1.2.4"),
            (((*CONTAINERS, WEB, "image"), "shop/web:1.2.3", "shop/web:1.2.4"),),
            id="image-of-a-named-container",
        ),
        pytest.param(
            containers({"name": "a"}),
            containers({"name": "a"}, {"name": "b", "image": "x"}),
            ((("containers", (("name", "b"),)), ABSENT, {"name": "b", "image": "x"}),),
            id="named-item-added",
        ),
        pytest.param(
            containers({"name": "a"}, {"name": "b"}),
            containers({"name": "b"}),
            ((("containers", (("name", "a"),)), {"name": "a"}, ABSENT),),
            id="named-item-removed",
        ),
        pytest.param(
            containers({"name": "a"}, {"name": "b"}),
            containers({"name": "b"}, {"name": "a"}),
            (
                (
                    ("containers",),
                    [{"name": "a"}, {"name": "b"}],
                    [{"name": "b"}, {"name": "a"}],
                ),
            ),
            id="named-items-reordered-is-a-list-change",
        ),
        pytest.param(
            {"args": ["--port", "8080"]},
            {"args": ["--port", "9090"]},
            ((("args",), ["--port", "8080"], ["--port", "9090"]),),
            id="scalar-list-is-atomic",
        ),
        pytest.param(
            {"args": []},
            {"args": ["-v"]},
            ((("args",), [], ["-v"]),),
            id="scalar-list-grows",
        ),
        pytest.param(
            {"rules": [{"host": "a"}, {"host": "b"}]},
            {"rules": [{"host": "a"}, {"host": "c"}, {"host": "d"}]},
            ((("rules", 1, "host"), "b", "c"), (("rules", 2), ABSENT, {"host": "d"})),
            id="unnamed-mappings-are-positional",
        ),
        pytest.param(
            containers({"name": "a", "x": 1}, {"name": "a", "x": 2}),
            containers({"name": "a", "x": 1}, {"name": "a", "x": 3}),
            ((("containers", 1, "x"), 2, 3),),
            id="duplicate-names-fall-back-to-positions",
        ),
        pytest.param({"n": 1}, {"n": True}, ((("n",), 1, True),), id="bool-is-not-int"),
        pytest.param({"n": 1}, {"n": 1.0}, (), id="int-equals-float"),
        pytest.param({"n": None}, {}, ((("n",), None, ABSENT),), id="null-is-not-absent"),
        pytest.param({"n": {"a": 1}}, {"n": [1]}, ((("n",), {"a": 1}, [1]),), id="type-change"),
        pytest.param({1: "a"}, {1: "b"}, ((("1",), "a", "b"),), id="non-string-keys-as-text"),
        pytest.param("x", "y", (((), "x", "y"),), id="scalars-at-the-root"),
    ],
)
def test_field_changes(before: Any, after: Any, expected: tuple[Any, ...]) -> None:
    assert diff.field_changes(before, after) == expected


def test_field_changes_order_is_deterministic() -> None:
    before = {"b": 1, "a": {"y": 1, "x": 1}, "c": containers({"name": "p"}, {"name": "q"})}
    after = {"a": {"x": 2, "y": 2}, "b": 2, "c": containers({"name": "q", "v": 1})}
    paths = [p for p, _, _ in diff.field_changes(before, after)]
    assert paths == [
        ("a", "x"),
        ("a", "y"),
        ("b",),
        ("c", "containers", (("name", "q"),), "v"),
        ("c", "containers", (("name", "p"),)),
    ]


@pytest.mark.parametrize(
    ("path", "text"),
    [
        ((*CONTAINERS, WEB, "image"), ".spec.template.spec.containers[name=web].image"),
        (
            ("metadata", "labels", "app.kubernetes.io/name"),
            '.metadata.labels["app.kubernetes.io/name"]',
        ),
        (("spec", "rules", 0, "host"), ".spec.rules[0].host"),
        (
            ("spec", "ports", (("containerPort", 80), ("protocol", "TCP"))),
            ".spec.ports[containerPort=80,protocol=TCP]",
        ),
        ((), "."),
    ],
)
def test_path_text(path: FieldPath, text: str) -> None:
    assert diff.path_text(path) == text


def changed_lines(text: str) -> list[str]:
    return [
        line
        for line in text.splitlines()
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


def test_unified_of_an_image_change_is_exactly_that_line() -> None:
    text = diff.unified(deployment(), deployment("shop/web:1.2.4"), label="Deployment shop/web")
    assert text.startswith("--- Deployment shop/web (before)\n+++ Deployment shop/web (after)\n")
    assert changed_lines(text) == [
        "-        image: shop/web:1.2.3",
        "+        image: shop/web:1.2.4",
    ]


def test_unified_is_empty_when_equal_and_honours_context() -> None:
    assert diff.unified(deployment(), deployment(), label="x") == ""
    narrow = diff.unified(deployment(), deployment("a:2"), label="x", context=0)
    wide = diff.unified(deployment(), deployment("a:2"), label="x", context=3)
    assert len(narrow.splitlines()) == 5  # two headers, one hunk header, two changed lines
    assert len(wide.splitlines()) > len(narrow.splitlines())


def test_unified_of_a_config_file_shows_the_changed_line() -> None:
    conf = "".join(f"setting_{i} = {i}\n" for i in range(50))
    old = {"kind": "ConfigMap", "data": {"app.conf": conf}}
    new = {
        "kind": "ConfigMap",
        "data": {"app.conf": conf.replace("setting_7 = 7", "setting_7 = 8")},
    }
    assert changed_lines(diff.unified(old, new, label="c")) == [
        "-    setting_7 = 7",
        "+    setting_7 = 8",
    ]


def test_unified_create_and_delete() -> None:
    created = diff.unified(None, {"kind": "ConfigMap"}, label="c")
    deleted = diff.unified({"kind": "ConfigMap"}, None, label="c")
    assert changed_lines(created) == ["+kind: ConfigMap"]
    assert changed_lines(deleted) == ["-kind: ConfigMap"]


def manifest(obj: dict[str, Any], file: str) -> Manifest:
    return Manifest(Key.of(obj), obj, Origin(file))


def by_key(*manifests: Manifest) -> dict[Key, Manifest]:
    return {m.key: m for m in manifests}


def configmap(name: str, **data: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": "shop"},
        "data": data,
    }


def test_compute_classifies_and_sorts() -> None:
    before = by_key(
        manifest(deployment(), "base/web.yaml"),
        manifest(configmap("web-config-5f6g7h", a="1"), "base/kustomization.yaml"),
        manifest(configmap("same", a="1"), "base/same.yaml"),
    )
    reordered = dict(reversed(list(configmap("same", a="1").items())))
    after = by_key(
        manifest(deployment("shop/web:1.2.4"), "head/web.yaml"),
        manifest(configmap("web-config-8k9m2b", a="2"), "head/kustomization.yaml"),
        manifest(reordered, "head/same.yaml"),
    )
    changes = diff.compute(before, after, mask_key=KEY)
    assert [(c.key.name, c.action) for c in changes] == [
        ("same", Action.UNCHANGED),
        ("web-config-5f6g7h", Action.DELETE),
        ("web-config-8k9m2b", Action.CREATE),
        ("web", Action.UPDATE),
    ]
    same, deleted, created, web = changes
    assert same.diff == ""
    assert same.origin == Origin("head/same.yaml")
    assert deleted.origin == Origin("base/kustomization.yaml")
    assert created.origin == Origin("head/kustomization.yaml")
    assert changed_lines(web.diff) == [
        "-        image: shop/web:1.2.3",
        "+        image: shop/web:1.2.4",
    ]
    assert all(c.secret_keys is None for c in changes)
    assert "-  a: '1'" in deleted.diff
    assert "+  a: '2'" in created.diff


CANARY_OLD = "canary-old-Pq7x"
CANARY_NEW = "canary-new-Rt4w"


def db_secret(password: str, **extra: str) -> dict[str, Any]:
    data = {"password": base64.b64encode(password.encode()).decode(), **extra}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "db", "namespace": "shop"},
        "data": data,
    }


def test_a_secret_change_shows_keys_and_fingerprints_never_values() -> None:
    token = base64.b64encode(b"token-value").decode()
    change = diff.compare(
        Key("", "Secret", "shop", "db"),
        db_secret(CANARY_OLD),
        db_secret(CANARY_NEW, token=token),
        mask_key=KEY,
    )
    assert change.action is Action.UPDATE
    assert change.secret_keys == SecretKeys(added=("token",), changed=("password",))
    lines = changed_lines(change.diff)
    assert [line.split(":")[0] for line in lines] == ["-  password", "+  password", "+  token"]
    fingerprints = re.findall(r"<secret sha256:[0-9a-f]{8}>", change.diff)
    assert len(set(fingerprints)) == 3
    for value in (CANARY_OLD, CANARY_NEW, "token-value"):
        assert value not in change.diff
        assert base64.b64encode(value.encode()).decode() not in change.diff


def test_an_unchanged_secret_has_no_changed_keys() -> None:
    change = diff.compare(
        Key("", "Secret", "shop", "db"), db_secret(CANARY_OLD), db_secret(CANARY_OLD), mask_key=KEY
    )
    assert change.action is Action.UNCHANGED
    assert change.secret_keys == SecretKeys()


def test_live_object_with_server_fields_equals_its_render() -> None:
    live = deployment()
    live["metadata"] |= {"uid": "1", "resourceVersion": "9", "managedFields": [{"manager": "x"}]}
    live["status"] = {"replicas": 2}
    change = diff.compare(
        Key("apps", "Deployment", "shop", "web"), live, deployment(), mask_key=KEY, origin=None
    )
    assert change.action is Action.UNCHANGED
    assert change.diff == ""


def test_compare_needs_at_least_one_side() -> None:
    with pytest.raises(ValueError, match="neither side"):
        diff.compare(Key("", "ConfigMap", "", "c"), None, None, mask_key=KEY)


_VALUES = st.sampled_from([1, 1.0, True, "1", None, "c2VjcmV0", [], {}, "2000m", 0.5])


@given(
    kind=st.sampled_from(["ConfigMap", "Secret"]),
    before=st.dictionaries(st.sampled_from(["a", "b", "c"]), _VALUES, max_size=3),
    after=st.dictionaries(st.sampled_from(["a", "b", "c"]), _VALUES, max_size=3),
    same=st.booleans(),
)
def test_the_shortcut_for_identical_sides_agrees_with_the_full_comparison(
    kind: str, before: dict[str, Any], after: dict[str, Any], same: bool
) -> None:
    # compare() takes one object on both sides, or the same JSON, as unchanged
    # without normalizing; a Mapping that is not a dict always goes the full way.
    field = "data" if kind == "Secret" else "spec"
    key = Key("", kind, "ns", "x")

    def obj(body: dict[str, Any]) -> dict[str, Any]:
        return {"apiVersion": "v1", "kind": kind, "metadata": {"name": "x"}, field: body}

    old, new = obj(before), obj(before if same else after)
    fast = diff.compare(key, old, new, mask_key=b"k" * 32)
    full = diff.compare(key, MappingProxyType(old), MappingProxyType(new), mask_key=b"k" * 32)
    assert fast == full
    assert diff.compare(key, old, old, mask_key=b"k" * 32) == diff.compare(
        key, MappingProxyType(old), MappingProxyType(old), mask_key=b"k" * 32
    )
