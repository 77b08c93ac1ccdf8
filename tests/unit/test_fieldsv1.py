from __future__ import annotations

from typing import Any

import pytest

from gitops_bot.core.objects import fieldsv1

LIVE: dict[str, Any] = {
    "metadata": {
        "managedFields": [
            {
                "manager": "gitops-bot",
                "operation": "Apply",
                "fieldsType": "FieldsV1",
                "fieldsV1": {
                    "f:spec": {
                        "f:replicas": {},
                        "f:template": {
                            "f:spec": {
                                "f:containers": {
                                    'k:{"name":"web"}': {".": {}, "f:image": {}, "f:name": {}},
                                },
                            },
                        },
                    },
                },
            },
            {
                "manager": "kubectl-edit",
                "operation": "Update",
                "fieldsType": "FieldsV1",
                "fieldsV1": {
                    "f:metadata": {"f:labels": {"f:team": {}}},
                    "f:spec": {
                        "f:template": {
                            "f:spec": {
                                "f:containers": {
                                    'k:{"name":"web"}': {
                                        "f:env": {
                                            'k:{"name":"DEBUG"}': {
                                                ".": {},
                                                "f:name": {},
                                                "f:value": {},
                                            }
                                        }
                                    },
                                }
                            }
                        }
                    },
                },
            },
            {
                "manager": "kube-controller-manager",
                "operation": "Update",
                "subresource": "status",
                "fieldsType": "FieldsV1",
                "fieldsV1": {"f:status": {"f:replicas": {}}},
            },
        ]
    }
}
WEB = (("name", "web"),)


@pytest.mark.parametrize(
    ("path", "owners"),
    [
        (("spec", "replicas"), ("gitops-bot",)),
        (("spec", "template", "spec", "containers", WEB, "image"), ("gitops-bot",)),
        (("metadata", "labels", "team"), ("kubectl-edit",)),
        (
            ("spec", "template", "spec", "containers", WEB, "env", (("name", "DEBUG"),), "value"),
            ("kubectl-edit",),
        ),
        # Nobody owns the leaf; the deepest owned node above it is the container
        # item, which only gitops-bot owns itself (".").
        (("spec", "template", "spec", "containers", WEB, "resources"), ("gitops-bot",)),
        # Writers through a subresource are named with it (status is never drift,
        # but a status writer may own metadata).
        (("status", "replicas"), ("kube-controller-manager (via status)",)),
        (("spec", "paused"), ()),
    ],
)
def test_owners(path: tuple[Any, ...], owners: tuple[str, ...]) -> None:
    assert fieldsv1.owners(LIVE, path) == owners


def test_paths_spell_list_items_and_positions() -> None:
    found = set(
        fieldsv1.paths(
            {"f:a": {'k:{"port":80,"protocol":"TCP"}': {}}, "f:b": {"i:0": {}, 'v:"x"': {}}}
        )
    )
    assert found == {("a", (("port", 80), ("protocol", "TCP"))), ("b", 0)}


def test_unknown_spellings_are_ignored() -> None:
    assert set(fieldsv1.paths({"z:odd": {}, "k:not json": {}, "f:ok": {}})) == {("ok",)}


def _entry(manager: str, fields: dict[str, Any], **more: str) -> dict[str, Any]:
    return {"manager": manager, "fieldsType": "FieldsV1", "fieldsV1": fields, **more}


REPLICAS = {"f:spec": {"f:replicas": {}}}


@pytest.mark.parametrize(
    ("entries", "owners"),
    [
        # kubectl scale and a HorizontalPodAutoscaler write through /scale.
        ([_entry("kubectl", REPLICAS, subresource="scale")], ("kubectl (via scale)",)),
        (
            [_entry("kube-controller-manager", REPLICAS, subresource="scale")],
            ("kube-controller-manager (via scale)",),
        ),
        # A write of the object itself and one through a subresource are two owners.
        (
            [_entry("gitops-bot", REPLICAS), _entry("kubectl", REPLICAS, subresource="scale")],
            ("gitops-bot", "kubectl (via scale)"),
        ),
        # The same manager through two subresources: both named.
        (
            [
                _entry("m", {"f:metadata": {"f:labels": {"f:a": {}}}}, subresource="status"),
                _entry("m", {"f:metadata": {"f:labels": {"f:a": {}}}}),
            ],
            ("m (via status)", "m"),
        ),
        ([_entry("", REPLICAS, subresource="scale")], ("(unnamed manager) (via scale)",)),
    ],
)
def test_subresource_writers_are_owners_named_with_the_subresource(
    entries: list[dict[str, Any]], owners: tuple[str, ...]
) -> None:
    obj = {"metadata": {"managedFields": entries}}
    path = (
        ("spec", "replicas") if "f:spec" in entries[0]["fieldsV1"] else ("metadata", "labels", "a")
    )
    assert fieldsv1.owners(obj, path) == owners
