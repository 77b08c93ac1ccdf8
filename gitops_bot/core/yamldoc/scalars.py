"""One scalar of a YAML document, read and rewritten in place.

Owns: key paths (`image.tag`, `containers[0].image`,
`containers[name=web].image`, `annotations."example.com/rev"`): their
parsing (`parse`, errors saying where in the path) and spelling (`spell`);
`get` and `scalar`, the value (and type) at a path, and `set`, which
replaces only that scalar's characters in the original text, so comments,
order and formatting stay as they were. The new value keeps the old
scalar's quotes, or is written plain when plain text reads back as the
same value of the same type, else double-quoted.
Refuses: adding keys (the target must already have them), values that are
mappings or lists, rewriting block scalars (`|`, `>`) or anything reached
through an anchor, alias or tag, and files of more than one document.
Errors say what is wrong at the path; the caller adds which file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import yaml

from gitops_bot.core.yamldoc import nodes
from gitops_bot.errors import ConfigError

STR = nodes.STR
_NULL = "tag:yaml.org,2002:null"


class Error(ConfigError):
    """A document cannot be read or written at a key path."""


class PathError(Error):
    """A key path is not well formed."""

    def __init__(self, path: str, what: str) -> None:
        super().__init__(f"{path!r} is not a key path: {what}")


def _char(at: int) -> str:
    return f"character {at + 1}"


@dataclass(frozen=True)
class Key:
    name: str


@dataclass(frozen=True)
class Index:
    position: int


@dataclass(frozen=True)
class Match:
    """The item of a list of mappings whose `field` is `value`."""

    field: str
    value: str


@dataclass(frozen=True)
class Every:
    """Every item of a list (`[*]`); only where the caller allows it."""


Segment = Key | Index | Match | Every
_PLAIN_KEY = re.compile(r'[^.\[\]"=]+')
_BRACKET = "expected a list index (0, 1, ...) or field=value after '['"


def parse(path: str, *, wildcard: bool = False) -> tuple[Segment, ...]:
    """The segments of `path`; PathError names the first character that is wrong.
    With `wildcard`, `[*]` stands for every item of a list."""
    if not path:
        raise PathError(path, "it is empty")
    segments: list[Segment] = []
    at = 0
    if not path.startswith("["):
        name, at = _name(path, at, '.[]"', "a key")
        segments.append(Key(name))
    while at < len(path):
        if path[at] == ".":
            name, at = _name(path, at + 1, '.[]"', "a key")
            segments.append(Key(name))
        elif path[at] == "[":
            if wildcard and path.startswith("[*]", at):
                segments.append(Every())
                at += 3
                continue
            segment, at = _bracket(path, at)
            segments.append(segment)
        else:
            raise PathError(path, f"expected '.' or '[' at {_char(at)}, got {path[at]!r}")
    return tuple(segments)


def _name(path: str, at: int, stop: str, what: str) -> tuple[str, int]:
    """A quoted or plain name starting at `at`, up to a character of `stop`,
    and where it ends."""
    if at < len(path) and path[at] == '"':
        chars: list[str] = []
        i = at + 1
        while i < len(path) and path[i] != '"':
            if path[i] == "\\":
                if i + 1 >= len(path) or path[i + 1] not in '"\\':
                    raise PathError(path, f'only \\" and \\\\ may be escaped ({_char(i)})')
                i += 1
            chars.append(path[i])
            i += 1
        if i >= len(path):
            raise PathError(path, f"the quote at {_char(at)} is not closed")
        return "".join(chars), i + 1
    end = at
    while end < len(path) and path[end] not in stop:
        end += 1
    if end == at:
        got = repr(path[at]) if at < len(path) else "the end"
        raise PathError(path, f"expected {what} at {_char(at)}, got {got}")
    name = path[at:end]
    if name != name.strip():
        raise PathError(path, f"{name!r} at {_char(at)} starts or ends with white space; quote it")
    return name, end


def _bracket(path: str, at: int) -> tuple[Segment, int]:
    close = path.find("]", at)
    inside = path[at + 1 : close] if close > 0 else path[at + 1 :]
    if inside.isdigit() and inside.isascii():
        if close < 0:
            raise PathError(path, f"expected ']' at {_char(len(path))}, got the end")
        return Index(int(inside)), close + 1
    if not inside or inside[0] in "=.[":
        raise PathError(path, f"{_BRACKET} at {_char(at)}")
    field, i = _name(path, at + 1, '.[]"=', "a field")
    if i >= len(path) or path[i] != "=":
        raise PathError(path, f"{_BRACKET} at {_char(at)}")
    value, i = _name(path, i + 1, '[]"', "a value")
    if i >= len(path) or path[i] != "]":
        got = repr(path[i]) if i < len(path) else "the end"
        raise PathError(path, f"expected ']' at {_char(i)}, got {got}")
    return Match(field, value), i + 1


def _quoted(name: str) -> str:
    if _PLAIN_KEY.fullmatch(name) and name == name.strip():
        return name
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def spell(segments: tuple[Segment, ...]) -> str:
    """`segments` as a key path that `parse` reads back."""
    out = ""
    for segment in segments:
        if isinstance(segment, Key):
            out += ("." if out else "") + _quoted(segment.name)
        elif isinstance(segment, Index):
            out += f"[{segment.position}]"
        elif isinstance(segment, Every):
            out += "[*]"
        else:
            out += f"[{_quoted(segment.field)}={_quoted(segment.value)}]"
    return out


@dataclass(frozen=True)
class Scalar:
    """The scalar at a path: its value as text, and the type YAML reads it as."""

    value: str
    tag: str
    line: int


@dataclass(frozen=True)
class _Found:
    node: yaml.ScalarNode
    flow: bool  # inside [...] or {...}
    path: tuple[yaml.Node, ...]  # the nodes walked through, the scalar last


def scalar(text: str, path: str) -> Scalar | None:
    """The scalar at `path` of the one document `text`; None when missing."""
    found = _find(_compose(text), parse(path), path)
    if isinstance(found, str):
        return None
    node = found.node
    return Scalar(node.value, node.tag, nodes.line_of(node))


def get(text: str, path: str) -> str | None:
    """The value of the scalar at `path` of the one document `text`; None when missing."""
    found = scalar(text, path)
    return None if found is None else found.value


def set(text: str, path: str, value: str, *, tag: str = STR) -> str:
    """`text` with the scalar at `path` replaced by `value`, which YAML reads as
    `tag` if the old scalar was plain."""
    found = _find(_compose(text), parse(path), path)
    if isinstance(found, str):
        raise Error(
            f"{found}; the target must already have the key (a promotion changes values, "
            "it does not add keys)"
        )
    node = found.node
    line = nodes.line_of(node)
    start, end = node.start_mark.index, node.end_mark.index
    # An alias is its anchor's node; rewriting it would change every alias.
    if any(text[n.start_mark.index : n.start_mark.index + 1] in ("&", "!") for n in found.path):
        raise Error(f"{path} (line {line}) uses a YAML anchor, alias or tag; write the value out")
    if node.style in ("|", ">"):
        raise Error(
            f"{path} (line {line}) is a block scalar ({node.style}); only one-line values "
            "are rewritten"
        )
    new = _written(value, tag=tag, style=node.style, flow=found.flow)
    if start == end and not text[start - 1 : start].isspace():
        new = " " + new  # an empty value right after `key:`
    result = text[:start] + new + text[end:]
    again = _find(_compose(result), parse(path), path)
    reads_back = not isinstance(again, str) and (
        again.node.value == value or tag == again.node.tag == _NULL
    )
    if not reads_back:
        raise Error(f"{path} (line {line}): writing {value!r} as {new.strip()} does not read back")
    return result


def _compose(text: str) -> yaml.Node | None:
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.composer.ComposerError as err:
        if err.context == "expected a single document in the stream" and err.problem_mark:
            raise Error(
                f"holds more than one YAML document (another starts at line "
                f"{err.problem_mark.line + 1}); keys are copied in files of one document"
            ) from err
        raise _invalid(err) from err
    except yaml.MarkedYAMLError as err:
        raise _invalid(err) from err
    except yaml.reader.ReaderError as err:
        line = text.count("\n", 0, err.position) + 1
        raise Error(f"not valid YAML at line {line}: {err.reason}") from err
    except RecursionError as err:
        raise Error("nested too deeply to read") from err


def _invalid(err: yaml.MarkedYAMLError) -> Error:
    mark = err.problem_mark or err.context_mark
    problem = "; ".join(p for p in (err.context, err.problem) if p)
    return Error(f"not valid YAML at line {mark.line + 1 if mark else 1}: {problem}")


def _find(root: yaml.Node | None, segments: tuple[Segment, ...], path: str) -> _Found | str:
    """The scalar at `segments`, or why it is missing; Error if it is not a scalar."""
    if root is None:
        return "the file is empty"
    node, flow, walked = root, False, [root]
    for i, segment in enumerate(segments):
        here = spell(segments[:i]) or "the top level"
        child: yaml.Node | str
        if isinstance(segment, Key):
            child = _key(node, segment.name, here)
        elif isinstance(segment, Index):
            child = _item(node, segment.position, here)
        elif isinstance(segment, Match):
            child = _match(node, segment, here)
        else:
            raise Error(f"{path}: [*] names no one scalar")
        if isinstance(child, str):
            return child
        flow = bool(getattr(node, "flow_style", False))
        node = child
        walked.append(node)
    if not isinstance(node, yaml.ScalarNode):
        raise Error(
            f"{path} is {nodes.what(node)} (line {nodes.line_of(node)}), not a "
            "scalar; only scalars are copied"
        )
    return _Found(node, flow, tuple(walked))


def _key(node: yaml.Node, name: str, here: str) -> yaml.Node | str:
    if not isinstance(node, yaml.MappingNode):
        return f"{here} is {nodes.what(node)} (line {nodes.line_of(node)}), not a mapping"
    hits = [(k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == name]
    if len(hits) > 1:
        lines = " and ".join(str(nodes.line_of(k)) for k, _ in hits)
        raise Error(f"{here} has the key {name!r} more than once (lines {lines})")
    if not hits:
        return f"no key {name!r} in {here} (line {nodes.line_of(node)})"
    value: yaml.Node = hits[0][1]
    return value


def _item(node: yaml.Node, position: int, here: str) -> yaml.Node | str:
    if not isinstance(node, yaml.SequenceNode):
        return f"{here} is {nodes.what(node)} (line {nodes.line_of(node)}), not a list"
    if position >= len(node.value):
        return f"{here} (line {nodes.line_of(node)}) has {len(node.value)} items, no [{position}]"
    item: yaml.Node = node.value[position]
    return item


def _match(node: yaml.Node, match: Match, here: str) -> yaml.Node | str:
    if not isinstance(node, yaml.SequenceNode):
        return f"{here} is {nodes.what(node)} (line {nodes.line_of(node)}), not a list"
    wanted = f"{_quoted(match.field)}={_quoted(match.value)}"
    hits = [
        item
        for item in node.value
        if isinstance(item, yaml.MappingNode)
        and any(
            isinstance(k, yaml.ScalarNode)
            and k.value == match.field
            and isinstance(v, yaml.ScalarNode)
            and v.value == match.value
            for k, v in item.value
        )
    ]
    if len(hits) > 1:
        lines = " and ".join(str(nodes.line_of(item)) for item in hits)
        raise Error(f"{here} has more than one item with {wanted} (lines {lines})")
    if not hits:
        return f"no item of {here} (line {nodes.line_of(node)}) has {wanted}"
    found: yaml.Node = hits[0]
    return found


# What PyYAML reads as printable (yaml.reader.Reader.NON_PRINTABLE), less the
# breaks that a one-line scalar must escape.
_PRINTABLE = re.compile(
    "[\x09\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]"
)
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t", "\0": "\\0"}


def _written(value: str, *, tag: str, style: str | None, flow: bool) -> str:
    """`value` as the text of a one-line scalar."""
    if style == "'" and all(_PRINTABLE.fullmatch(c) for c in value):
        return "'" + value.replace("'", "''") + "'"
    if style is None:
        plain = "null" if value == "" and tag == _NULL else value
        if _plain(plain, value=value, tag=tag, flow=flow):
            return plain
    return '"' + "".join(_escaped(c) for c in value) + '"'


def _plain(text: str, *, value: str, tag: str, flow: bool) -> bool:
    """Whether `text`, written plain (inside [...] or {...} if `flow`), reads
    back as `value` of type `tag`."""
    try:
        node = yaml.compose(f"[{text}]" if flow else text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return False
    if flow:
        if not isinstance(node, yaml.SequenceNode) or len(node.value) != 1:
            return False
        node = node.value[0]
    return (
        isinstance(node, yaml.ScalarNode)
        and node.style is None
        and node.tag == tag
        and (node.value == value or tag == _NULL)
        and node.end_mark.index - node.start_mark.index == len(text)
    )


def _escaped(char: str) -> str:
    if char in _ESCAPES:
        return _ESCAPES[char]
    if _PRINTABLE.fullmatch(char):
        return char
    code = ord(char)
    return (
        f"\\x{code:02x}"
        if code < 0x100
        else f"\\u{code:04x}"
        if code < 0x10000
        else f"\\U{code:08x}"
    )
