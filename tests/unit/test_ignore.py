"""core.objects.ignore: fields the cluster owns, parsed, stripped and handed over."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gitops_bot.core.objects import ignore
from gitops_bot.core.objects.model import Key, Manifest, Origin, Render
from gitops_bot.core.repo import config
from gitops_bot.errors import ConfigError

WEBHOOK: dict[str, Any] = {
    "apiVersion": "admissionregistration.k8s.io/v1",
    "kind": "ValidatingWebhookConfiguration",
    "metadata": {"name": "hooks"},
    "webhooks": [
        {"name": "a.example.com", "clientConfig": {"caBundle": "AAA", "service": {"name": "a"}}},
        {"name": "b.example.com", "clientConfig": {"caBundle": "BBB", "service": {"name": "b"}}},
    ],
}
DEPLOYMENT: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {
        "name": "web",
        "namespace": "shop",
        "annotations": {ignore.ANNOTATION: "spec.replicas", "keep": "1"},
    },
    "spec": {
        "replicas": 3,
        "template": {
            "spec": {
                "containers": [
                    {"name": "web", "image": "web:1", "resources": {"limits": {"cpu": "1"}}},
                    {"name": "proxy", "image": "proxy:1"},
                ]
            }
        },
    },
}


def fields(*texts: str) -> tuple[ignore.Field, ...]:
    return tuple(ignore.parse_field(t) for t in texts)


@pytest.mark.parametrize(
    ("obj", "paths", "gone", "kept"),
    [
        (DEPLOYMENT, ["spec.replicas"], [("spec", "replicas")], [("spec", "template")]),
        (
            WEBHOOK,
            ["webhooks[*].clientConfig.caBundle"],
            [
                ("webhooks", 0, "clientConfig", "caBundle"),
                ("webhooks", 1, "clientConfig", "caBundle"),
            ],
            [("webhooks", 1, "clientConfig", "service")],
        ),
        (
            WEBHOOK,
            ["webhooks[name=b.example.com].clientConfig.caBundle"],
            [("webhooks", 1, "clientConfig", "caBundle")],
            [("webhooks", 0, "clientConfig", "caBundle")],
        ),
        (
            WEBHOOK,
            ["webhooks[0].clientConfig.caBundle"],
            [("webhooks", 0, "clientConfig", "caBundle")],
            [("webhooks", 1, "clientConfig", "caBundle")],
        ),
        (
            DEPLOYMENT,
            ["spec.template.spec.containers[name=web].resources"],
            [("spec", "template", "spec", "containers", 0, "resources")],
            [("spec", "template", "spec", "containers", 0, "image")],
        ),
        (
            DEPLOYMENT,
            ['metadata.annotations."keep"', "spec.nothing.here", "spec.replicas.deeper"],
            [("metadata", "annotations", "keep")],
            [("spec", "replicas"), ("metadata", "annotations", ignore.ANNOTATION)],
        ),
    ],
)
def test_strip_removes_exactly_the_named_fields(
    obj: dict[str, Any], paths: list[str], gone: list[tuple[Any, ...]], kept: list[tuple[Any, ...]]
) -> None:
    before = copy.deepcopy(obj)
    out = ignore.strip(obj, fields(*paths))
    assert obj == before, "the object given is left untouched"

    def at(node: Any, path: tuple[Any, ...]) -> Any:
        for p in path:
            if (isinstance(node, dict) and p in node) or (
                isinstance(node, list) and isinstance(p, int) and p < len(node)
            ):
                node = node[p]
            else:
                return KeyError
        return node

    assert all(at(out, p) is KeyError for p in gone)
    assert all(at(out, p) is not KeyError for p in kept)


def test_a_whole_list_item_can_be_ignored_and_empty_parents_go() -> None:
    out = ignore.strip(DEPLOYMENT, fields("spec.template.spec.containers[name=proxy]"))
    assert [c["name"] for c in out["spec"]["template"]["spec"]["containers"]] == ["web"]
    only = {"apiVersion": "v1", "kind": "X", "metadata": {"name": "x"}, "spec": {"a": 1}}
    assert "spec" not in ignore.strip(only, fields("spec.a"))


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("", "it is empty"),
        ("spec..replicas", "expected a key at character 6"),
        ("kind", "cannot be ignored"),
        ("metadata.name", "cannot be ignored"),
        ("metadata.namespace", "cannot be ignored"),
        ("metadata.labels", "cannot be ignored"),
        ('metadata.labels."applyset.kubernetes.io/part-of"', "cannot be ignored"),
        ("webhooks[x].caBundle", "expected a list index"),
        ("spec.replicas]", "expected '.' or '['"),
    ],
)
def test_bad_paths_say_what_is_wrong(text: str, error: str) -> None:
    with pytest.raises(ConfigError, match=error.replace("[", r"\[").replace(".", r"\.")):
        ignore.parse_field(text)


def test_a_bad_annotation_names_the_object_and_the_annotation() -> None:
    obj = copy.deepcopy(DEPLOYMENT)
    obj["metadata"]["annotations"][ignore.ANNOTATION] = "spec.replicas, spec[oops"
    with pytest.raises(ConfigError) as caught:
        ignore.fields_for(obj, (), where="Deployment shop/web (deploy/web.yaml:1 (document 1))")
    text = str(caught.value)
    assert text.startswith("Deployment shop/web (deploy/web.yaml:1 (document 1)): annotation ")
    assert ignore.ANNOTATION in text
    assert "spec[oops" in text


def test_the_annotation_lists_paths_separated_by_commas_outside_quotes() -> None:
    found = ignore.parse_fields(' spec.replicas ,metadata.annotations."a,b", webhooks[*].x ')
    assert [f.text for f in found] == [
        "spec.replicas",
        'metadata.annotations."a,b"',
        "webhooks[*].x",
    ]


CONFIG = """\
version: 1
environments:
  prod:
    path: deploy/prod
    ignore_fields:
      - kinds: [apps/Deployment]
        names: [web]
        fields: [spec.replicas]
      - kinds: [ValidatingWebhookConfiguration, MutatingWebhookConfiguration]
        fields: ["webhooks[*].clientConfig.caBundle"]
"""


def test_environment_rules_match_by_kind_name_and_namespace() -> None:
    env = config.parse(CONFIG).env("prod")
    assert [f.text for f in ignore.fields_for(DEPLOYMENT, env.ignore_fields, where="x")] == [
        "spec.replicas"
    ]
    other = {**DEPLOYMENT, "metadata": {"name": "api", "namespace": "shop"}}
    assert ignore.fields_for(other, env.ignore_fields, where="x") == ()
    assert [f.text for f in ignore.fields_for(WEBHOOK, env.ignore_fields, where="x")] == [
        "webhooks[*].clientConfig.caBundle"
    ]


@pytest.mark.parametrize(
    ("rule", "error"),
    [
        (
            "{fields: [spec.replicas]}",
            ".gitops.yaml:6: environments.prod.ignore_fields[0]: missing required key 'kinds'",
        ),
        ("{kinds: [Deployment]}", "missing required key 'fields'"),
        (
            "{kinds: [Deployment], fields: ['spec[']}",
            "environments.prod.ignore_fields[0].fields[0]: 'spec[' is not a key path",
        ),
        ("{kinds: [Deployment], fields: [kind]}", "cannot be ignored"),
        (
            "{kinds: ['not a kind'], fields: [a]}",
            "ignore_fields[0].kinds[0]: 'not a kind' is not a kind",
        ),
        ("{kinds: [Deployment], fields: [a], paths: [b]}", "ignore_fields[0].paths: unknown key"),
        ("{kinds: [Deployment], fields: []}", "no field; at least one is needed"),
    ],
)
def test_environment_rules_are_validated_naming_file_line_and_key(rule: str, error: str) -> None:
    text = f"version: 1\nenvironments:\n  prod:\n    path: p\n    ignore_fields:\n      - {rule}\n"
    with pytest.raises(ConfigError) as caught:
        config.parse(text)
    assert error in str(caught.value)


def _live(replicas: int, owned: dict[str, Any]) -> dict[str, Any]:
    live = copy.deepcopy(DEPLOYMENT)
    live["spec"]["replicas"] = replicas
    live["metadata"]["managedFields"] = [
        {"manager": "gitops-bot", "operation": "Apply", "fieldsType": "FieldsV1", "fieldsV1": owned}
    ]
    return live


def test_handover_holds_what_we_own_at_its_live_value() -> None:
    live = _live(5, {"f:spec": {"f:replicas": {}, "f:template": {}}})
    body = ignore.handover(live, fields("spec.replicas"), manager="gitops-bot")
    assert body == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"replicas": 5},
    }
    # Not ours (the HPA took it): nothing to hand over.
    assert (
        ignore.handover(
            _live(5, {"f:spec": {"f:template": {}}}), fields("spec.replicas"), manager="gitops-bot"
        )
        is None
    )


def test_handover_names_list_items_by_their_merge_keys() -> None:
    live = copy.deepcopy(WEBHOOK)
    live["metadata"]["managedFields"] = [
        {
            "manager": "gitops-bot",
            "operation": "Apply",
            "fieldsType": "FieldsV1",
            "fieldsV1": {
                "f:webhooks": {
                    'k:{"name":"a.example.com"}': {
                        ".": {},
                        "f:name": {},
                        "f:clientConfig": {"f:caBundle": {}},
                    },
                    'k:{"name":"b.example.com"}': {
                        ".": {},
                        "f:name": {},
                        "f:clientConfig": {"f:service": {}},
                    },
                }
            },
        }
    ]
    body = ignore.handover(live, fields("webhooks[*].clientConfig.caBundle"), manager="gitops-bot")
    assert body is not None
    assert body["webhooks"] == [{"name": "a.example.com", "clientConfig": {"caBundle": "AAA"}}]


def test_views_hide_a_change_of_an_ignored_field_on_both_sides() -> None:
    def render(replicas: int) -> Render:
        obj = copy.deepcopy(DEPLOYMENT)
        obj["spec"]["replicas"] = replicas
        return Render.of("prod", [Manifest(Key.of(obj), obj, Origin("web.yaml"))])

    base, head = ignore.views(render(3), render(9), ())
    assert base == head
    assert "replicas" not in next(iter(head.values())).obj["spec"]


@given(
    st.lists(
        st.sampled_from(
            [
                "spec.replicas",
                "webhooks[*].clientConfig.caBundle",
                "metadata.annotations.keep",
                "spec.template.spec.containers[name=web].image",
                "webhooks[1]",
            ]
        ),
        max_size=4,
    )
)
def test_strip_is_idempotent_and_never_touches_identity(paths: list[str]) -> None:
    for obj in (DEPLOYMENT, WEBHOOK):
        once = ignore.strip(obj, fields(*paths))
        assert ignore.strip(once, fields(*paths)) == once
        assert Key.of(once) == Key.of(obj)


def test_strip_shares_what_it_does_not_strip_and_copies_the_way_to_what_it_does() -> None:
    # A deep copy per object doubled what the puller's drift watch holds.
    obj = copy.deepcopy(DEPLOYMENT)
    out = ignore.strip(obj, fields("spec.template.spec.containers[name=proxy]"))
    assert out["metadata"] is obj["metadata"]
    assert out["spec"] is not obj["spec"]
    web = out["spec"]["template"]["spec"]["containers"][0]
    assert web is obj["spec"]["template"]["spec"]["containers"][0]
    assert obj == DEPLOYMENT
    assert ignore.strip(obj, ())["spec"] is obj["spec"]
