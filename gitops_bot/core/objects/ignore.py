"""Fields the cluster owns: declared by the user, never applied, never drift.

Owns: the field paths of the annotation `gitops-bot.io/ignore-fields` on a
manifest and of an environment's `ignore_fields` rules in `.gitops.yaml`
(`Field`, `Rule`, `fields_for`, errors naming the object and the
annotation); `strip`, the object without those fields (what the puller
applies, and both sides of every comparison: live plan, drift, no-op
proof); and `handover`, the part of a live object the puller's own
manager still owns among those fields, to be applied once under another
field manager so that dropping them from our apply releases them without
the server removing them (server-side apply deletes a field that its last
owner stops applying: `replicas` would fall back to 1).

A path is a key path as in promotions (docs/configuration.md): keys joined
by `.`, `[N]` an item by position, `[field=value]` the item whose field has
that value, `"..."` for a key with dots or brackets, and `[*]` every item
of a list: `spec.replicas`, `webhooks[*].clientConfig.caBundle`,
`spec.template.spec.containers[name=web].resources`,
`metadata.annotations."example.com/injected"`.
Refuses: paths that name what identifies the object or its ApplySet
membership (apiVersion, kind, metadata.name, metadata.namespace, the whole
metadata or labels, the ApplySet's part-of label).
"""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from gitops_bot.core.objects.model import Key, Manifest, Render
from gitops_bot.core.policy import rules as policy_config
from gitops_bot.core.policy.rules import KindMatch
from gitops_bot.core.yamldoc import nodes, scalars
from gitops_bot.errors import ConfigError

ANNOTATION = "gitops-bot.io/ignore-fields"
_PART_OF = "applyset.kubernetes.io/part-of"
_K = scalars


def handover_manager(manager: str) -> str:
    """The field manager that keeps ignored fields the puller used to own."""
    return f"{manager}-ignored"


@dataclass(frozen=True)
class Field:
    text: str  # as the user wrote it
    segments: tuple[scalars.Segment, ...]


_PROTECTED = (
    ("apiVersion",),
    ("kind",),
    ("metadata",),
    ("metadata", "name"),
    ("metadata", "namespace"),
    ("metadata", "labels"),
    ("metadata", "labels", _PART_OF),
)


def parse_field(text: str) -> Field:
    """One field path; ConfigError (a yamlkeys.PathError) saying what is wrong."""
    segments = scalars.parse(text.strip(), wildcard=True)
    keys = tuple(s.name if isinstance(s, _K.Key) else None for s in segments)
    if keys in _PROTECTED:
        raise scalars.PathError(
            text, "it names what identifies the object or its ApplySet; it cannot be ignored"
        )
    return Field(text.strip(), segments)


def parse_fields(text: str) -> tuple[Field, ...]:
    """A comma-separated list of field paths (the annotation's value)."""
    out = []
    for part in _split(text):
        out.append(parse_field(part))
    if not out:
        raise ConfigError("it lists no field")
    return tuple(out)


def _split(text: str) -> list[str]:
    """Split on commas outside double quotes."""
    parts, current, quoted, escaped = [], "", False, False
    for char in text:
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == "," and not quoted:
            parts.append(current)
            current = ""
            continue
        current += char
    parts.append(current)
    return [p.strip() for p in parts if p.strip()]


@dataclass(frozen=True)
class Rule:
    """An environment's `ignore_fields` item: these fields of the objects it matches."""

    kinds: tuple[KindMatch, ...]
    fields: tuple[Field, ...]
    names: tuple[str, ...] = ()  # empty: any name
    namespaces: tuple[str, ...] = ()  # empty: any namespace
    line: int = 0

    def matches(self, key: Key) -> bool:
        return (
            any(k.matches(key) for k in self.kinds)
            and (not self.names or key.name in self.names)
            and (not self.namespaces or key.namespace in self.namespaces)
        )


# Relative to environments.<name>.ignore_fields; `[]` is an item of the list.
KEYS: tuple[str, ...] = ("[].kinds", "[].names", "[].namespaces", "[].fields")
_RULE_KEYS = tuple(k.removeprefix("[].") for k in KEYS)


def parse_rules(r: nodes.Reader, node: yaml.Node, key: str) -> tuple[Rule, ...]:
    """An environment's `ignore_fields` list; ConfigError naming file, line and key."""
    if not isinstance(node, yaml.SequenceNode) or node.tag != nodes.SEQ:
        raise r.error(nodes.line_of(node), key, f"expected a list, got {nodes.what(node)}")
    return tuple(_rule(r, item, f"{key}[{i}]") for i, item in enumerate(node.value))


def _rule(r: nodes.Reader, node: yaml.Node, key: str) -> Rule:
    entries = r.mapping(node, key)
    r.known(entries, key, _RULE_KEYS)
    for required in ("kinds", "fields"):
        if required not in entries:
            raise r.error(nodes.line_of(node), key, f"missing required key {required!r}")
    kinds = []
    for i, (text, line) in enumerate(
        policy_config._strings(r, entries["kinds"][0], f"{key}.kinds")
    ):
        match = policy_config._kind(text)
        if match is None:
            raise r.error(
                line,
                f"{key}.kinds[{i}]",
                f"{text!r} is not a kind; write Kind, group/Kind or Kind.group, "
                "e.g. apps/Deployment",
            )
        kinds.append(match)
    fields = []
    for i, (text, line) in enumerate(
        policy_config._strings(r, entries["fields"][0], f"{key}.fields")
    ):
        try:
            fields.append(parse_field(text))
        except ConfigError as err:
            raise r.error(line, f"{key}.fields[{i}]", str(err)) from err
    for name, found in (("kinds", kinds), ("fields", fields)):
        if not found:
            raise r.error(
                entries[name][1], f"{key}.{name}", f"no {name[:-1]}; at least one is needed"
            )
    optional = {
        name: tuple(
            text for text, _ in policy_config._strings(r, entries[name][0], f"{key}.{name}")
        )
        for name in ("names", "namespaces")
        if name in entries
    }
    return Rule(
        kinds=tuple(kinds),
        fields=tuple(fields),
        names=optional.get("names", ()),
        namespaces=optional.get("namespaces", ()),
        line=nodes.line_of(node),
    )


def fields_for(obj: Mapping[str, Any], rules: Iterable[Rule], *, where: str) -> tuple[Field, ...]:
    """The fields ignored on `obj`: its annotation's, then the matching rules'.

    ConfigError names `where` (the object and its origin) and the annotation.
    """
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    found: list[Field] = []
    if ANNOTATION in annotations:
        value = annotations[ANNOTATION]
        try:
            if not isinstance(value, str):
                raise ConfigError(f"expected a string, got {type(value).__name__}")
            found += parse_fields(value)
        except ConfigError as err:
            raise ConfigError(f"{where}: annotation {ANNOTATION}: {err}") from err
    key = Key.of(obj)
    for rule in rules:
        if rule.matches(key):
            found += rule.fields
    return tuple(dict.fromkeys(found))


# -- where a path leads --------------------------------------------------------


def _text(value: Any) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    return None


def _item_matches(segment: scalars.Segment, index: int, item: Any) -> bool:
    if isinstance(segment, _K.Every):
        return True
    if isinstance(segment, _K.Index):
        return index == segment.position
    if isinstance(segment, _K.Match):
        return isinstance(item, Mapping) and _text(item.get(segment.field)) == segment.value
    return False


def _strip(node: Any, segments: Sequence[scalars.Segment]) -> tuple[Any, bool]:
    """`node` without what `segments` name; and whether anything was removed."""
    segment, rest = segments[0], segments[1:]
    if isinstance(segment, _K.Key):
        if not isinstance(node, Mapping) or segment.name not in node:
            return node, False
        if not rest:
            return {k: v for k, v in node.items() if k != segment.name}, True
        child, removed = _strip(node[segment.name], rest)
        if not removed:
            return node, False
        out = dict(node)
        if isinstance(child, Mapping | list) and not child:
            del out[segment.name]  # emptied by the strip, not written empty
        else:
            out[segment.name] = child
        return out, True
    if not isinstance(node, list):
        return node, False
    items: list[Any] = []
    removed = False
    for i, item in enumerate(node):
        if not _item_matches(segment, i, item):
            items.append(item)
            continue
        if not rest:
            removed = True
            continue
        child, gone = _strip(item, rest)
        removed |= gone
        items.append(child)
    return (items, True) if removed else (node, False)


def strip(obj: Mapping[str, Any], fields: Iterable[Field]) -> dict[str, Any]:
    """`obj` without the fields; `obj` is left untouched. Only the mappings and
    lists on the way to a stripped field are copied; the rest is shared with
    `obj` (a deep copy of every object held twice what the puller's drift
    watch holds), so neither is to be changed in place afterwards."""
    out: Any = dict(obj)
    for field in fields:
        out, _ = _strip(out, field.segments)
    result: dict[str, Any] = out
    return result


# -- handing fields over --------------------------------------------------------


def _our_sets(live: Mapping[str, Any], manager: str) -> list[Mapping[str, Any]]:
    return [
        e.get("fieldsV1") or {}
        for e in (live.get("metadata") or {}).get("managedFields") or []
        if e.get("manager") == manager
        and e.get("operation") == "Apply"
        and not e.get("subresource")
        and e.get("fieldsType", "FieldsV1") == "FieldsV1"
    ]


def _item_key(entry: str) -> dict[str, Any] | None:
    if not entry.startswith("k:"):
        return None
    try:
        found = json.loads(entry[2:])
    except ValueError:
        return None
    return found if isinstance(found, dict) else None


def _kept(node: Any, owned: Mapping[str, Any], segments: Sequence[scalars.Segment]) -> Any:
    """The part of live `node` that `segments` name and the FieldsV1 set `owned`
    covers, as an apply body spells it (list items by their merge keys); None
    if there is none."""
    if not segments:
        return copy.deepcopy(node)
    segment, rest = segments[0], segments[1:]
    if isinstance(segment, _K.Key):
        child_set = owned.get(f"f:{segment.name}")
        if not isinstance(node, Mapping) or segment.name not in node or child_set is None:
            return None
        child = _kept(node[segment.name], child_set, rest)
        return None if child is None else {segment.name: child}
    if not isinstance(node, list):
        return None
    items = []
    for entry, item_set in owned.items():
        key = _item_key(entry)
        if key is None or not isinstance(item_set, Mapping):
            continue  # only items a merge key names can be handed over on their own
        for i, item in enumerate(node):
            same = isinstance(item, Mapping) and all(item.get(k) == v for k, v in key.items())
            if same and _item_matches(segment, i, item):
                child = _kept(item, item_set, rest)
                if child is not None:
                    items.append({**key, **child} if isinstance(child, Mapping) else child)
    return items or None


def _merge(a: Any, b: Any) -> Any:
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        out = dict(a)
        for k, v in b.items():
            out[k] = _merge(out[k], v) if k in out else v
        return out
    if isinstance(a, list) and isinstance(b, list):
        return [*a, *(i for i in b if i not in a)]
    return b


def handover(
    live: Mapping[str, Any], fields: Iterable[Field], *, manager: str
) -> dict[str, Any] | None:
    """An apply body with the ignored fields `manager` owns in `live`, at their
    live values; None when it owns none of them.

    Applied under `handover_manager(manager)`, it makes that manager a
    co-owner, so our next apply without them releases them and the server
    keeps their values.
    """
    body: Any = None
    for owned in _our_sets(live, manager):
        for field in fields:
            part = _kept(live, owned, field.segments)
            if part is not None:
                body = part if body is None else _merge(body, part)
    if body is None:
        return None
    meta = live.get("metadata") or {}
    ident = {k: meta[k] for k in ("name", "namespace") if k in meta}
    found: dict[str, Any] = {
        **body,
        "apiVersion": live.get("apiVersion"),
        "kind": live.get("kind"),
        "metadata": {**(body.get("metadata") or {}), **ident},
    }
    return found


def views(
    base: Render, head: Render, rules: Iterable[Rule]
) -> tuple[dict[Key, Manifest], dict[Key, Manifest]]:
    """Both renders by key, each object without the fields either side's
    annotation or `rules` ignore: what a change of them does is nothing.

    ConfigError names the object and the annotation when one is not valid.
    """
    rules = tuple(rules)
    old, new = base.by_key(), head.by_key()
    fields: dict[Key, tuple[Field, ...]] = {}
    for side in (old, new):
        for key, m in side.items():
            found = fields_for(m.obj, rules, where=f"{key} ({m.origin})")
            fields[key] = tuple(dict.fromkeys((*fields.get(key, ()), *found)))

    def stripped(side: dict[Key, Manifest]) -> dict[Key, Manifest]:
        return {
            k: dataclasses.replace(m, obj=strip(m.obj, fields[k])) if fields[k] else m
            for k, m in side.items()
        }

    return stripped(old), stripped(new)
