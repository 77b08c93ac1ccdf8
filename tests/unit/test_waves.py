"""Stages, waves and the prune rules, as tables."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gitops_bot.core.objects import waves
from gitops_bot.core.objects.model import Key, Manifest, Origin
from gitops_bot.errors import RenderError


def manifest(kind: str, name: str, *, wave: Any = None, api_version: str = "v1") -> Manifest:
    meta: dict[str, Any] = {"name": name, "namespace": "shop"}
    if wave is not None:
        meta["annotations"] = {waves.WAVE_ANNOTATION: wave}
    obj = {"apiVersion": api_version, "kind": kind, "metadata": meta}
    return Manifest(Key.of(obj), obj, Origin("apps/shop.yaml", 2, line=14))


@pytest.mark.parametrize(
    ("value", "wave"),
    [(None, 0), ("0", 0), ("3", 3), ("-2", -2), (" 5 ", 5), ("007", 7)],
)
def test_wave_of_reads_integers(value: Any, wave: int) -> None:
    assert waves.wave_of(manifest("ConfigMap", "a", wave=value)) == wave


@pytest.mark.parametrize("value", ["", "soon", "1.5", "+1", "1_000", "0x10", "9999999999", 3, True])
def test_wave_of_refuses_anything_else_naming_the_object(value: Any) -> None:
    with pytest.raises(RenderError) as err:
        waves.wave_of(manifest("ConfigMap", "a", wave=value))
    message = str(err.value)
    assert message.startswith("ConfigMap shop/a (apps/shop.yaml:14 (document 3)): annotation")
    assert "must be an integer" in message


@given(st.integers(min_value=-(10**8), max_value=10**8))
def test_any_written_integer_is_its_wave(n: int) -> None:
    assert waves.wave_of(manifest("ConfigMap", "a", wave=str(n))) == n


@given(st.text(max_size=20).filter(lambda t: not t.strip().lstrip("-").isdigit()))
def test_any_other_text_is_an_error(text: str) -> None:
    with pytest.raises(RenderError):
        waves.wave_of(manifest("ConfigMap", "a", wave=text))


def test_steps_put_crds_and_namespaces_first_then_waves_in_order() -> None:
    ms = [
        manifest("ConfigMap", "late", wave="2"),
        manifest("ConfigMap", "plain"),
        manifest("Namespace", "shop"),
        manifest("Job", "migrate", wave="-1", api_version="batch/v1"),
        manifest("CustomResourceDefinition", "crd", api_version="apiextensions.k8s.io/v1"),
        manifest("ConfigMap", "plain2"),
        manifest("Namespace", "early", wave="5"),
    ]

    plan = [(s.stage, s.wave, [m.key.name for m in s.manifests]) for s in waves.steps(ms)]

    assert plan == [
        (0, 0, ["shop", "crd"]),
        (0, 5, ["early"]),
        (1, -1, ["migrate"]),
        (1, 0, ["plain", "plain2"]),
        (1, 2, ["late"]),
    ]


def test_defines_names_namespaces_and_custom_kinds() -> None:
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "gadgets.example.com"},
        "spec": {"group": "example.com", "names": {"kind": "Gadget"}},
    }
    ms = [
        Manifest(Key.of(crd), crd, Origin("crd.yaml")),
        manifest("Namespace", "shop"),
        manifest("ConfigMap", "x"),
    ]

    assert waves.defines(ms) == (frozenset({"shop"}), frozenset({("example.com", "Gadget")}))


@pytest.mark.parametrize(
    ("group", "kind", "opt_in", "protected"),
    [
        ("", "Namespace", (), True),
        ("", "Namespace", ("Namespace",), False),
        ("apiextensions.k8s.io", "CustomResourceDefinition", (), True),
        (
            "apiextensions.k8s.io",
            "CustomResourceDefinition",
            ("CustomResourceDefinition.apiextensions.k8s.io",),
            False,
        ),
        ("", "PersistentVolume", ("PersistentVolumeClaim",), True),
        ("", "PersistentVolumeClaim", ("PersistentVolumeClaim",), False),
        ("", "ConfigMap", (), False),
        ("example.com", "Namespace", (), False),  # a custom kind that happens to be called so
    ],
)
def test_prune_protection(group: str, kind: str, opt_in: tuple[str, ...], protected: bool) -> None:
    why = waves.prune_protection(Key(group, kind, "", "x"), opt_in=opt_in)
    assert (why is not None) == protected
    if why:
        assert "never pruned without an opt-in" in why


@pytest.mark.parametrize(
    ("deleting", "inventory", "share", "refused"),
    [
        (0, 0, 0.5, False),
        (5, 10, 0.5, False),
        (6, 10, 0.5, True),
        (1, 1, 0.5, True),
        (1, 1, 1.0, False),
        (1, 100, 0.0, True),
    ],
)
def test_share_refusal(deleting: int, inventory: int, share: float, refused: bool) -> None:
    why = waves.share_refusal(deleting, inventory, max_share=share)
    assert (why is not None) == refused
    if why:
        assert f"pruning {deleting} of the {inventory} objects" in why
        assert f"limit of {share:.0%}" in why


@pytest.mark.parametrize(
    ("refs", "parent_uid", "foreign"),
    [
        ([], "p", False),
        ([{"kind": "ConfigMap", "name": "gitops-bot-dev", "uid": "p"}], "p", False),
        ([{"kind": "ReplicaSet", "name": "web-1", "uid": "r"}], "p", True),
        ([{"kind": "ConfigMap", "name": "x", "uid": "p"}], "", True),
    ],
)
def test_foreign_owner(refs: list[dict[str, str]], parent_uid: str, foreign: bool) -> None:
    obj = {"metadata": {"ownerReferences": refs}}
    why = waves.foreign_owner(obj, parent_uid=parent_uid)
    assert (why is not None) == foreign
