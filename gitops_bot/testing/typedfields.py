"""Writes gitops_bot/core/objects/typedfields.py from a real API server's OpenAPI v3.

Owns: finding, in the published schema of every built-in kind, each field
whose value the API server rewrites on every write because of its Go type:
`resource.Quantity` (`2000m` is stored as `2`) and `[]byte` (base64,
stored in its canonical padding); and each atomic map (a server-side apply
replaces it whole, so a key the render dropped is removed: core.objects.noop must
see that). The integration test
tests/integration/test_typedfields.py regenerates the table from the test
control plane and compares; `python -m tests.integration.test_typedfields
KUBECONFIG` rewrites the module after a Kubernetes upgrade.
Refuses: custom resources (the server stores their values as written).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

QUANTITY_REF = "#/components/schemas/io.k8s.apimachinery.pkg.api.resource.Quantity"
MODULE = Path(__file__).resolve().parent.parent / "core" / "objects" / "typedfields.py"


def _ref(schema: Mapping[str, Any]) -> str | None:
    if "$ref" in schema:
        return str(schema["$ref"])
    for wrapper in schema.get("allOf") or ():
        if "$ref" in wrapper:
            return str(wrapper["$ref"])
    return None


# core/v1's defaulting rounds every value of a ResourceList (a map of
# quantities declared in core/v1) up to 1m: `cpu: 1500u` is stored as `2m`.
CORE_V1 = "io.k8s.api.core.v1."


def _walk(
    schemas: Mapping[str, Any],
    schema: Mapping[str, Any],
    path: str,
    seen: frozenset[str],
    owner: str = "",
) -> Iterator[tuple[str, str]]:
    ref = _ref(schema)
    if ref == QUANTITY_REF:
        resource_list = path.endswith("{}") and owner.startswith(CORE_V1)
        yield path, "resource list" if resource_list else "quantity"
        return
    if ref is not None:
        name = ref.rsplit("/", 1)[-1]
        if name in seen or name not in schemas:
            return  # recursive types (JSONSchemaProps) hold no typed values
        yield from _walk(schemas, schemas[name], path, seen | {name}, name)
        return
    if schema.get("type") == "string" and schema.get("format") == "byte":
        yield path, "bytes"
        return
    if "items" in schema:
        yield from _walk(schemas, schema["items"], path + "[]", seen, owner)
    if isinstance(schema.get("additionalProperties"), Mapping):
        if schema.get("x-kubernetes-map-type") == "atomic":
            yield path, "atomic map"
        yield from _walk(schemas, schema["additionalProperties"], path + "{}", seen, owner)
    for field, child in (schema.get("properties") or {}).items():
        if not path and field in ("status", "metadata"):
            continue  # status is not applied; metadata holds neither
        yield from _walk(schemas, child, f"{path}.{field}" if path else field, seen, owner)


BUILT_IN = ("io.k8s.api.", "io.k8s.apiextensions-apiserver.", "io.k8s.kube-aggregator.")


def _kinds(
    docs: Mapping[str, Mapping[str, Any]],
) -> Iterator[tuple[str, Mapping[str, Any], str, str]]:
    """(schema name, schema, apiVersion, kind) of every built-in kind; custom
    resources a test left behind are not Kubernetes' own types."""
    for doc in docs.values():
        schemas = (doc.get("components") or {}).get("schemas") or {}
        for name, schema in schemas.items():
            if not name.startswith(BUILT_IN):
                continue
            for gvk in schema.get("x-kubernetes-group-version-kind") or ():
                group, version, kind = gvk.get("group", ""), gvk["version"], gvk["kind"]
                if not kind.endswith("List"):  # a render's List is unpacked into its items
                    yield name, schema, f"{group}/{version}" if group else version, kind


def kinds(docs: Mapping[str, Mapping[str, Any]]) -> list[tuple[str, str]]:
    """Every built-in (apiVersion, kind), sorted."""
    return sorted({(api_version, kind) for _, _, api_version, kind in _kinds(docs)})


def table(docs: Mapping[str, Mapping[str, Any]]) -> dict[tuple[str, str], list[tuple[str, str]]]:
    """(apiVersion, kind) -> sorted (path, form) pairs, from OpenAPI v3 documents."""
    found: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for doc in docs.values():
        schemas = (doc.get("components") or {}).get("schemas") or {}
        for name, schema, api_version, kind in _kinds({"": doc}):
            fields = sorted(set(_walk(schemas, schema, "", frozenset({name}), name)))
            if fields:
                found[(api_version, kind)] = fields
    return dict(sorted(found.items()))


def fetch(get: Callable[[str], Any]) -> dict[str, dict[str, Any]]:
    """Every OpenAPI v3 document the server publishes, by its path; `get`
    reads one server path and returns the decoded JSON."""
    index = get("/openapi/v3")
    docs = {}
    for path, entry in sorted((index.get("paths") or {}).items()):
        if path.startswith(("api/", "apis/")):
            docs[path] = get(str(entry["serverRelativeURL"]).split("?", 1)[0])
    return docs


def module_text(
    found: Mapping[tuple[str, str], list[tuple[str, str]]],
    built_in: list[tuple[str, str]],
    version: str,
) -> str:
    lines = [
        '"""Fields of built-in kinds whose value the API server rewrites on every write,',
        "and the atomic maps it replaces whole.",
        "",
        f"Generated from kube-apiserver {version}'s OpenAPI v3 by gitops_bot/testing/",
        "typedfields.py (tests/integration/test_typedfields.py checks it); do not edit.",
        "A path names fields with dots, list items with [] and map values with {}.",
        "KINDS are all built-in kinds: typed Go structs, so an empty list and none are one.",
        '"""',
        "",
        "FIELDS: dict[tuple[str, str], tuple[tuple[str, str], ...]] = {",
    ]
    for (api_version, kind), fields in found.items():
        lines.append(f"    ({api_version!r}, {kind!r}): (")
        lines.extend(f"        ({path!r}, {form!r})," for path, form in fields)
        lines.append("    ),")
    lines.append("}")
    lines.append("")
    lines.append("KINDS: frozenset[tuple[str, str]] = frozenset(")
    lines.append("    {")
    lines.extend(f"        ({api_version!r}, {kind!r})," for api_version, kind in built_in)
    lines.append("    }")
    lines.append(")")
    return "\n".join(lines) + "\n"
