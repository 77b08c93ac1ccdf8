"""A generated name whose kustomize hash changed is one rename: which pairs
count (tables and properties), and how core.objects.diff shows them and the objects
that follow them, Secrets masked."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gitops_bot.core.objects import diff, renames
from gitops_bot.core.objects.model import Key, Manifest, Origin
from gitops_bot.core.policy import destructive
from gitops_bot.core.report import live_only
from gitops_bot.core.report.plan import Action, EnvPlan
from tests.objects import configmap, deployment, secret


def kustomize_hash(data: bytes) -> str:
    """kustomize api/hasher: the first 10 hex digits of the sha256, with
    0, 1, 3, a and e replaced so that no word or number can form."""
    hexed = hashlib.sha256(data).hexdigest()[:10]
    return hexed.translate(str.maketrans("013ae", "ghkmt"))


def cm(name: str, ns: str = "shop") -> Key:
    return Key("", "ConfigMap", ns, name)


OLD, NEW = "app-config-5f8k2m9t4h", "app-config-8g7h6d5c2b"


@pytest.mark.parametrize(
    ("removed", "added", "expected"),
    [
        ([cm(OLD)], [cm(NEW)], {cm(NEW): cm(OLD)}),
        # Not a generated name: too short, a letter kustomize never writes, no dash.
        ([cm("app-config-5f8k2m")], [cm("app-config-8g7h6d")], {}),
        ([cm("app-config-5f8k2m9t4a")], [cm("app-config-8g7h6d5c2b")], {}),
        ([cm("app-config-5f8k2m9t40")], [cm("app-config-8g7h6d5c2b")], {}),
        ([cm("appconfig5f8k2m9t4h")], [cm("appconfig8g7h6d5c2b")], {}),
        # Different prefix, kind, group or namespace: unrelated objects.
        ([cm(OLD)], [cm("app-settings-8g7h6d5c2b")], {}),
        ([cm(OLD)], [Key("", "Secret", "shop", NEW)], {}),
        ([cm(OLD)], [Key("example.com", "ConfigMap", "shop", NEW)], {}),
        ([cm(OLD)], [cm(NEW, ns="other")], {}),
        # Ambiguous: two old or two new with one prefix; nothing is guessed.
        ([cm(OLD), cm("app-config-2b4d6f8h9k")], [cm(NEW)], {}),
        ([cm(OLD)], [cm(NEW), cm("app-config-2b4d6f8h9k")], {}),
        # Two generators, each unambiguous.
        (
            [cm(OLD), cm("env-vars-bcdfghkmt2")],
            [cm(NEW), cm("env-vars-456789bcdf")],
            {cm(NEW): cm(OLD), cm("env-vars-456789bcdf"): cm("env-vars-bcdfghkmt2")},
        ),
    ],
)
def test_pairs(removed: list[Key], added: list[Key], expected: dict[Key, Key]) -> None:
    assert renames.pairs(removed, added) == expected


names = st.from_regex(r"[a-z][a-z0-9-]{0,40}[a-z0-9]", fullmatch=True)


@given(names, st.binary(), st.binary())
def test_every_real_kustomize_hash_change_pairs(prefix: str, old: bytes, new: bytes) -> None:
    old_key = cm(f"{prefix}-{kustomize_hash(old)}")
    new_key = cm(f"{prefix}-{kustomize_hash(new)}")
    if old_key == new_key:
        return
    assert renames.generated_prefix(new_key.name) == prefix
    assert renames.pairs([old_key, cm(prefix)], [new_key, cm(prefix + "-x")]) == {new_key: old_key}


def _render(*objs: dict[str, Any]) -> dict[Key, Manifest]:
    return {Key.of(o): Manifest(Key.of(o), o, Origin("kustomize build envs/prod")) for o in objs}


def _uses(config: str, *, image: str = "web:1") -> dict[str, Any]:
    obj = deployment(image=image)
    pod = obj["spec"]["template"]["spec"]
    pod["containers"][0]["envFrom"] = [{"configMapRef": {"name": config}}]
    pod["volumes"] = [{"name": "config", "configMap": {"name": config}}]
    return obj


def test_a_rename_is_one_change_with_its_data_and_its_users_follow() -> None:
    before = _render(configmap(OLD, LEVEL="info"), _uses(OLD), _uses(OLD) | {"kind": "StatefulSet"})
    other = _uses(NEW, image="web:2") | {"kind": "StatefulSet"}
    after = _render(configmap(NEW, LEVEL="debug"), _uses(NEW), other)
    changes = {c.key: c for c in diff.compute(before, after, mask_key=b"k")}

    assert set(changes) == {
        cm(NEW),
        Key("apps", "Deployment", "shop", "web"),
        Key("apps", "StatefulSet", "shop", "web"),
    }
    renamed = changes[cm(NEW)]
    assert renamed.action is Action.UPDATE
    assert renamed.renamed_from == cm(OLD)
    assert renamed.note == (
        "a generated name whose hash changed (kustomize generators): the old name "
        f"{OLD} leaves the render, and the puller prunes it"
    )
    assert renamed.diff.splitlines()[:2] == [
        f"--- ConfigMap shop/{OLD} (before)",
        f"+++ ConfigMap shop/{NEW} (after)",
    ]
    assert "-  LEVEL: info\n+  LEVEL: debug\n" in renamed.diff
    follows = changes[Key("apps", "Deployment", "shop", "web")]
    assert follows.action is Action.UPDATE
    assert follows.note == f"changes only by following the rename of ConfigMap {OLD} to {NEW}"
    also = changes[Key("apps", "StatefulSet", "shop", "web")]
    assert also.note == (
        f"follows the rename of ConfigMap {OLD} to {NEW}, and changes otherwise too"
    )


def test_a_renamed_secret_shows_which_keys_changed_never_the_values() -> None:
    old_name, new_name = "db-5f8k2m9t4h", "db-8g7h6d5c2b"
    before = _render(secret(old_name, password="old-canary-1", user="shop"))
    after = _render(secret(new_name, password="new-canary-2", user="shop", token="t-canary-3"))
    (change,) = diff.compute(before, after, mask_key=b"k")
    assert change.renamed_from == Key("", "Secret", "shop", old_name)
    assert change.secret_keys is not None
    assert change.secret_keys.changed == ("password",)
    assert change.secret_keys.added == ("token",)
    for value in ("old-canary-1", "new-canary-2", "t-canary-3"):
        assert value not in change.diff
        assert value not in change.note


def test_an_unchanged_rename_is_still_one_update() -> None:
    # Same data under a new hash (the generator's options changed, say).
    (change,) = diff.compute(
        _render(configmap(OLD, a="1")), _render(configmap(NEW, a="1")), mask_key=b"k"
    )
    assert change.action is Action.UPDATE
    assert f"-  name: {OLD}\n+  name: {NEW}\n" in change.diff


def test_the_old_name_is_still_a_deletion_for_the_policy_and_not_a_live_only_change() -> None:
    changes = diff.compute(
        _render(configmap(OLD, a="1")), _render(configmap(NEW, a="2")), mask_key=b"k"
    )
    live = (
        diff.compare(cm(NEW), None, configmap(NEW, a="2"), mask_key=b"k"),
        diff.compare(cm(OLD), configmap(OLD, a="1"), None, mask_key=b"k"),
    )
    env = EnvPlan(env="prod", changes=changes, live=live)
    assert destructive.destructive(env) == (
        destructive.Destruction(cm(OLD), destructive.How.DELETE),
    )
    assert live_only(env) == ()


def test_a_protected_kind_says_it_is_not_pruned() -> None:
    old = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": OLD}}
    new = {**old, "metadata": {"name": NEW}}
    (change,) = diff.compute(_render(old), _render(new), mask_key=b"k")
    assert change.renamed_from is not None
    assert "the puller does not prune it unless told to" in change.note
