"""Typed reads from composed YAML nodes, with errors that point at the line.

Owns: composing a small YAML document safely (size cap; anchors, aliases
and deep nesting refused before the composer sees them), and reading its
nodes as mappings (duplicate keys refused, unknown keys answered with "did
you mean"), strings and integers, every error as
`{file}:{line}: {dotted.key}: {what}`. Refuses: constructing Python objects
by tag; a value is read only as the type the caller asks for.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass

import yaml
from yaml.constructor import SafeConstructor

from gitops_bot.errors import ConfigError

STR = "tag:yaml.org,2002:str"
INT = "tag:yaml.org,2002:int"
MAP = "tag:yaml.org,2002:map"
SEQ = "tag:yaml.org,2002:seq"
WHAT = {
    STR: "a string",
    INT: "an integer",
    MAP: "a mapping",
    SEQ: "a list",
    "tag:yaml.org,2002:float": "a number",
    "tag:yaml.org,2002:bool": "a boolean",
    "tag:yaml.org,2002:null": "null",
    "tag:yaml.org,2002:timestamp": "a date",
    "tag:yaml.org,2002:binary": "binary data",
    "tag:yaml.org,2002:set": "a set",
    "tag:yaml.org,2002:omap": "an ordered mapping",
    "tag:yaml.org,2002:pairs": "a list of pairs",
    "tag:yaml.org,2002:merge": "a merge key",
}


def what(node: yaml.Node) -> str:
    return WHAT.get(node.tag, f"a value tagged {node.tag!r}")


def line_of(node: yaml.Node | yaml.Event) -> int:
    mark = node.start_mark
    return int(mark.line) + 1 if mark is not None else 1


_PLAIN_KEY = re.compile(r"[A-Za-z0-9_<>-]+")


def subkey(key: str, name: str) -> str:
    """The dotted path of `name` inside `key`; odd names are quoted so that the
    message stays one readable line."""
    part = name if _PLAIN_KEY.fullmatch(name) else repr(name)
    return f"{key}.{part}" if key else part


def suggest(word: str, choices: Iterable[str], *, known: str) -> str:
    choices = list(choices)
    close = difflib.get_close_matches(word, choices, n=1)
    if close:
        return f" (did you mean {close[0]!r}?)"
    return f" ({known}: {', '.join(choices)})"


@dataclass(frozen=True)
class Reader:
    """Typed reads from the composed YAML nodes, with errors that point at them."""

    file: str
    max_bytes: int
    max_depth: int
    empty: str  # what the message says an empty file lacks

    def error(self, line: int, key: str, what: str) -> ConfigError:
        return ConfigError(f"{self.file}:{line}: {key + ': ' if key else ''}{what}")

    def compose(self, text: str) -> yaml.Node:
        size = len(text.encode("utf-8", "surrogatepass"))
        if size > self.max_bytes:
            raise self.error(
                1,
                "",
                f"the file has {size} bytes; a configuration may have at most "
                f"{self.max_bytes // 1024} KiB",
            )
        try:
            # A first pass over the events refuses what the composer would
            # silently expand (aliases) or recurse on without bound (nesting).
            depth = 0
            for event in yaml.parse(text, Loader=yaml.SafeLoader):
                anchor = getattr(event, "anchor", None)
                if anchor is not None:
                    sign = "*" if isinstance(event, yaml.AliasEvent) else "&"
                    raise self.error(
                        line_of(event),
                        "",
                        f"YAML anchors and aliases are not allowed here ({sign}{anchor}); "
                        "write the values out",
                    )
                if isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
                    depth += 1
                    if depth > self.max_depth:
                        raise self.error(
                            line_of(event), "", f"nested deeper than {self.max_depth} levels"
                        )
                elif isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
                    depth -= 1
            node = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.MarkedYAMLError as err:
            mark = err.problem_mark or err.context_mark
            problem = "; ".join(p for p in (err.context, err.problem) if p)
            line = mark.line + 1 if mark else 1
            raise self.error(line, "", f"not valid YAML: {problem}") from err
        except yaml.reader.ReaderError as err:
            line = text.count("\n", 0, err.position) + 1
            raise self.error(line, "", f"not valid YAML: {err.reason}") from err
        if node is None:
            raise self.error(1, "", f"the file is empty; it needs {self.empty}")
        return node

    def mapping(
        self, node: yaml.Node, key: str, *, hint: str = ""
    ) -> dict[str, tuple[yaml.Node, int]]:
        """Key -> (value node, line of the key), in file order; duplicates refused."""
        if not isinstance(node, yaml.MappingNode) or node.tag != MAP:
            where = "" if key else " at the top level"
            hint = hint if node.tag == STR else ""
            raise self.error(
                line_of(node), key, f"expected a mapping{where}, got {what(node)}{hint}"
            )
        entries: dict[str, tuple[yaml.Node, int]] = {}
        for key_node, value_node in node.value:
            line = line_of(key_node)
            if not isinstance(key_node, yaml.ScalarNode):
                raise self.error(line, key, f"expected a string as key, got {what(key_node)}")
            if key_node.tag != STR:
                raise self.error(
                    line,
                    key,
                    f"key {key_node.value!r} reads as {what(key_node)}; quote it",
                )
            name = key_node.value
            if name in entries:
                raise self.error(
                    line,
                    subkey(key, name),
                    f"duplicate key (first at line {entries[name][1]})",
                )
            entries[name] = (value_node, line)
        return entries

    def known(
        self, entries: dict[str, tuple[yaml.Node, int]], key: str, allowed: tuple[str, ...]
    ) -> None:
        for name, (_, line) in entries.items():
            if name not in allowed:
                raise self.error(
                    line,
                    subkey(key, name),
                    f"unknown key{suggest(name, allowed, known='known keys')}",
                )

    def string(self, node: yaml.Node, key: str) -> str:
        if not isinstance(node, yaml.ScalarNode) or node.tag != STR:
            raise self.error(line_of(node), key, f"expected a string, got {what(node)}")
        value = str(node.value)
        if not value.strip():
            raise self.error(line_of(node), key, "must not be empty")
        return value

    def integer(self, node: yaml.Node, key: str) -> int:
        if not isinstance(node, yaml.ScalarNode) or node.tag != INT:
            raise self.error(line_of(node), key, f"expected an integer, got {what(node)}")
        try:
            return int(SafeConstructor().construct_yaml_int(node))
        except (ValueError, IndexError) as err:  # `!!int ''`, more digits than Python takes
            raise self.error(
                line_of(node), key, f"{node.value[:20]!r} is not a usable integer"
            ) from err
