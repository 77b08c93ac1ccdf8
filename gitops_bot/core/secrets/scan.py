"""Values that may be secret, found in the raw text of a render's inputs.

Owns: reading candidate secret values out of files as they sit in the
repository, before any tool has run, so that an error from a render that
fails (helm `fail` quoting a value, a YAML error inside a Secret, kustomize
refusing a generator) can be scrubbed of them: the `data` and `stringData`
values of Secret documents, read line by line so that a document nobody can
parse still gives up its values; `secretGenerator` literals, env files and
files; and every scalar of a helm values file, since any of them may feed a
Secret template.
Refuses: reading files (render.secrets does, within the repository) and
deciding where the values are scrubbed (they are meant for error text: the
helm values include ordinary words, which would shred a diff).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Iterator
from typing import Any

import yaml

from gitops_bot.core.objects import manifests
from gitops_bot.errors import BotError

ReadFile = Callable[[str], str | None]  # a path relative to the kustomization's folder

_DOCUMENT = re.compile(r"(?m)^---[^\n]*$")
_KIND = re.compile(r"""(?m)(?:^|[\s{,])["']?kind["']?\s*:\s*["']?([A-Za-z0-9]+)""")
_FLOW_BLOCK = re.compile(r"""["']?(?:data|stringData)["']?\s*:\s*\{""")
_BLOCK = re.compile(r"""^(\s*)["']?(data|stringData)["']?\s*:\s*(.*?)\s*$""")
_ENTRY = re.compile(r"""^(\s*)(?:-\s+)?("[^"]*"|'[^']*'|[^\s:#][^:#]*?)\s*:(?:\s+(.*?))?\s*$""")
_FLOW_VALUE = re.compile(r""":\s*("(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|[^,{}\s][^,{}]*)""")
_QUOTED_LITERAL = re.compile(r"""(["'])([^=\s"']+)=(.*?)\1""")
_BARE_LITERAL = re.compile(r"""(?<![\w.-])([A-Za-z_][\w.-]*)=([^,\]\s'"][^,\]'"]*)""")
_BLOCK_SCALAR = re.compile(r"^[|>][-+0-9]*$")


def _unquote(value: str) -> str:
    value = value.strip().rstrip(",").strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        inner = value[1:-1]
        return inner.replace("''", "'") if value[0] == "'" else _json_unescape(inner)
    if value[:1] in ("'", '"'):  # a quote never closed: what follows it is the value
        return value[1:]
    return re.sub(r"\s+#.*$", "", value)


def _json_unescape(inner: str) -> str:
    try:
        return str(yaml.safe_load(f'"{inner}"'))
    except yaml.YAMLError:
        return inner


def _decoded(value: str) -> Iterator[str]:
    """`value` and, when it is base64 (a `data` value), what it stands for."""
    yield value
    try:
        clear = base64.b64decode("".join(value.split()), validate=True)
    except (binascii.Error, ValueError):
        return
    try:
        yield clear.decode()
    except UnicodeDecodeError:
        return


def in_manifests(text: str) -> set[str]:
    """The data and stringData values of every Secret document in `text`, also
    of documents that are not valid YAML. A document whose kind cannot be
    read counts as a Secret: a value too many is harmless."""
    found: set[str] = set()
    for document in _DOCUMENT.split(text):
        kinds = _KIND.findall(document)
        if kinds and "Secret" not in kinds:
            continue
        found |= _parsed_values(document)
        found |= _lines_values(document)
        for block in _FLOW_BLOCK.finditer(document):
            inner = _flow_mapping(document, block.end())
            found |= {d for m in _FLOW_VALUE.findall(inner) for d in _decoded(_unquote(m))}
    return {v for v in found if v and "{{" not in v}


def _flow_mapping(text: str, start: int) -> str:
    """The text of a flow mapping from `start` (just past its `{`) to its `}`,
    skipping quoted strings; to the end of `text` if it is never closed."""
    depth, position, quote = 0, start, ""
    while position < len(text):
        char = text[position]
        if quote:
            if char == "\\" and quote == '"':
                position += 1
            elif char == quote:
                quote = ""
        elif char in "\"'":
            quote = char
        elif char == "{":
            depth += 1
        elif char == "}":
            if depth == 0:
                break
            depth -= 1
        position += 1
    return text[start:position]


def _parsed_values(document: str) -> set[str]:
    try:
        manifests.screen(document, origin="", max_bytes=len(document.encode()) + 1)
        data = yaml.safe_load(document)
    except (yaml.YAMLError, BotError, RecursionError):
        return set()
    found: set[str] = set()
    for obj in data.get("items") or [data] if isinstance(data, dict) else []:
        if not isinstance(obj, dict):
            continue
        for field in ("data", "stringData"):
            values = obj.get(field)
            if isinstance(values, dict):
                for value in values.values():
                    found.update(_decoded(_scalar(value)))
            elif values is not None:
                found.update(_decoded(_scalar(values)))
    return found


def _scalar(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def _lines_values(document: str) -> set[str]:
    """Values under `data:` and `stringData:`, read by indentation alone."""
    found: set[str] = set()
    lines = document.splitlines()
    for index, line in enumerate(lines):
        block = _BLOCK.match(line)
        if block is None:
            continue
        indent, rest = len(block[1]), block[3]
        if rest.startswith("{"):
            found |= {d for m in _FLOW_VALUE.findall(rest) for d in _decoded(_unquote(m))}
        elif rest and not _BLOCK_SCALAR.match(rest):
            found.update(_decoded(_unquote(rest)))  # not a mapping: the parser's error quotes it
        found |= _children(lines[index + 1 :], indent)
    return found


def _children(lines: list[str], parent: int) -> set[str]:
    found: set[str] = set()
    position = 0
    while position < len(lines):
        line = lines[position]
        position += 1
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        indent = len(line) - len(line.lstrip())
        if indent <= parent:
            break
        entry = _ENTRY.match(line)
        value = entry[3] if entry else line.strip()
        if not value:
            continue
        if not _BLOCK_SCALAR.match(value):
            found.update(_decoded(_unquote(value)))
            continue
        body = []
        while position < len(lines) and (
            not lines[position].strip()
            or len(lines[position]) - len(lines[position].lstrip()) > indent
        ):
            body.append(lines[position].strip())
            position += 1
        joined = "\n".join(body).strip()
        found.update(_decoded(joined))
        found.update(b for b in body if b)
    return found


def in_kustomization(text: str, read: ReadFile) -> set[str]:
    """The values a kustomization's secretGenerators make: literals, env files
    and files. When it is not valid YAML, every `key=value` entry."""
    try:
        manifests.screen(text, origin="", max_bytes=len(text.encode()) + 1)
        data = yaml.safe_load(text)
    except (yaml.YAMLError, BotError, RecursionError):
        return _literals(text)
    found: set[str] = set()
    generators = data.get("secretGenerator") if isinstance(data, dict) else None
    for generator in generators if isinstance(generators, list) else []:
        if not isinstance(generator, dict):
            continue
        for literal in _strings(generator.get("literals")):
            found.add(literal.partition("=")[2] if "=" in literal else literal)
        for env in [*_strings(generator.get("envs")), *_strings(generator.get("env"))]:
            content = read(env)
            if content is not None:
                found |= in_env_file(content)
        for entry in _strings(generator.get("files")):
            content = read(entry.partition("=")[2] if "=" in entry else entry)
            if content is not None:
                found.add(content)
                found.update(line.strip() for line in content.splitlines())
    return {v for v in found if v}


def _literals(text: str) -> set[str]:
    """Every `key=value` in `text`, quoted or bare, wherever it stands."""
    found: set[str] = set()
    for line in text.splitlines():
        for quoted in _QUOTED_LITERAL.finditer(line):
            found |= {f"{quoted[2]}={quoted[3]}", quoted[3]}
        for bare in _BARE_LITERAL.finditer(line):
            found |= {bare[0].strip(), bare[2].strip()}
    return {v for v in found if v}


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [str(v) for v in value if isinstance(v, str | int | float)]
    return []


def in_env_file(text: str) -> set[str]:
    """Each line's value, and each whole line: a malformed line is quoted whole."""
    found: set[str] = set()
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        found.add(line)
        if "=" in line:
            found.add(_unquote(line.partition("=")[2]))
    return {v for v in found if v}


def in_values(text: str) -> set[str]:
    """Every scalar of a helm values file but booleans and nulls; line by line
    when it is not valid YAML."""
    try:
        manifests.screen(text, origin="", max_bytes=len(text.encode()) + 1)
        data = yaml.safe_load(text)
    except (yaml.YAMLError, BotError, RecursionError):
        found = set()
        for line in text.splitlines():
            entry = _ENTRY.match(line)
            if entry and entry[3] and not _BLOCK_SCALAR.match(entry[3]):
                found.add(_unquote(entry[3]))
        return found
    return set(_scalars(data))


def _scalars(data: Any) -> Iterator[str]:
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str):
            yield item
            yield from (line.strip() for line in item.splitlines())
        elif isinstance(item, int | float) and not isinstance(item, bool):
            yield str(item)
