"""What the API server adds to an object, taken away before a diff.

Owns: `for_diff`, which reduces a rendered, live or dry-run object to the
fields a person wrote, in the spelling the API server stores them, so that
two objects that differ only in bookkeeping or spelling compare equal; and
`plain`, the deep copy into plain dicts and lists that every other core
module works on. The spellings: a resource quantity in its canonical text
(`cpu: 2000m` is stored as `"2"`, core.objects.quantity; in a core/v1
ResourceList also rounded up to 1m), a `[]byte` field in
padded base64, both at the fields core.objects.typedfields lists for built-in kinds
(generated from the API server's OpenAPI); and a whole number written as a
float (`2.0`) as the integer Go's JSON encoder writes back.
Refuses: guessing server defaults (the live diff gets those from a
server-side dry-run on both sides, never from a table of ours), and
dropping anything that changes behaviour: ownerReferences, finalizers and
every other annotation stay.
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
from collections.abc import Callable, Mapping
from typing import Any

from gitops_bot.core.objects import quantity, typedfields

# Written by the API server (or by kubectl and controllers) on every object;
# no one writes them in Git, so they only ever show up as noise.
SERVER_METADATA = (
    "managedFields",
    "resourceVersion",
    "uid",
    "generation",
    "creationTimestamp",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
)

_SERVER_METADATA = frozenset(SERVER_METADATA)

# Annotations a tool writes about the object rather than for it: the
# last-applied copy (which also holds Secret values in clear) and the
# Deployment controller's revision counter.
SERVER_ANNOTATIONS = (
    "kubectl.kubernetes.io/last-applied-configuration",
    "deployment.kubernetes.io/revision",
)


def plain(value: Any) -> Any:
    """A deep copy made of dicts, lists and scalars only.

    Mappings and sequences of any type (MappingProxyType, tuples) become
    dicts and lists, so the result can be changed, compared with `==` and
    dumped by yaml.safe_dump without surprises.
    """
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def for_diff(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of `obj` without what the server sets; `obj` is left untouched."""
    # Left out before copying, not after: a live object's managedFields are
    # often most of it (plain() copying them was the live plan's top cost).
    top = {k: v for k, v in obj.items() if k != "status"}
    if isinstance(top.get("metadata"), Mapping):
        top["metadata"] = {k: v for k, v in top["metadata"].items() if k not in _SERVER_METADATA}
    out: dict[str, Any] = plain(top)
    meta = out.get("metadata")
    if isinstance(meta, dict):
        annotations = meta.get("annotations")
        if isinstance(annotations, dict):
            for name in SERVER_ANNOTATIONS:
                annotations.pop(name, None)
    _drop_empty_metadata(out)
    _fold_string_data(out)
    stored_forms(out)
    return out


def stored_forms(obj: dict[str, Any]) -> None:
    """Rewrite, in place, the values the API server would store in another
    spelling: typed fields of built-in kinds, and whole floats anywhere."""
    for segments, form in typed_fields(str(obj.get("apiVersion")), str(obj.get("kind"))):
        if form in _FORMS:
            _rewrite(obj, segments, _FORMS[form])
    _whole_floats(obj)


def _canonical_quantity(value: Any) -> Any:
    found = quantity.canonical(value)
    return value if found is None else found  # the server refuses it: leave it to say so


def _canonical_resource(value: Any) -> Any:
    found = quantity.canonical(value, resource_list=True)
    return value if found is None else found


_BASE64 = re.compile(r"[A-Za-z0-9+/]*={0,2}\Z")


def _canonical_bytes(value: Any) -> Any:
    """Go's encoding/json reads standard base64, skipping line breaks, and
    writes it back in one line, padded."""
    if not isinstance(value, str):
        return value
    text = value.replace("\r", "").replace("\n", "")
    if len(text) % 4 or not _BASE64.match(text):
        return value
    try:
        return base64.b64encode(base64.b64decode(text)).decode()
    except (binascii.Error, ValueError):
        return value


_FORMS: dict[str, Callable[[Any], Any]] = {
    "quantity": _canonical_quantity,
    "resource list": _canonical_resource,
    "bytes": _canonical_bytes,
}
_SEGMENT = re.compile(r"([^.\[{]+)((?:\[\]|\{\})*)")


def built_in(api_version: str, kind: str) -> bool:
    """Whether the kind is one of the API server's own (a Go struct, not a custom resource)."""
    return (api_version, kind) in typedfields.KINDS


@functools.cache
def typed_fields(api_version: str, kind: str) -> tuple[tuple[tuple[str, ...], str], ...]:
    """core.objects.typedfields' fields of a kind, as path segments: names, "[]" and "{}"."""
    out = []
    for path, form in typedfields.FIELDS.get((api_version, kind), ()):
        segments: list[str] = []
        for part in path.split("."):
            match = _SEGMENT.fullmatch(part)
            if match is None:  # pragma: no cover - the generated table is checked
                raise ValueError(f"typedfields: bad path {path!r}")
            segments.append(match[1])
            segments.extend(re.findall(r"\[\]|\{\}", match[2]))
        out.append((tuple(segments), form))
    return tuple(out)


def _rewrite(value: Any, segments: tuple[str, ...], form: Callable[[Any], Any]) -> None:
    """Apply `form` to every value at `segments` under `value`, in place."""
    head, rest = segments[0], segments[1:]
    if head == "[]":
        if isinstance(value, list):
            for i, item in enumerate(value):
                if rest:
                    _rewrite(item, rest, form)
                else:
                    value[i] = form(item)
        return
    if not isinstance(value, dict):
        return
    keys = list(value) if head == "{}" else [head] if head in value else []
    for key in keys:
        if rest:
            _rewrite(value[key], rest, form)
        else:
            value[key] = form(value[key])


# Go's encoding/json writes a float64 without a fraction as an integer below
# 1e21, and with an exponent (1e+21) from there, which Python reads as a float.
_WHOLE_BELOW = 1e21


def _whole_floats(value: Any) -> Any:
    if isinstance(value, dict):
        for key, child in value.items():
            value[key] = _whole_floats(child)
    elif isinstance(value, list):
        for i, child in enumerate(value):
            value[i] = _whole_floats(child)
    elif isinstance(value, float) and value.is_integer() and abs(value) < _WHOLE_BELOW:
        return int(value)
    return value


def _fold_string_data(obj: dict[str, Any]) -> None:
    """Write a Secret's stringData into data, base64-encoded, as the API server
    does on every write: a render says `stringData.password`, the cluster
    says `data.password`, and both must name the same field."""
    if obj.get("apiVersion") != "v1" or obj.get("kind") != "Secret":
        return
    string_data = obj.pop("stringData", None)
    if not isinstance(string_data, dict):
        if string_data is not None:
            obj["stringData"] = string_data  # malformed: leave it for the server to refuse
        return
    found = obj.get("data")
    data: dict[str, Any] = found if isinstance(found, dict) else {}
    for name, value in string_data.items():
        data[name] = base64.b64encode(str(value).encode()).decode()
    obj["data"] = data


def _drop_empty_metadata(value: Any) -> None:
    """Drop empty labels/annotations and `creationTimestamp: null` in every
    metadata, including pod templates: serializers of the Go types write
    `creationTimestamp: null` into templates and an empty map is the same as
    none, so both would otherwise show as changes nobody made."""
    if isinstance(value, dict):
        meta = value.get("metadata")
        if isinstance(meta, dict):
            if "creationTimestamp" in meta and meta["creationTimestamp"] is None:
                del meta["creationTimestamp"]
            for name in ("labels", "annotations"):
                if name in meta and not meta[name]:
                    del meta[name]
        for child in value.values():
            _drop_empty_metadata(child)
    elif isinstance(value, list):
        for child in value:
            _drop_empty_metadata(child)
