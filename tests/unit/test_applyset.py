"""ApplySet ids, labels and the parent's record (KEP-3659), as tables.

That kubectl computes the same id and reads the same parent is proven on the
real control plane in tests/integration/test_apply_kubectl.py.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gitops_bot.cluster import applyset
from gitops_bot.cluster.applyset import ApplySetRef, Parent
from gitops_bot.errors import RenderError

LABEL_VALUE = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")
NAME = st.from_regex(r"[a-z0-9]([-a-z0-9]{0,30}[a-z0-9])?", fullmatch=True)


@given(NAME, NAME)
def test_the_id_is_a_valid_label_value_unique_per_parent(name: str, namespace: str) -> None:
    ref = ApplySetRef(name, namespace)
    assert LABEL_VALUE.match(ref.id)
    assert ref.id.startswith("applyset-")
    assert ref.id.endswith("-v1")
    assert ref.id != ApplySetRef(name + "x", namespace).id
    assert ref.selector == f"applyset.kubernetes.io/part-of={ref.id}"


@pytest.mark.parametrize(
    ("text", "group_kind"),
    [
        ("ConfigMap", ("", "ConfigMap")),
        ("Deployment.apps", ("apps", "Deployment")),
        (
            "CustomResourceDefinition.apiextensions.k8s.io",
            ("apiextensions.k8s.io", "CustomResourceDefinition"),
        ),
        (" Secret ", ("", "Secret")),
    ],
)
def test_parse_group_kind(text: str, group_kind: tuple[str, str]) -> None:
    assert applyset.parse_group_kind(text) == group_kind


@given(st.frozensets(st.tuples(st.sampled_from(["", "apps", "example.com"]), NAME.map(str.title))))
def test_group_kinds_survive_the_annotation(kinds: frozenset[tuple[str, str]]) -> None:
    text = Parent(group_kinds=kinds).annotations()[applyset.GROUP_KINDS]
    assert text.split(",") == sorted(text.split(",")) or not text
    parsed = {applyset.parse_group_kind(t) for t in text.split(",") if t}
    assert parsed == kinds


@pytest.mark.parametrize(
    ("parent", "annotations"),
    [
        (
            Parent(),
            {applyset.TOOLING: "gitops-bot/v1", applyset.GROUP_KINDS: ""},
        ),
        (
            Parent(
                group_kinds=frozenset({("apps", "Deployment"), ("", "ConfigMap")}),
                namespaces=frozenset({"shop-b", "shop-a"}),
                revision="abc123",
                render_hash="f00",
                applied_at="2026-01-02T03:04:05Z",
            ),
            {
                applyset.TOOLING: "gitops-bot/v1",
                applyset.GROUP_KINDS: "ConfigMap,Deployment.apps",
                applyset.NAMESPACES: "shop-a,shop-b",
                applyset.REVISION: "abc123",
                applyset.RENDER_HASH: "f00",
                applyset.APPLIED_AT: "2026-01-02T03:04:05Z",
            },
        ),
    ],
)
def test_parent_annotations(parent: Parent, annotations: dict[str, str]) -> None:
    assert parent.annotations() == annotations


def test_same_record_ignores_the_time_but_not_a_missing_parent() -> None:
    a = Parent(revision="r", render_hash="h", applied_at="t1", exists=True)
    assert a.same_record(Parent(revision="r", render_hash="h", applied_at="t2"))
    assert not a.same_record(Parent(revision="r2", render_hash="h"))
    assert not Parent().same_record(Parent())


def test_labelled_adds_our_label_and_keeps_the_rest() -> None:
    ref = ApplySetRef("gitops-bot-dev", "ops")
    obj: dict[str, Any] = {"kind": "ConfigMap", "metadata": {"name": "a", "labels": {"app": "web"}}}

    out = applyset.labelled(obj, ref, where="ConfigMap a")

    assert out["metadata"]["labels"] == {"app": "web", applyset.PART_OF: ref.id}
    assert obj["metadata"]["labels"] == {"app": "web"}  # the manifest is not touched
    assert applyset.labelled(out, ref, where="ConfigMap a") == out


def test_labelled_refuses_a_manifest_that_names_another_applyset() -> None:
    ref = ApplySetRef("gitops-bot-dev", "ops")
    obj = {"metadata": {"name": "a", "labels": {applyset.PART_OF: "applyset-x-v1"}}}

    with pytest.raises(RenderError, match=r"^ConfigMap a: label applyset.kubernetes.io/part-of"):
        applyset.labelled(obj, ref, where="ConfigMap a")
