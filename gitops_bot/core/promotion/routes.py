"""The `promotion` list of `.gitops.yaml`: schema, parsing and validation.

Owns: the promotion rule value (`Rule`), its keys (`KEYS`, relative to
`promotion`; core.repo.config lists them under that prefix), `parse`, which reads
the list and checks it against the environments (both ends exist, a rule
does not promote an environment to itself, one rule per target, no cycle,
copy paths relative and templated with `{env}`, each at most once, key paths
well formed), raising ConfigError as `{file}:{line}: {dotted.key}: {what}`,
and `parse_duration` for `soak`. An item of `copy` is a path (the whole
file) or `{file: <path>, keys: [<key path>, ...]}` (only those scalars, see
core.yamldoc.scalars); `Copy` holds either.
Refuses: deciding what a promotion changes (core.promotion.change does) and
reading files (the caller brings the composed nodes).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import yaml

from gitops_bot.core.yamldoc import nodes, scalars

# Relative to `promotion`; `[]` is an item of the list.
KEYS: tuple[str, ...] = (
    "[].from",
    "[].to",
    "[].copy",
    "[].soak",
    "[].auto_open",
    "[].auto_merge",
)
_RULE_KEYS = tuple(k.removeprefix("[].") for k in KEYS)
# The keys of a `copy` item. Not in KEYS: the reference table in
# docs/configuration.md has one row per key of KEYS and its test sets each
# row's example as a key of a rule; the item form is described in prose there.
_COPY_KEYS = ("file", "keys")
_REQUIRED = ("from", "to", "copy")
PLACEHOLDER = "{env}"
_DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
_BOOL = "tag:yaml.org,2002:bool"


@dataclass(frozen=True)
class Copy:
    """What a rule copies from one file: the whole file when `keys` is empty,
    else only the scalars at these key paths (core.yamldoc.scalars)."""

    path: str  # repository-relative, with `{env}`
    keys: tuple[str, ...] = ()

    def at(self, env: str) -> str:
        return self.path.replace(PLACEHOLDER, env)


@dataclass(frozen=True)
class Rule:
    """Promote `source`'s state to `target` by copying each item of `copy`
    from its path with `{env}` spelled as `source` onto the same path spelled
    as `target`. A plain string in `copy` is read as `Copy(path)` (the whole
    file), so that rules written by hand stay short."""

    source: str  # `from`
    target: str  # `to`
    copy: tuple[Copy, ...]
    soak: timedelta = timedelta(0)  # how long `source` must stay healthy first
    auto_open: bool = False
    auto_merge: bool = False
    line: int = 0

    def __post_init__(self) -> None:
        items = tuple(Copy(c) if isinstance(c, str) else c for c in self.copy)
        object.__setattr__(self, "copy", items)

    def paths(self, env: str) -> tuple[str, ...]:
        """The copied files' paths as `env` spells them."""
        return tuple(c.at(env) for c in self.copy)


def parse_duration(text: str) -> timedelta | None:
    """`30m`, `1h30m`, `2d`, `90s`: a duration; None if `text` is not one."""
    match = _DURATION.fullmatch(text.strip())
    if not text.strip() or match is None:
        return None
    days, hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
    return timedelta(days=days, hours=hours, minutes=minutes, seconds=seconds)


def _boolean(r: nodes.Reader, node: yaml.Node, key: str) -> bool:
    if not isinstance(node, yaml.ScalarNode) or node.tag != _BOOL:
        raise r.error(nodes.line_of(node), key, f"expected true or false, got {nodes.what(node)}")
    return node.value.lower() in ("true", "yes", "on")


def _env(r: nodes.Reader, node: yaml.Node, key: str, envs: tuple[str, ...]) -> str:
    name = r.string(node, key)
    if name not in envs:
        raise r.error(
            nodes.line_of(node),
            key,
            f"no environment {name!r}{nodes.suggest(name, envs, known='environments')}",
        )
    return name


def _copy(
    r: nodes.Reader, node: yaml.Node, key: str, path: Callable[[yaml.Node, str], str]
) -> tuple[Copy, ...]:
    if not isinstance(node, yaml.SequenceNode) or node.tag != nodes.SEQ:
        hint = " (write a list: [deploy/{env}/version.yaml])" if node.tag == nodes.STR else ""
        raise r.error(nodes.line_of(node), key, f"expected a list, got {nodes.what(node)}{hint}")
    if not node.value:
        raise r.error(nodes.line_of(node), key, "no path; at least one is needed")
    items: list[Copy] = []
    for i, item in enumerate(node.value):
        at = f"{key}[{i}]"
        if isinstance(item, yaml.MappingNode):
            copy = _keys_item(r, item, at, path)
        elif isinstance(item, yaml.ScalarNode) and item.tag == nodes.STR:
            copy = Copy(_templated(r, item, at, path))
        else:
            raise r.error(
                nodes.line_of(item),
                at,
                f"expected a path or {{file: <path>, keys: [...]}}, got {nodes.what(item)}",
            )
        for j, earlier in enumerate(items):
            if earlier.path == copy.path:
                raise r.error(
                    nodes.line_of(item),
                    at,
                    f"{copy.path!r} is already copied by {key}[{j}]; name each file once",
                )
        items.append(copy)
    return tuple(items)


def _templated(
    r: nodes.Reader, node: yaml.Node, key: str, path: Callable[[yaml.Node, str], str]
) -> str:
    normal = path(node, key)
    if PLACEHOLDER not in normal:
        raise r.error(
            nodes.line_of(node),
            key,
            f"{normal!r} has no {PLACEHOLDER}; a promoted path names each environment's "
            f"copy, e.g. deploy/overlays/{PLACEHOLDER}/version.yaml",
        )
    return normal


def _keys_item(
    r: nodes.Reader, node: yaml.Node, key: str, path: Callable[[yaml.Node, str], str]
) -> Copy:
    entries = r.mapping(node, key)
    r.known(entries, key, _COPY_KEYS)
    for required in _COPY_KEYS:
        if required not in entries:
            raise r.error(nodes.line_of(node), key, f"missing required key {required!r}")
    file = _templated(r, entries["file"][0], f"{key}.file", path)
    keys_node = entries["keys"][0]
    at = f"{key}.keys"
    if not isinstance(keys_node, yaml.SequenceNode) or keys_node.tag != nodes.SEQ:
        hint = " (write a list: [image.tag])" if keys_node.tag == nodes.STR else ""
        raise r.error(
            nodes.line_of(keys_node),
            at,
            f"expected a list, got {nodes.what(keys_node)}{hint}",
        )
    if not keys_node.value:
        raise r.error(
            nodes.line_of(keys_node),
            at,
            "no key path; at least one is needed (to copy the whole file, write its path "
            "as an item of copy)",
        )
    keys: list[str] = []
    for j, item in enumerate(keys_node.value):
        text = r.string(item, f"{at}[{j}]")
        try:
            scalars.parse(text)
        except scalars.PathError as err:
            raise r.error(nodes.line_of(item), f"{at}[{j}]", str(err)) from err
        if text in keys:
            raise r.error(nodes.line_of(item), f"{at}[{j}]", f"{text!r} is listed twice")
        keys.append(text)
    return Copy(file, tuple(keys))


def _rule(
    r: nodes.Reader,
    node: yaml.Node,
    key: str,
    *,
    envs: tuple[str, ...],
    path: Callable[[yaml.Node, str], str],
) -> Rule:
    entries = r.mapping(node, key)
    r.known(entries, key, _RULE_KEYS)
    for required in _REQUIRED:
        if required not in entries:
            raise r.error(nodes.line_of(node), key, f"missing required key {required!r}")
    source = _env(r, entries["from"][0], f"{key}.from", envs)
    target = _env(r, entries["to"][0], f"{key}.to", envs)
    if source == target:
        raise r.error(entries["to"][1], f"{key}.to", f"promotes {source!r} to itself")
    soak = timedelta(0)
    if "soak" in entries:
        soak_node = entries["soak"][0]
        text = r.string(soak_node, f"{key}.soak")
        parsed = parse_duration(text)
        if parsed is None:
            raise r.error(
                nodes.line_of(soak_node),
                f"{key}.soak",
                f"{text!r} is not a duration; write e.g. 30m, 1h30m, 2d or 90s",
            )
        soak = parsed
    flags = {
        name: _boolean(r, entries[name][0], f"{key}.{name}") if name in entries else False
        for name in ("auto_open", "auto_merge")
    }
    return Rule(
        source=source,
        target=target,
        copy=_copy(r, entries["copy"][0], f"{key}.copy", path),
        soak=soak,
        auto_open=flags["auto_open"],
        auto_merge=flags["auto_merge"],
        line=nodes.line_of(node),
    )


def parse(
    r: nodes.Reader,
    node: yaml.Node,
    key: str,
    *,
    envs: tuple[str, ...],
    path: Callable[[yaml.Node, str], str],
) -> tuple[Rule, ...]:
    """The rules at `node` (the value of `key`) between the environments `envs`;
    `path` reads and normalizes a repository path."""
    if not isinstance(node, yaml.SequenceNode) or node.tag != nodes.SEQ:
        raise r.error(nodes.line_of(node), key, f"expected a list, got {nodes.what(node)}")
    rules: list[Rule] = []
    for i, item in enumerate(node.value):
        at = f"{key}[{i}]"
        rule = _rule(r, item, at, envs=envs, path=path)
        for earlier in rules:
            if earlier.target == rule.target:
                raise r.error(
                    rule.line,
                    f"{at}.to",
                    f"{rule.target!r} is already promoted to from {earlier.source!r} "
                    f"(line {earlier.line}); an environment has one source",
                )
        rules.append(rule)
    _refuse_cycles(r, key, tuple(rules))
    return tuple(rules)


def _refuse_cycles(r: nodes.Reader, key: str, rules: tuple[Rule, ...]) -> None:
    source_of = {rule.target: rule for rule in rules}  # one source per target (checked)
    for start in rules:
        seen = [start.target]
        current: Rule | None = start
        while current is not None:
            if current.source in seen:
                loop = seen[seen.index(current.source) :]
                chain = " -> ".join([current.source, *reversed(loop)])
                raise r.error(start.line, key, f"promotions form a cycle: {chain}")
            seen.append(current.source)
            current = source_of.get(current.source)


def rule_to(rules: tuple[Rule, ...], target: str) -> Rule | None:
    """The rule that promotes into `target`, if any."""
    return next((rule for rule in rules if rule.target == target), None)
