"""Differences between two versions of objects, already masked.

Owns: the structural diff of two objects (`field_changes`, with the field
paths drift is reported at, and `path_text` to show them, written by
core.objects.fieldpath), the unified diff
of their YAML (`unified`), and the classification of every object of two
renders, or of a live object and its dry-run, into create, update, delete
or unchanged (`compute`, `compare`). Every object is normalized and masked
before it is compared, so no Secret value reaches a ResourceChange.
`compute` shows a generated name whose hash changed as one rename
(core.objects.renames) and checks the environment's deadline (core.repo.bounds); a line
diff past the bounds' line cap is a summary in numbers, made in linear time.
Refuses: fetching live objects and deciding what a change means for policy.

List semantics of `field_changes`, chosen to match how server-side apply
identifies list items:
- every item a mapping with a unique "name" (containers, volumes, env):
  items are matched by name, with the segment `(("name", value),)`; if
  the items both sides share appear in a different order, the list as a
  whole is one change, since order can matter (initContainers run in order);
- every item a scalar (args, command, finalizers): atomic, the whole list
  is one change, as server-side apply treats it;
- anything else: positional, with int segments; items only one side has
  are reported against `ABSENT`.
"""

from __future__ import annotations

import collections
import dataclasses
import difflib
import enum
import functools
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from gitops_bot.core.objects import fieldpath, normalize, renames, waves
from gitops_bot.core.objects.model import Key, Manifest, Origin, canonical_json
from gitops_bot.core.repo import bounds
from gitops_bot.core.report.plan import Action, FieldPath, PathSegment, ResourceChange
from gitops_bot.core.secrets import mask


class Absent(enum.Enum):
    """The value of a field one side does not have (distinct from an explicit null)."""

    ABSENT = "absent"


ABSENT = Absent.ABSENT
Change = tuple[FieldPath, Any, Any]


def _same(a: Any, b: Any) -> bool:
    # True == 1 in Python, but `replicas: true` is not `replicas: 1` in Kubernetes.
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return bool(a == b)


def _is_list(value: Any) -> bool:
    return isinstance(value, list | tuple)


def _names(items: Sequence[Any]) -> list[Any] | None:
    """The names of a list of named mappings, or None if it is not one."""
    if not all(isinstance(i, Mapping) and "name" in i for i in items):
        return None
    names = [i["name"] for i in items]
    try:
        if len(set(names)) != len(names):
            return None
    except TypeError:  # an unhashable name cannot identify anything
        return None
    return names


def _walk(path: FieldPath, before: Any, after: Any, out: list[Change]) -> None:
    if isinstance(before, Mapping) and isinstance(after, Mapping):
        keys = {str(k): k for k in before} | {str(k): k for k in after}
        for text in sorted(keys):
            key = keys[text]
            _walk((*path, text), before.get(key, ABSENT), after.get(key, ABSENT), out)
    elif _is_list(before) and _is_list(after):
        _walk_list(path, before, after, out)
    elif before is ABSENT and after is ABSENT:
        return
    elif not _same(before, after):
        out.append((path, before, after))


def _walk_list(
    path: FieldPath, before: Sequence[Any], after: Sequence[Any], out: list[Change]
) -> None:
    if not before and not after:
        return
    old, new = _names(before), _names(after)
    if old is not None and new is not None:
        shared = set(old) & set(new)
        if [n for n in old if n in shared] != [n for n in new if n in shared]:
            out.append((path, before, after))
            return
        by_old = dict(zip(old, before, strict=True))
        by_new = dict(zip(new, after, strict=True))
        for name in [*new, *(n for n in old if n not in by_new)]:
            segment: PathSegment = (("name", name),)
            _walk((*path, segment), by_old.get(name, ABSENT), by_new.get(name, ABSENT), out)
        return
    if all(not isinstance(i, Mapping | list | tuple) for i in [*before, *after]):
        if len(before) != len(after) or not all(map(_same, before, after)):
            out.append((path, before, after))
        return
    for index in range(max(len(before), len(after))):
        old_item = before[index] if index < len(before) else ABSENT
        new_item = after[index] if index < len(after) else ABSENT
        _walk((*path, index), old_item, new_item, out)


def field_changes(before: Any, after: Any) -> tuple[Change, ...]:
    """(path, before value, after value) for every leaf that differs.

    Mapping keys are visited in sorted order and named list items in the
    after side's order (then the removed ones), so equal inputs always give
    the same sequence. A value one side lacks is `ABSENT`. Values are
    returned as given: mask the objects first if they may reach any output.
    """
    out: list[Change] = []
    _walk((), before, after, out)
    return tuple(out)


def path_text(path: FieldPath) -> str:
    """`.spec.template.spec.containers[name=web].image`; keys that are not
    identifiers are quoted: `.metadata.labels["app.kubernetes.io/name"]`.
    core.objects.fieldpath owns the form and reads it back (`parse`)."""
    return fieldpath.text(path)


# libyaml's emitter when PyYAML was built with it: the same output, several
# times faster, and YAML dumping is most of a large diff's time.
_BaseDumper: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _Dumper(_BaseDumper):  # type: ignore[valid-type,misc]
    """safe_dump with multi-line strings as literal blocks, so a changed line
    of a config file in a ConfigMap diffs as that line, not as one quoted blob."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _represent_str)

# One scalar per line, however long, so a changed field is one changed line.
_WIDTH = 1 << 30


def to_yaml(obj: Mapping[str, Any] | None) -> str:
    """The YAML every diff is made of: sorted keys, block style; "" for None."""
    if obj is None:
        return ""
    return yaml.dump(
        normalize.plain(obj),
        Dumper=_Dumper,
        sort_keys=True,
        default_flow_style=False,
        allow_unicode=True,
        width=_WIDTH,
    )


def unified(
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
    *,
    label: str,
    context: int = 3,
    max_lines: int = bounds.Bounds.max_diff_lines,
    before_label: str | None = None,
) -> str:
    """Unified diff of the two objects' YAML; "" when they are equal.

    Past `max_lines` lines (both sides together, after the lines they share
    at the start and the end), difflib's matching can take quadratic time:
    the diff is then one hunk header that says how many lines changed,
    counted in linear time."""
    fields = _fields_past_cap(before, after, max_lines)
    if fields is not None:
        return (
            f"--- {before_label or label} (before)\n+++ {label} (after)\n"
            f"@@ diff too large to show: {fields:,} fields differ "
            f"(line diffs stop at {max_lines:,} differing lines per object)\n"
        )
    old, new = to_yaml(before), to_yaml(after)
    if old == new:
        return ""
    old_lines, new_lines = old.splitlines(keepends=True), new.splitlines(keepends=True)
    del old, new
    fromfile, tofile = f"{before_label or label} (before)", f"{label} (after)"
    head, old_mid, new_mid = _trim(old_lines, new_lines)
    if len(old_mid) + len(new_mid) > max_lines:
        note = _too_large(head, old_mid, new_mid, max_lines)
        return f"--- {fromfile}\n+++ {tofile}\n{note}"
    lines = difflib.unified_diff(old_lines, new_lines, fromfile=fromfile, tofile=tofile, n=context)
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


# Past this many nodes (both sides), dumping an object to YAML costs more
# than the line diff is worth when many fields differ: PyYAML's representer
# is pure Python, about 10 µs a node (two objects of 100,000 keys: 150 s).
_DUMP_NODES = 100_000
# A differing field is two to eight lines of a diff (with its context), and
# the changes of a large object are seldom side by side: a quarter of the
# cap in differing fields is a diff past the cap, or too long to read.
_LINES_PER_FIELD = 4


def _fields_past_cap(before: Any, after: Any, max_lines: int) -> int | None:
    """How many fields differ, when the objects are large and that many
    differing fields make a diff past the line cap (or near it); None to
    diff by lines."""
    if before is None or after is None or _nodes(before) + _nodes(after) <= _DUMP_NODES:
        return None
    fields = len(field_changes(before, after))
    return fields if fields * _LINES_PER_FIELD > max_lines else None


def _nodes(value: Any, limit: int = _DUMP_NODES) -> int:
    """The mappings, lists and scalars in `value`, counted up to just past `limit`."""
    count, stack = 0, [value]
    while stack and count <= limit:
        item = stack.pop()
        count += 1
        if isinstance(item, Mapping):
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return count


def _trim(old: list[str], new: list[str]) -> tuple[int, list[str], list[str]]:
    """The count of lines both start with, and what is left of each once the
    lines both start and end with are taken off."""
    head = 0
    for a, b in zip(old, new, strict=False):
        if a != b:
            break
        head += 1
    tail = 0
    for a, b in zip(reversed(old[head:]), reversed(new[head:]), strict=False):
        if a != b:
            break
        tail += 1
    return head, old[head : len(old) - tail], new[head : len(new) - tail]


def _too_large(head: int, old: list[str], new: list[str], max_lines: int) -> str:
    """The hunk of a diff too large to compute line by line: what changed, in numbers."""
    # Lines one side has more often than the other: removed and added lines
    # as a multiset, which is what a line diff would show, give or take moves.
    old_count, new_count = collections.Counter(old), collections.Counter(new)
    removed = sum((old_count - new_count).values())
    added = sum((new_count - old_count).values())
    return (
        f"@@ -{head + 1},{len(old)} +{head + 1},{len(new)} @@ diff too large to show: "
        f"{removed:,} lines removed and {added:,} added, from line {head + 1} "
        f"(line diffs stop at {max_lines:,} differing lines per object)\n"
    )


def _identical(before: Mapping[str, Any], after: Mapping[str, Any] | None) -> bool:
    """Both sides one object, or the same JSON: unchanged whatever normalizing
    would do (it is a function of the object). Plain dicts only: canonical_json
    takes nothing else. `==` alone would take 1, 1.0 and true for the same, so
    it only rules out."""
    if after is None:
        return False
    if before is after:
        return True
    if type(before) is not dict or type(after) is not dict or before != after:
        return False  # `!=` in C is quick, and the full comparison decides the rest
    return canonical_json(before) == canonical_json(after)


def compare(
    key: Key,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
    *,
    mask_key: bytes,
    origin: Origin | None = None,
    max_lines: int = bounds.Bounds.max_diff_lines,
    renamed_from: Key | None = None,
) -> ResourceChange:
    """One object's change, normalized and masked on both sides; `before` is
    the object under `renamed_from` if its generated name changed (core.objects.renames)."""
    if before is None and after is None:
        raise ValueError(f"comparing {key}: neither side has the object")
    is_secret = key.group == "" and key.kind == "Secret"
    if renamed_from is None and before is not None and _identical(before, after):
        # Most objects of a plan: the same object on both sides (the live
        # plan's answer for an object an apply would not change), or the same
        # text at both ends of a change. Nothing to normalize or show.
        old = normalize.for_diff(before) if is_secret else None
        return ResourceChange(
            key=key,
            action=Action.UNCHANGED,
            diff="",
            secret_keys=mask.secret_keys(old, old) if is_secret else None,
            origin=origin,
        )
    old = normalize.for_diff(before) if before is not None else None
    new = normalize.for_diff(after) if after is not None else None
    # Equal objects need no YAML at all (most objects of a plan are equal, and
    # dumping them was most of a live diff's time). Compared unmasked, so two
    # different secret values whose fingerprints collide still count as a change.
    same = old is not None and new is not None and canonical_json(old) == canonical_json(new)
    text = (
        ""
        if same
        else unified(
            mask.mask_object(old, key=mask_key) if old is not None else None,
            mask.mask_object(new, key=mask_key) if new is not None else None,
            label=str(key),
            max_lines=max_lines,
            before_label=str(renamed_from) if renamed_from is not None else None,
        )
    )
    if old is None:
        action = Action.CREATE
    elif new is None:
        action = Action.DELETE
    elif renamed_from is not None:
        action = Action.UPDATE  # the name changes, whatever else does
    else:
        action = Action.UNCHANGED if same else Action.UPDATE
    return ResourceChange(
        key=key,
        action=action,
        diff=text,
        secret_keys=mask.secret_keys(old, new) if is_secret else None,
        origin=origin,
        note=_renamed_note(renamed_from) if renamed_from is not None else "",
        renamed_from=renamed_from,
    )


def compute(
    before: Mapping[Key, Manifest],
    after: Mapping[Key, Manifest],
    *,
    mask_key: bytes,
    meter: bounds.Meter | None = None,
) -> tuple[ResourceChange, ...]:
    """Every object of either side, sorted by key; `meter`'s deadline is
    checked before each object.

    A generated name whose hash changed (core.objects.renames) is one change under
    its new key, diffed against the old object, with `renamed_from`; an
    object whose change only follows such renames says so in its note."""
    meter = meter or bounds.default_meter()
    renamed = renames.pairs(before.keys() - after.keys(), after.keys() - before.keys())
    followed: dict[str, dict[str, Key]] = {}  # namespace -> old name -> new key
    for new_key, old_key in renamed.items():
        followed.setdefault(new_key.namespace, {})[old_key.name] = new_key
    keys = sorted((before.keys() | after.keys()) - set(renamed.values()))
    changes: list[ResourceChange] = []
    for key in keys:
        meter.check(functools.partial(_diffing, key, len(changes), len(keys)))
        old_key = renamed.get(key, key)
        old, new = before.get(old_key), after.get(key)
        origin = new.origin if new is not None else old.origin if old is not None else None
        change = compare(
            key,
            old.obj if old is not None else None,
            new.obj if new is not None else None,
            mask_key=mask_key,
            origin=origin,
            max_lines=meter.bounds.max_diff_lines,
            renamed_from=renamed.get(key),
        )
        if key not in renamed and change.action is Action.UPDATE and old and new:
            note = _following_note(old.obj, new.obj, followed.get(key.namespace, {}))
            change = dataclasses.replace(change, note=note) if note else change
        changes.append(change)
    return tuple(changes)


def _diffing(key: Key, done: int, total: int) -> str:
    return f"diffing {key}, after {done:,} of {total:,} objects"


def _renamed_note(old_key: Key) -> str:
    protected = waves.prune_protection(old_key, opt_in=())
    fate = (
        "the puller prunes it"
        if protected is None
        else f"the puller does not prune it unless told to: {protected}"
    )
    return (
        f"a generated name whose hash changed (kustomize generators): the old name "
        f"{old_key.name} leaves the render, and {fate}"
    )


def _following_note(
    before: Mapping[str, Any], after: Mapping[str, Any], renamed: Mapping[str, Key]
) -> str:
    """Why an object changed, when it refers to a renamed generated name
    (`renamed`: old name -> new key, in the object's namespace)."""
    used = renames.names_in(before, renamed)
    if not used:
        return ""
    new_names = {name: renamed[name].name for name in used}
    said = ", ".join(f"{renamed[n].kind} {n} to {new_names[n]}" for n in sorted(used))
    followed = renames.follow(normalize.for_diff(before), new_names)
    if canonical_json(followed) == canonical_json(normalize.for_diff(after)):
        return f"changes only by following the rename of {said}"
    return f"follows the rename of {said}, and changes otherwise too"
