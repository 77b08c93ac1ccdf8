"""When a server-side apply provably changes nothing, so it need not be sent.

Owns: `apply_is_noop(desired, live, manager=...)`: True only when every
field the desired object sets already has that value in the live object,
and nothing our field manager owns would be removed (a field we applied
before and no longer set). Both hold, so a server-side apply by `manager`
leaves every value as it is, and a dry-run would only echo `live`.
Refuses: to be clever. Whatever it cannot check exactly (lists of other
lengths, set members, an ownership record of another API version, spellings
it does not know) answers False, and the caller asks the server.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from gitops_bot.core import normalize


def _subset(want: Any, have: Any) -> bool:
    """Every value in `want` is in `have`; `have` may hold more (defaults)."""
    if isinstance(want, Mapping):
        return isinstance(have, Mapping) and all(
            k in have and _subset(v, have[k]) for k, v in want.items()
        )
    if isinstance(want, list):
        return (
            isinstance(have, list)
            and len(want) == len(have)
            and all(_subset(w, h) for w, h in zip(want, have, strict=True))
        )
    # type() as well as ==: True == 1 and 1 == 1.0 in Python, not on the wire.
    return type(want) is type(have) and want == have


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


def apply_is_noop(desired: Mapping[str, Any], live: Mapping[str, Any], *, manager: str) -> bool:
    want, have = normalize.for_diff(desired), normalize.for_diff(live)
    if not _subset(want, have):
        return False
    for entry in (live.get("metadata") or {}).get("managedFields") or []:
        if entry.get("manager") != manager or entry.get("operation") != "Apply":
            continue
        if entry.get("subresource"):
            continue
        if entry.get("apiVersion") != desired.get("apiVersion"):
            return False  # field names may differ between versions
        if entry.get("fieldsType", "FieldsV1") != "FieldsV1":
            return False
        # Ownership is recorded for the configuration as applied (a Secret's
        # stringData too), so check it against `desired` as written.
        if not _present(entry.get("fieldsV1") or {}, normalize.plain(desired)):
            return False  # applying would remove a field we own
    return True
