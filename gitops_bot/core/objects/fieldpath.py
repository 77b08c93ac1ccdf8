"""Field paths as text, and back: `.spec.template.spec.containers[name=web].image`.

Owns: the one written form of a FieldPath (`text`) and its exact inverse
(`parse`), so a drift path survives the JSON plan (core.report.json) and
reads the same in every report. The form:
- `.key` for a mapping key that is an identifier (`[A-Za-z_][A-Za-z0-9_-]*`),
  `["app.kubernetes.io/name"]` (a JSON string) for any other key;
- `[3]` for a position in a plain list (never negative);
- `[name=web]` for an item of a list of named objects, `[k=v,k=v]` when
  several fields identify it. A key that is not an identifier is a JSON
  string; a value is written bare when it is a string of `[A-Za-z0-9_.-]`
  that JSON would not read as something else (`web`, `1-data`), else as
  JSON (`"80"`, `"a,b"`, `80`, `true`, `null`), so `[name="80"]` and
  `[port=80]` stay apart and no name can end the segment early;
- `.` alone for the empty path (the whole object).
Refuses: values that are not JSON scalars in a merge key: they are written
as their string (a YAML date, say), and read back as that string.
"""

from __future__ import annotations

import json
import re
from typing import Any

from gitops_bot.core.report.plan import FieldPath, PathSegment

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_BARE_VALUE = re.compile(r"[A-Za-z0-9_.-]+")
_INDEX = re.compile(r"[0-9]+")
_BARE_TOKEN = re.compile(r"[^,\]\"=\[]+")
_DECODER = json.JSONDecoder()
_SHOWN = 40  # characters of a path an error quotes around the fault


def _reads_as_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def _key(key: str) -> str:
    return key if _IDENTIFIER.fullmatch(key) else json.dumps(key)


def _value(value: Any) -> str:
    if isinstance(value, str):
        bare = _BARE_VALUE.fullmatch(value) and not _reads_as_json(value)
        return value if bare else json.dumps(value)
    if value is None or isinstance(value, bool | int | float):
        return json.dumps(value)
    return json.dumps(str(value))


def text(path: FieldPath) -> str:
    """`.spec.template.spec.containers[name=web].image`; see the module docstring."""
    parts: list[str] = []
    for segment in path:
        if isinstance(segment, int):
            parts.append(f"[{segment}]")
        elif isinstance(segment, str):
            plain = _IDENTIFIER.fullmatch(segment)
            parts.append(f".{segment}" if plain else f"[{json.dumps(segment)}]")
        else:
            parts.append("[" + ",".join(f"{_key(k)}={_value(v)}" for k, v in segment) + "]")
    return "".join(parts) or "."


class PathError(ValueError):
    """Text that `text` does not write; says at which character, quoting little."""

    def __init__(self, source: str, at: int, what: str) -> None:
        start = max(at - _SHOWN // 2, 0)
        near = source[start : start + _SHOWN]
        dots = ("…" if start else "", "…" if start + _SHOWN < len(source) else "")
        super().__init__(f"at character {at + 1}: {what} (near {dots[0]}{near!r}{dots[1]})")
        self.at = at


class _Scanner:
    def __init__(self, source: str) -> None:
        self.source = source
        self.at = 0

    def error(self, what: str) -> PathError:
        return PathError(self.source, self.at, what)

    def peek(self) -> str:
        return self.source[self.at : self.at + 1]

    def expect(self, char: str) -> None:
        if self.peek() != char:
            found = repr(self.peek()) if self.peek() else "the end"
            raise self.error(f"expected {char!r}, found {found}")
        self.at += 1

    def match(self, pattern: re.Pattern[str]) -> str | None:
        found = pattern.match(self.source, self.at)
        if found is None:
            return None
        self.at = found.end()
        return found[0]

    def string(self) -> str:
        try:
            value, end = _DECODER.raw_decode(self.source, self.at)
        except ValueError as err:
            raise self.error("a quoted key or value that is not a JSON string") from err
        if not isinstance(value, str):  # pragma: no cover - a '"' always starts a string
            raise self.error("expected a JSON string")
        self.at = end
        return value


def _merge_value(scan: _Scanner) -> Any:
    if scan.peek() == '"':
        return scan.string()
    start = scan.at
    token = scan.match(_BARE_TOKEN)
    if token is None:
        raise scan.error("expected a value after '='")
    try:
        value = json.loads(token)
    except ValueError:
        if not _BARE_VALUE.fullmatch(token):
            scan.at = start
            what = "a bare value may only hold letters, digits, '_', '.' and '-'"
            raise scan.error(what) from None
        return token
    if isinstance(value, list | dict):  # pragma: no cover - the token excludes brackets
        raise scan.error("a merge key value must be a scalar")
    return value


def _bracket(scan: _Scanner) -> PathSegment:
    scan.expect("[")
    index = scan.match(_INDEX)
    if index is not None:
        scan.expect("]")
        return int(index)
    pairs: list[tuple[str, Any]] = []
    if scan.peek() == '"':
        key = scan.string()
        if scan.peek() == "]":
            scan.at += 1
            return key
    elif scan.peek() == "]":
        scan.at += 1
        return ()
    else:
        found = scan.match(_IDENTIFIER)
        if found is None:
            raise scan.error("expected a position, a quoted key or a merge key after '['")
        key = found
    while True:
        scan.expect("=")
        pairs.append((key, _merge_value(scan)))
        if scan.peek() == "]":
            scan.at += 1
            return tuple(pairs)
        scan.expect(",")
        if scan.peek() == '"':
            key = scan.string()
        else:
            found = scan.match(_IDENTIFIER)
            if found is None:
                raise scan.error("expected a merge key after ','")
            key = found


def parse(source: str) -> FieldPath:
    """The path `text` wrote as `source`; PathError for any other text, even
    one that means the same path (`["app"]` for `.app`)."""
    if source == ".":
        return ()
    scan = _Scanner(source)
    if not source:
        raise scan.error("an empty path (the whole object is written '.')")
    segments: list[PathSegment] = []
    while scan.at < len(source):
        if scan.peek() == ".":
            scan.at += 1
            key = scan.match(_IDENTIFIER)
            if key is None:
                raise scan.error("expected a key after '.' (other keys are written [\"...\"])")
            segments.append(key)
        elif scan.peek() == "[":
            segments.append(_bracket(scan))
        else:
            raise scan.error("expected '.' or '['")
    path = tuple(segments)
    canonical = text(path)
    if canonical != source:
        # `["app"]` for `.app`, `[name="web"]` for `[name=web]`, spaces, other
        # escapes: one path, one text, so equal paths always compare equal.
        at = next(
            (i for i, (a, b) in enumerate(zip(source, canonical, strict=False)) if a != b), None
        )
        scan.at = min(len(source), len(canonical)) if at is None else at
        said = f": {canonical!r}" if len(canonical) <= _SHOWN else ""
        raise scan.error(f"not the form paths are written in{said}")
    return path
