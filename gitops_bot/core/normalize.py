"""What the API server adds to an object, taken away before a diff.

Owns: `for_diff`, which reduces a rendered, live or dry-run object to the
fields a person wrote, so that two objects that differ only in bookkeeping
compare equal; and `plain`, the deep copy into plain dicts and lists that
every other core module works on.
Refuses: guessing server defaults (the live diff gets those from a
server-side dry-run on both sides, never from a table of ours), and
dropping anything that changes behaviour: ownerReferences, finalizers and
every other annotation stay.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

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
    out: dict[str, Any] = plain(obj)
    out.pop("status", None)
    meta = out.get("metadata")
    if isinstance(meta, dict):
        for name in SERVER_METADATA:
            meta.pop(name, None)
        annotations = meta.get("annotations")
        if isinstance(annotations, dict):
            for name in SERVER_ANNOTATIONS:
                annotations.pop(name, None)
    _drop_empty_metadata(out)
    _fold_string_data(out)
    return out


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
