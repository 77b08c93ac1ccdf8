"""The plan as a JSON document for other tools: schema `gitops-bot/plan/v1`.

Owns: the document's shape, which docs/plan-output.md describes field by
field. It is stable: fields are only ever added within v1; renaming or
removing one means v2. Keys are sorted and indented by two spaces, so the
same plan always gives the same bytes. Also its reader (`parse`), the exact
inverse of `render`, for a plan made elsewhere (the puller's live plan):
every field checked for presence and type, errors saying where
(`environments[2].live[5].key.kind: expected a string, got 3`).
Refuses: anything but the values of the Plan (no formatting for people);
on input, a schema other than v1, and the derived fields (`has_changes`,
`counts`, `has_errors`: recomputed from the rest, never trusted).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

from gitops_bot.core.objects import diff, fieldpath
from gitops_bot.core.objects.model import Key, Origin, SourcePin
from gitops_bot.core.report import ACTIONS, Counts
from gitops_bot.core.report.plan import (
    Action,
    Drift,
    EnvPlan,
    Plan,
    ResourceChange,
    SecretKeys,
    Skipped,
    SourceChange,
)
from gitops_bot.errors import BotError

SCHEMA = "gitops-bot/plan/v1"


def _key(key: Key) -> dict[str, str]:
    return {"group": key.group, "kind": key.kind, "namespace": key.namespace, "name": key.name}


def _origin(origin: Origin | None) -> dict[str, Any] | None:
    if origin is None:
        return None
    return {"file": origin.file, "document": origin.document, "line": origin.line}


def _change(change: ResourceChange) -> dict[str, Any]:
    keys = change.secret_keys
    return {
        "key": _key(change.key),
        "action": change.action.value,
        "diff": change.diff,
        "secret_keys": None
        if keys is None
        else {
            "added": list(keys.added),
            "changed": list(keys.changed),
            "removed": list(keys.removed),
        },
        "origin": _origin(change.origin),
        "note": change.note,
        "renamed_from": None if change.renamed_from is None else _key(change.renamed_from),
    }


def _drift(drift: Drift) -> dict[str, Any]:
    return {
        "key": _key(drift.key),
        "path": diff.path_text(drift.path),
        "manager": drift.manager,
        "diff": drift.diff,
    }


def _env(env: EnvPlan) -> dict[str, Any]:
    counts = Counts.of(env.changes)
    return {
        "name": env.env,
        "render_hash": env.render_hash,
        "error": env.error,
        "has_changes": env.has_changes,
        "counts": {a.value: counts.get(a) for a in ACTIONS},
        "changes": [_change(c) for c in env.changes],
        "live": None if env.live is None else [_change(c) for c in env.live],
        "drift": [_drift(d) for d in env.drift] if env.drift_known else None,
        "live_missing": env.live_missing,
        "sources": [_source(c) for c in env.sources],
    }


def _pin(pin: SourcePin | None) -> dict[str, str] | None:
    if pin is None:
        return None
    return {"repository": pin.repository, "version": pin.version, "digest": pin.digest}


def _source(change: SourceChange) -> dict[str, Any]:
    return {
        "chart": change.chart,
        "name": change.name,
        "before": _pin(change.before),
        "after": _pin(change.after),
        "changed": change.changed,
    }


def document(plan: Plan) -> dict[str, Any]:
    """The document as Python values, for callers that embed it."""
    return {
        "schema": SCHEMA,
        "base": plan.base,
        "head": plan.head,
        "has_changes": plan.has_changes,
        "has_errors": plan.has_errors,
        "environments": [_env(e) for e in plan.envs],
        "skipped": [{"name": s.env, "reason": s.reason} for s in plan.skipped],
        "sandbox": plan.sandbox,
    }


def render(plan: Plan) -> str:
    """The document as text, ending in a newline."""
    return text(document(plan))


def text(doc: Any) -> str:
    """`doc` as json.dumps(indent=2, sort_keys=True, ensure_ascii=False) writes
    it, by orjson (in C): the same text for what a plan holds (strings, ints,
    booleans, null; no floats, whose spelling differs), 20 times as fast.
    What orjson refuses (an integer beyond 64 bits) goes the json way.
    Imported here: 2.3 MiB the puller only needs once it serves a plan."""
    import orjson  # noqa: PLC0415

    try:
        return orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode() + "\n"
    except orjson.JSONEncodeError:
        return json.dumps(doc, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


# Reading: the inverse of `document`.

T = TypeVar("T")
_SHOWN = 40  # characters of a string an error quotes; longer ones are counted


class DocumentError(BotError, ValueError):
    """A document that is not a plan `render` writes: says where, quoting little."""


def _what(value: object) -> str:
    """The value, when short, else its kind: errors never echo large values."""
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, int) and value.bit_length() > 128:
        return "a number"  # and never one Python refuses to write (past 4,300 digits)
    if isinstance(value, int | float):
        shown = json.dumps(value)
        return shown if len(shown) <= _SHOWN else "a number"
    if isinstance(value, str):
        return (
            json.dumps(value) if len(value) <= _SHOWN else f"a string of {len(value):,} characters"
        )
    if isinstance(value, list):
        return f"a list of {len(value):,} item{'' if len(value) == 1 else 's'}"
    return "an object"


def _fail(where: str, what: str) -> NoReturn:
    raise DocumentError(f"{where or 'the document'}: {what}")


def _fields(value: object, where: str, names: tuple[str, ...]) -> dict[str, Any]:
    """`value` as an object with at least `names`; fields added later within v1 are ignored."""
    if not isinstance(value, dict):
        _fail(where, f"expected an object, got {_what(value)}")
    missing = [n for n in names if n not in value]
    if missing:
        _fail(where, "missing " + ", ".join(repr(n) for n in missing))
    return value


def _string(value: object, where: str) -> str:
    if not isinstance(value, str):
        _fail(where, f"expected a string, got {_what(value)}")
    return value


def _integer(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        _fail(where, f"expected an integer, got {_what(value)}")
    return value


def _optional(read: Callable[[object, str], T], value: object, where: str) -> T | None:
    return None if value is None else read(value, where)


def _items(read: Callable[[object, str], T], value: object, where: str) -> tuple[T, ...]:
    if not isinstance(value, list):
        _fail(where, f"expected a list, got {_what(value)}")
    return tuple(read(item, f"{where}[{i}]") for i, item in enumerate(value))


def _items_of(read: Callable[[object, str], T]) -> Callable[[object, str], tuple[T, ...]]:
    return lambda value, where: _items(read, value, where)


def _read_key(value: object, where: str) -> Key:
    names = ("group", "kind", "namespace", "name")
    doc = _fields(value, where, names)
    group, kind, namespace, name = (_string(doc[n], f"{where}.{n}") for n in names)
    return Key(group=group, kind=kind, namespace=namespace, name=name)


def _read_origin(value: object, where: str) -> Origin:
    doc = _fields(value, where, ("file", "document", "line"))
    return Origin(
        file=_string(doc["file"], f"{where}.file"),
        document=_integer(doc["document"], f"{where}.document"),
        line=_optional(_integer, doc["line"], f"{where}.line"),
    )


def _read_secret_keys(value: object, where: str) -> SecretKeys:
    names = ("added", "changed", "removed")
    doc = _fields(value, where, names)
    added, changed, removed = (_items(_string, doc[n], f"{where}.{n}") for n in names)
    return SecretKeys(added=added, changed=changed, removed=removed)


_ACTIONS = {a.value: a for a in Action}


def _read_action(value: object, where: str) -> Action:
    text = _string(value, where)
    if text not in _ACTIONS:
        _fail(where, f"expected one of {', '.join(_ACTIONS)}, got {_what(text)}")
    return _ACTIONS[text]


def _read_change(value: object, where: str) -> ResourceChange:
    names = ("key", "action", "diff", "secret_keys", "origin", "note", "renamed_from")
    doc = _fields(value, where, names)
    return ResourceChange(
        key=_read_key(doc["key"], f"{where}.key"),
        action=_read_action(doc["action"], f"{where}.action"),
        diff=_string(doc["diff"], f"{where}.diff"),
        secret_keys=_optional(_read_secret_keys, doc["secret_keys"], f"{where}.secret_keys"),
        origin=_optional(_read_origin, doc["origin"], f"{where}.origin"),
        note=_string(doc["note"], f"{where}.note"),
        renamed_from=_optional(_read_key, doc["renamed_from"], f"{where}.renamed_from"),
    )


def _read_path(value: object, where: str) -> tuple[Any, ...]:
    try:
        return fieldpath.parse(_string(value, where))
    except fieldpath.PathError as err:
        raise DocumentError(f"{where}: {err}") from err


def _read_drift(value: object, where: str) -> Drift:
    doc = _fields(value, where, ("key", "path", "manager", "diff"))
    return Drift(
        key=_read_key(doc["key"], f"{where}.key"),
        path=_read_path(doc["path"], f"{where}.path"),
        manager=_optional(_string, doc["manager"], f"{where}.manager"),
        diff=_string(doc["diff"], f"{where}.diff"),
    )


def _read_env(value: object, where: str) -> EnvPlan:
    names = ("name", "render_hash", "error", "changes", "live", "drift", "live_missing")
    doc = _fields(value, where, names)
    env = EnvPlan(
        env=_string(doc["name"], f"{where}.name"),
        render_hash=_optional(_string, doc["render_hash"], f"{where}.render_hash"),
        changes=_items(_read_change, doc["changes"], f"{where}.changes"),
        live=_optional(_items_of(_read_change), doc["live"], f"{where}.live"),
        error=_optional(_string, doc["error"], f"{where}.error"),
        live_missing=_optional(_string, doc["live_missing"], f"{where}.live_missing"),
        # Added within v1: a document from before has none.
        sources=_items(_read_source, doc.get("sources", []), f"{where}.sources"),
    )
    # `drift` is null exactly when it is unknown (EnvPlan.drift_known, derived
    # from `live` and `error`): any other null or list is a document `render`
    # does not write, and reading it would lose or invent what the cluster holds.
    if env.drift_known and doc["drift"] is None:
        _fail(f"{where}.drift", "null, but the live cluster was compared without an error")
    if not env.drift_known and doc["drift"] is not None:
        why = "an error" if env.error is not None else "a null live"
        _fail(
            f"{where}.drift",
            f"expected null (drift is unknown with {why}), got {_what(doc['drift'])}",
        )
    if doc["drift"] is None:
        return env
    return dataclasses.replace(env, drift=_items(_read_drift, doc["drift"], f"{where}.drift"))


def _read_source(value: object, where: str) -> SourceChange:
    doc = _fields(value, where, ("chart", "name", "before", "after"))
    chart, name = _string(doc["chart"], f"{where}.chart"), _string(doc["name"], f"{where}.name")

    def pin(value: object, at: str) -> SourcePin:
        fields = _fields(value, at, ("repository", "version", "digest"))
        return SourcePin(
            chart=chart,
            name=name,
            version=_string(fields["version"], f"{at}.version"),
            repository=_string(fields["repository"], f"{at}.repository"),
            digest=_string(fields["digest"], f"{at}.digest"),
        )

    return SourceChange(
        chart,
        name,
        before=_optional(pin, doc["before"], f"{where}.before"),
        after=_optional(pin, doc["after"], f"{where}.after"),
    )


def _read_skipped(value: object, where: str) -> Skipped:
    doc = _fields(value, where, ("name", "reason"))
    return Skipped(
        env=_string(doc["name"], f"{where}.name"), reason=_string(doc["reason"], f"{where}.reason")
    )


def from_document(doc: object) -> Plan:
    """The Plan of a decoded document (`document`'s inverse); DocumentError for
    anything `document` does not make. Fields added within v1 after this
    version are ignored, so a newer writer's plan still reads."""
    top = _fields(doc, "", ("schema",))
    if top["schema"] != SCHEMA:
        _fail("schema", f"expected {json.dumps(SCHEMA)}, got {_what(top['schema'])}")
    _fields(top, "", ("base", "head", "environments", "skipped", "sandbox"))
    return Plan(
        base=_string(top["base"], "base"),
        head=_string(top["head"], "head"),
        envs=_items(_read_env, top["environments"], "environments"),
        skipped=_items(_read_skipped, top["skipped"], "skipped"),
        sandbox=_optional(_string, top["sandbox"], "sandbox"),
    )


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    for name, value in pairs:
        if name in doc:
            raise DocumentError(f"a field given twice in one object: {_what(name)}")
        doc[name] = value
    return doc


def _constant(name: str) -> NoReturn:
    raise DocumentError(f"{name} is not a JSON number")


def parse(text: str | bytes) -> Plan:
    """The Plan `render` wrote as `text`: parse(render(p)) == p. DocumentError
    for text that is not JSON, a field given twice, or any document
    `from_document` refuses."""
    try:
        doc = json.loads(text, object_pairs_hook=_unique, parse_constant=_constant)
    except DocumentError:
        raise
    except RecursionError as err:
        raise DocumentError("the plan is not JSON a plan is made of: nested too deeply") from err
    except ValueError as err:  # JSONDecodeError, and UnicodeDecodeError for bytes
        where = (
            f"line {err.lineno} column {err.colno}: {err.msg}"
            if isinstance(err, json.JSONDecodeError)
            else str(err)[:200]
        )
        raise DocumentError(f"the plan is not JSON: {where}") from err
    return from_document(doc)
