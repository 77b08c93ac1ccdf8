"""When a server-side apply provably changes nothing, so it need not be sent.

Owns: `apply_is_noop(desired, live, manager=...)`: True only when every
field the desired object sets already has that value in the live object,
and nothing our field manager owns would be removed (a field we applied
before and no longer set). Both hold, so a server-side apply by `manager`
leaves every value as it is, and a dry-run would only echo `live`.
"That value" is the value as the server stores it (normalize.for_diff:
`cpu: 2000m` is `"2"`). A field set to a value the server drops on write
(null, false, 0, "", {} or [] where the Go type omits its zero value, like
`env: []`, `hostNetwork: false` or a template's `creationTimestamp: null`)
is absent live; it counts as unchanged only when our own Apply record still
owns that field: then our last apply wrote it and nobody changed it since.
(An empty list in a built-in kind needs no record: empty and absent are
stored alike.)
An atomic map (`nodeSelector`, per core.objects.typedfields) must hold exactly the
keys the render writes: the server replaces it whole.
Refuses: to be clever. Whatever it cannot check exactly (lists of other
lengths, set members, an ownership record of another API version, spellings
it does not know) answers False, and the caller asks the server.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from gitops_bot.core.objects import normalize


def _subset(
    want: Any, have: Any, owned: Mapping[str, Any] | None = None, *, typed: bool = False
) -> bool:
    """Every value in `want` is in `have`; `have` may hold more (defaults).

    `owned` is the part of our Apply record (FieldsV1) at this node, if any;
    `typed`: the object is a built-in kind, stored as a Go struct.
    """
    if isinstance(want, Mapping):
        return isinstance(have, Mapping) and all(
            _subset(v, have[k], _owned_child(owned, f"f:{k}"), typed=typed)
            if have.get(k) is not None
            else _dropped_by_server(v, have, k, owned, typed=typed)
            for k, v in want.items()
        )
    if isinstance(want, list):
        return (
            isinstance(have, list)
            and len(want) == len(have)
            and all(
                _subset(w, h, _owned_item(owned, w), typed=typed)
                for w, h in zip(want, have, strict=True)
            )
        )
    # type() as well as ==: True == 1 in Python, not on the wire.
    return type(want) is type(have) and want == have


def _is_zero(value: Any) -> bool:
    """A value Go's JSON encoding omits for an omitempty field (or null)."""
    if value is None or value is False:
        return True
    if type(value) in (int, float):
        return bool(value == 0)
    return isinstance(value, str | list | Mapping) and len(value) == 0


def _dropped_by_server(
    want: Any, have: Mapping[str, Any], key: str, owned: Any, *, typed: bool
) -> bool:
    """`key` is absent (or null) live: fine if we set it to null, or to a zero
    value the server dropped, and our Apply record still owns it (so nobody
    has written it since our last apply wrote it). An empty list in a
    built-in kind needs no record: a Go slice that is empty and one that is
    nil are stored alike, and the server records no field for an empty
    associative list (`env: []`)."""
    if want is None and key in have:
        return True  # null both ways
    if typed and isinstance(want, list) and not want:
        return True
    return _is_zero(want) and isinstance(owned, Mapping) and f"f:{key}" in owned


def _owned_child(owned: Mapping[str, Any] | None, entry: str) -> Mapping[str, Any] | None:
    child = owned.get(entry) if owned is not None else None
    return child if isinstance(child, Mapping) else None


def _owned_item(owned: Mapping[str, Any] | None, item: Any) -> Mapping[str, Any] | None:
    """Our record of a list item, found by its `k:` key (merge keys)."""
    if owned is None:
        return None
    for entry, child in owned.items():
        if not entry.startswith("k:") or not isinstance(child, Mapping):
            continue
        try:
            key = json.loads(entry[2:])
        except ValueError:
            continue
        if isinstance(key, dict) and _same_item(key, item):
            return child
    return None


_MISSING = object()


def _child(entry: str, obj: Any) -> Any:
    """The part of `obj` a FieldsV1 entry names, or _MISSING."""
    prefix, _, rest = entry.partition(":")
    if prefix == "f":
        return obj[rest] if isinstance(obj, Mapping) and rest in obj else _MISSING
    if prefix == "k" and isinstance(obj, list):
        try:
            item = json.loads(rest)
        except ValueError:
            return _MISSING
        if isinstance(item, dict):
            return next((i for i in obj if _same_item(item, i)), _MISSING)
    return _MISSING  # "v:" set members, "i:" positions, anything new: not sure


def _same_item(key: Mapping[str, Any], item: Any) -> bool:
    """Whether a written list item is the one a `k:` key names.

    The server keys items by their merge keys after defaulting (a Service
    port is `{"port": 80, "protocol": "TCP"}` even if only the port was
    written), so a key field the item does not write matches; one it
    writes must agree, and it must write at least one.
    """
    if not isinstance(item, Mapping):
        return False
    written = [k for k in key if k in item]
    return bool(written) and all(item[k] == key[k] for k in written)


def _present(fields: Mapping[str, Any], obj: Any) -> bool:
    """Every field of the FieldsV1 set `fields` exists in `obj`."""
    for entry, child in fields.items():
        if entry == ".":
            continue
        found = _child(entry, obj)
        if found is _MISSING:
            return False
        if isinstance(child, Mapping) and child and not _present(child, found):
            return False
    return True


def _our_record(
    live: Mapping[str, Any], manager: str, api_version: Any
) -> Mapping[str, Any] | None:
    """The fields our Apply record owns, if it was made in `api_version`."""
    for entry in _our_entries(live, manager):
        if entry.get("apiVersion") == api_version and entry.get("fieldsType", "FieldsV1") == (
            "FieldsV1"
        ):
            fields = entry.get("fieldsV1")
            return fields if isinstance(fields, Mapping) else None
    return None


def _our_entries(live: Mapping[str, Any], manager: str) -> list[Mapping[str, Any]]:
    return [
        entry
        for entry in (live.get("metadata") or {}).get("managedFields") or []
        if entry.get("manager") == manager
        and entry.get("operation") == "Apply"
        and not entry.get("subresource")
    ]


def _atomic_maps_match(want: Any, have: Any, segments: tuple[str, ...]) -> bool:
    """At every atomic map under `segments`, `have` holds the keys `want` writes
    and no others: applying replaces an atomic map whole, so a key we wrote
    before and dropped since would be removed. Lists pair up by position, as
    in _subset (which already checked their lengths)."""
    if not segments:
        if isinstance(want, Mapping) and isinstance(have, Mapping):
            return set(want) == set(have)
        return True  # not written (or not a map): _subset judged it
    head, rest = segments[0], segments[1:]
    if head == "[]":
        if isinstance(want, list) and isinstance(have, list):
            return all(_atomic_maps_match(w, h, rest) for w, h in zip(want, have, strict=False))
        return True
    if not isinstance(want, Mapping) or not isinstance(have, Mapping):
        return True
    keys = list(want) if head == "{}" else [head] if head in want else []
    return all(_atomic_maps_match(want[k], have.get(k), rest) for k in keys)


def apply_is_noop(desired: Mapping[str, Any], live: Mapping[str, Any], *, manager: str) -> bool:
    want, have = normalize.for_diff(desired), normalize.for_diff(live)
    api_version, kind = str(desired.get("apiVersion")), str(desired.get("kind"))
    owned = _our_record(live, manager, api_version)
    if not _subset(want, have, owned, typed=normalize.built_in(api_version, kind)):
        return False
    for segments, form in normalize.typed_fields(api_version, kind):
        if form == "atomic map" and not _atomic_maps_match(want, have, segments):
            return False  # applying would drop a key of a map the server replaces whole
    for entry in _our_entries(live, manager):
        if entry.get("apiVersion") != desired.get("apiVersion"):
            return False  # field names may differ between versions
        if entry.get("fieldsType", "FieldsV1") != "FieldsV1":
            return False
        # Ownership is recorded for the configuration as applied (a Secret's
        # stringData too), so check it against `desired` as written.
        if not _present(entry.get("fieldsV1") or {}, normalize.plain(desired)):
            return False  # applying would remove a field we own
    return True
