"""Generated names whose hash suffix changed: one rename, not a delete and a create.

kustomize's configMapGenerator and secretGenerator (and any object it is
told to hash) name an object `<name>-<hash>`, where the hash is the first
10 characters of a hex sha256 with 0, 1, 3, a and e replaced by g, h, k, m
and t (kustomize api/hasher `encode`, copied from kubectl): 10 characters of
the alphabet `bcdfghkmt2456789`. A change of the generator's data changes
the hash, so the render drops one object and adds another; the puller
creates the new one and prunes the old one, and the objects that use it
(a Deployment's volume or envFrom) follow the new name.

Owns: `pairs` (which removed key and added key are one generated object
renamed: same group, kind, namespace and name before the suffix, and only
when exactly one removed and one added object share them) and `follow`
(an object with every old name replaced by its new one, to tell a change
that only follows a rename). Refuses: diffing (core.objects.diff) and deciding
what is pruned (the puller; core.objects.waves says what it never prunes).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from gitops_bot.core.objects.model import Key

HASH_ALPHABET = "bcdfghkmt2456789"
HASH_SUFFIX = re.compile(rf"(?P<prefix>.+)-[{HASH_ALPHABET}]{{10}}")


def generated_prefix(name: str) -> str | None:
    """`app-config` for `app-config-5f8k2m9t4h`; None if `name` has no hash suffix."""
    match = HASH_SUFFIX.fullmatch(name)
    return match["prefix"] if match else None


def pairs(removed: Iterable[Key], added: Iterable[Key]) -> dict[Key, Key]:
    """New key -> old key, for every unambiguous rename of a generated name."""

    def by_prefix(keys: Iterable[Key]) -> dict[tuple[str, str, str, str], list[Key]]:
        groups: dict[tuple[str, str, str, str], list[Key]] = defaultdict(list)
        for key in keys:
            prefix = generated_prefix(key.name)
            if prefix is not None:
                groups[(key.group, key.kind, key.namespace, prefix)].append(key)
        return groups

    old, new = by_prefix(removed), by_prefix(added)
    return {
        keys[0]: old[group][0]
        for group, keys in new.items()
        if len(keys) == 1 and len(old.get(group, ())) == 1
    }


def follow(value: Any, names: Mapping[str, str]) -> Any:
    """`value` with every string equal to a key of `names` replaced by its value."""
    if isinstance(value, str):
        return names.get(value, value)
    if isinstance(value, Mapping):
        return {k: follow(v, names) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [follow(v, names) for v in value]
    return value


def names_in(value: Any, names: Iterable[str]) -> set[str]:
    """Which of `names` occur in `value` as a whole string."""
    wanted, found = set(names), set[str]()
    stack = [value]
    while stack and wanted - found:
        item = stack.pop()
        if isinstance(item, str):
            if item in wanted:
                found.add(item)
        elif isinstance(item, Mapping):
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return found
