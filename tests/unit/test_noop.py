from __future__ import annotations

import copy
from typing import Any

import pytest

from gitops_bot.core.objects.noop import apply_is_noop

DESIRED: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web"}},
    "spec": {
        "replicas": 2,
        "template": {"spec": {"containers": [{"name": "web", "image": "nginx:1.27"}]}},
    },
}
OURS = {
    "manager": "gitops-bot",
    "operation": "Apply",
    "apiVersion": "apps/v1",
    "fieldsType": "FieldsV1",
    "fieldsV1": {
        "f:metadata": {"f:labels": {"f:app": {}}},
        "f:spec": {
            "f:replicas": {},
            "f:template": {
                "f:spec": {
                    "f:containers": {'k:{"name":"web"}': {".": {}, "f:image": {}, "f:name": {}}}
                }
            },
        },
    },
}


def live(**changes: Any) -> dict[str, Any]:
    """DESIRED as the server stores it: defaults, server fields, our ownership."""
    obj = copy.deepcopy(DESIRED)
    obj["metadata"].update(
        uid="u1", resourceVersion="9", generation=1, managedFields=[copy.deepcopy(OURS)]
    )
    obj["metadata"]["labels"]["team"] = "shop"  # someone else's label
    obj["spec"]["strategy"] = {"type": "RollingUpdate"}
    obj["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = "IfNotPresent"
    obj["status"] = {"replicas": 2}
    for path, value in changes.items():
        target = obj
        *parents, last = path.split(".")
        for p in parents:
            target = target[int(p)] if isinstance(target, list) else target[p]
        target[last] = value
    return obj


def without(obj: dict[str, Any], path: str) -> dict[str, Any]:
    obj = copy.deepcopy(obj)
    *parents, last = path.split(".")
    target = obj
    for p in parents:
        target = target[p]
    del target[last]
    return obj


@pytest.mark.parametrize(
    ("desired", "have", "noop"),
    [
        pytest.param(DESIRED, live(), True, id="applied-with-defaults-and-other-labels"),
        pytest.param(DESIRED, live(**{"spec.replicas": 3}), False, id="value-differs"),
        pytest.param(DESIRED, live(**{"spec.replicas": True}), False, id="int-vs-bool"),
        pytest.param(
            {**DESIRED, "spec": {**DESIRED["spec"], "replicas": 2.0}},
            live(),
            True,
            id="a-whole-float-is-written-back-as-an-integer",
        ),
        pytest.param(
            {**DESIRED, "spec": {**DESIRED["spec"], "paused": True}},
            live(),
            False,
            id="new-field",
        ),
        pytest.param(
            without(DESIRED, "metadata.labels"),
            live(),
            False,
            id="owned-field-removed-from-desired",
        ),
        pytest.param(
            DESIRED,
            live(**{"metadata.managedFields": []}),
            True,
            id="never-applied-by-us-same-values",
        ),
        pytest.param(
            DESIRED,
            live(**{"metadata.managedFields": [{**OURS, "apiVersion": "apps/v1beta2"}]}),
            False,
            id="ownership-recorded-in-another-version",
        ),
        pytest.param(
            DESIRED,
            live(
                **{
                    "metadata.managedFields": [
                        {**OURS, "fieldsV1": {"f:metadata": {"f:finalizers": {'v:"x"': {}}}}}
                    ]
                }
            ),
            False,
            id="set-member-owned-cannot-be-checked",
        ),
        pytest.param(
            DESIRED,
            live(
                **{
                    "metadata.managedFields": [
                        {
                            **OURS,
                            "manager": "kubectl",
                            "operation": "Update",
                            "fieldsV1": {"f:spec": {"f:paused": {}}},
                        },
                        OURS,
                    ]
                }
            ),
            True,
            id="other-managers-fields-do-not-matter",
        ),
    ],
)
def test_apply_is_noop(desired: dict[str, Any], have: dict[str, Any], noop: bool) -> None:
    assert apply_is_noop(desired, have, manager="gitops-bot") is noop


def test_an_extra_list_item_live_is_not_a_noop() -> None:
    have = live()
    have["spec"]["template"]["spec"]["containers"].append({"name": "sidecar", "image": "x"})
    assert apply_is_noop(DESIRED, have, manager="gitops-bot") is False


def test_secret_string_data_matches_stored_data() -> None:
    desired = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s"},
        "stringData": {"password": "pw"},
    }
    stored = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s"},
        "data": {"password": "cHc="},
        "type": "Opaque",
    }
    assert apply_is_noop(desired, stored, manager="gitops-bot") is True
    stored["data"]["password"] = "b3RoZXI="
    assert apply_is_noop(desired, stored, manager="gitops-bot") is False


def test_list_item_keys_with_server_defaulted_fields_match_the_written_item() -> None:
    desired = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "s"},
        "spec": {"ports": [{"port": 80, "targetPort": 8080}]},
    }
    stored = copy.deepcopy(desired)
    stored["spec"]["ports"][0]["protocol"] = "TCP"  # defaulted, and part of the item's key
    stored["metadata"]["managedFields"] = [
        {
            "manager": "gitops-bot",
            "operation": "Apply",
            "apiVersion": "v1",
            "fieldsType": "FieldsV1",
            "fieldsV1": {
                "f:spec": {
                    "f:ports": {
                        'k:{"port":80,"protocol":"TCP"}': {
                            ".": {},
                            "f:port": {},
                            "f:targetPort": {},
                        }
                    }
                }
            },
        }
    ]
    assert apply_is_noop(desired, stored, manager="gitops-bot") is True
    udp = copy.deepcopy(desired)
    udp["spec"]["ports"][0]["protocol"] = "UDP"  # a different item: ours would be removed
    stored_udp = copy.deepcopy(stored)
    stored_udp["spec"]["ports"][0]["protocol"] = "UDP"
    assert apply_is_noop(udp, stored_udp, manager="gitops-bot") is False


def _pod_template(container: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {"template": {"spec": {"containers": [container], **spec}}},
    }


def _owning(obj: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
    obj = copy.deepcopy(obj)
    obj["metadata"]["managedFields"] = [{**OURS, "fieldsV1": fields}]
    return obj


RESOURCES_OWNED = {
    "f:spec": {
        "f:template": {
            "f:spec": {
                "f:containers": {
                    'k:{"name":"web"}': {
                        ".": {},
                        "f:name": {},
                        "f:resources": {"f:limits": {"f:cpu": {}}},
                    }
                }
            }
        }
    }
}


@pytest.mark.parametrize(
    ("written", "stored"),
    [
        ("2000m", "2"),
        ("1024Mi", "1Gi"),
        ("0.5", "500m"),
        (0.5, "500m"),
        (2, "2"),
        ("1000000000n", "1"),
    ],
)
def test_quantities_compare_in_the_spelling_the_server_stores(written: Any, stored: str) -> None:
    desired = _pod_template({"name": "web", "resources": {"limits": {"cpu": written}}})
    have = _owning(
        _pod_template({"name": "web", "resources": {"limits": {"cpu": stored}}}), RESOURCES_OWNED
    )
    assert apply_is_noop(desired, have, manager="gitops-bot") is True
    other = _owning(
        _pod_template({"name": "web", "resources": {"limits": {"cpu": "3"}}}), RESOURCES_OWNED
    )
    assert apply_is_noop(desired, other, manager="gitops-bot") is False


def test_a_quantity_spelling_in_a_plain_string_field_is_not_rewritten() -> None:
    desired = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "c"},
        "data": {"cpu": "2000m"},
    }
    stored = {**desired, "data": {"cpu": "2"}}
    assert apply_is_noop(desired, stored, manager="gitops-bot") is False


def _zero_owned(container: dict[str, Any], spec: dict[str, Any]) -> dict[str, Any]:
    """Our record of the template: `name` and whatever the test sets."""
    item = {".": {}, "f:name": {}, **{f"f:{k}": {} for k in container}}
    return {
        "f:spec": {
            "f:template": {
                "f:spec": {
                    "f:containers": {'k:{"name":"web"}': item},
                    **{f"f:{k}": {} for k in spec},
                }
            }
        }
    }


@pytest.mark.parametrize(
    ("container", "spec"),
    [
        ({"workingDir": ""}, {}),
        ({"stdin": False}, {}),
        ({"ports": None}, {}),
        ({}, {"hostNetwork": False}),
        ({}, {"priorityClassName": ""}),
    ],
)
def test_zero_values_the_server_drops_match_when_our_record_owns_them(
    container: dict[str, Any], spec: dict[str, Any]
) -> None:
    desired = _pod_template({"name": "web", **container}, **spec)
    stored = _pod_template({"name": "web"})
    owned = _zero_owned(container, spec)
    assert apply_is_noop(desired, _owning(stored, owned), manager="gitops-bot") is True
    # Not owned by us: someone may have removed it since; the server must say.
    assert (
        apply_is_noop(desired, _owning(stored, _zero_owned({}, {})), manager="gitops-bot") is False
    )


def test_a_value_that_is_not_zero_is_not_excused_by_ownership() -> None:
    desired = _pod_template({"name": "web", "stdin": True})
    stored = _pod_template({"name": "web"})
    owned = _zero_owned({"stdin": True}, {})
    assert apply_is_noop(desired, _owning(stored, owned), manager="gitops-bot") is False


def test_a_key_dropped_from_an_atomic_map_is_a_change() -> None:
    # nodeSelector is atomic: our record owns it whole, not key by key, and
    # applying replaces it, so the key the render no longer writes goes.
    owned = _zero_owned({}, {"nodeSelector": {}})
    stored = _owning(_pod_template({"name": "web"}, nodeSelector={"a": "1", "b": "2"}), owned)
    dropped = _pod_template({"name": "web"}, nodeSelector={"a": "1"})
    assert apply_is_noop(dropped, stored, manager="gitops-bot") is False
    same = _pod_template({"name": "web"}, nodeSelector={"a": "1", "b": "2"})
    assert apply_is_noop(same, stored, manager="gitops-bot") is True


def test_an_empty_list_in_a_built_in_kind_needs_no_record_and_in_a_custom_resource_it_does() -> (
    None
):
    # The server records no field for an empty associative list (env: []),
    # and a Go struct stores an empty list and none alike.
    desired = _pod_template({"name": "web", "env": []})
    stored = _owning(_pod_template({"name": "web"}), _zero_owned({}, {}))
    assert apply_is_noop(desired, stored, manager="gitops-bot") is True
    # A custom resource keeps [] as written: absent live means someone removed it.
    cr = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
    have = {
        **cr,
        "metadata": {
            "name": "w",
            "managedFields": [{**OURS, "apiVersion": "example.com/v1", "fieldsV1": {}}],
        },
    }
    assert (
        apply_is_noop({**cr, "spec": {"items": []}}, {**have, "spec": {}}, manager="gitops-bot")
        is False
    )
