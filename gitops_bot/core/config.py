"""The repository's `.gitops.yaml`: schema, parsing and validation.

Owns: the configuration values (frozen dataclasses) and `parse`, which turns
the file's text into them or raises ConfigError naming the file, line and
key ("{file}:{line}: {dotted.key}: {what is wrong}"), and the spelling of
repository-relative paths (`normalize_path`). The reference of the schema is
docs/configuration.md; tests check that it and `KEYS` agree.
Refuses: reading files (the caller brings the text), deciding how a source is
rendered (render/ does that), and YAML anchors, aliases and tags that make a
short file mean something long or surprising.
"""

from __future__ import annotations

import difflib
import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass

import yaml
from yaml.constructor import SafeConstructor

from gitops_bot.errors import ConfigError

VERSION = 1
MAX_BYTES = 256 * 1024
# PyYAML's composer recurses once per level; a cap far above any sane config
# keeps hostile input from reaching Python's recursion limit.
_MAX_DEPTH = 32

# Every key of the schema, as a dotted path; `<name>` stands for an
# environment's name. The parser derives what it accepts from this tuple.
KEYS: tuple[str, ...] = (
    "version",
    "environments",
    "environments.<name>",
    "environments.<name>.path",
    "environments.<name>.kustomize",
    "environments.<name>.plain",
    "environments.<name>.helm",
    "environments.<name>.helm.chart",
    "environments.<name>.helm.release",
    "environments.<name>.helm.values",
    "environments.<name>.namespace",
    "environments.<name>.cluster",
)


def _children(parent: str) -> tuple[str, ...]:
    prefix = f"{parent}." if parent else ""
    return tuple(
        k[len(prefix) :] for k in KEYS if k.startswith(prefix) and "." not in k[len(prefix) :]
    )


_TOP_KEYS = _children("")
_ENV_KEYS = _children("environments.<name>")
_HELM_KEYS = _children("environments.<name>.helm")


class SourceKind(enum.Enum):
    AUTO = "path"  # kustomize if the folder has a kustomization, helm if Chart.yaml, else plain
    KUSTOMIZE = "kustomize"
    PLAIN = "plain"
    HELM = "helm"


_SOURCE_KEYS = tuple(kind.value for kind in SourceKind)


@dataclass(frozen=True)
class Source:
    kind: SourceKind
    path: str  # repository-relative POSIX folder; for helm, the chart folder
    release: str | None = None  # helm only: the release name
    values: tuple[str, ...] = ()  # helm only: repository-relative values files, in order


@dataclass(frozen=True)
class Environment:
    name: str
    source: Source
    namespace: str | None = None  # default namespace of namespaced objects; helm's --namespace
    cluster: str | None = None  # kubeconfig context for the live diff
    line: int = 0  # where the environment is defined in the file


@dataclass(frozen=True)
class Config:
    version: int
    environments: tuple[Environment, ...]  # in file order
    file: str = ".gitops.yaml"

    def env(self, name: str) -> Environment:
        """The environment called `name`; ConfigError if there is none."""
        for environment in self.environments:
            if environment.name == name:
                return environment
        names = [e.name for e in self.environments]
        raise ConfigError(
            f"looking up environment {name!r}: {self.file} defines no such environment"
            f"{_suggest(name, names, known='it defines')}"
        )


def normalize_path(raw: str) -> str | None:
    """`raw` (relative, '/'-separated) without '.', '..' and empty parts; "." for
    the repository root; None if it leads outside the repository."""
    parts: list[str] = []
    for part in raw.split("/"):
        if part in ("", "."):
            continue
        if part != "..":
            parts.append(part)
        elif not parts:
            return None
        else:
            parts.pop()
    return "/".join(parts) or "."


def parse(text: str, *, file: str = ".gitops.yaml") -> Config:
    """The configuration in `text`, the content of `file`; ConfigError if invalid."""
    r = _Reader(file)
    root = r.compose(text)
    entries = r.mapping(root, "")
    r.known(entries, "", _TOP_KEYS)
    for required in _TOP_KEYS:
        if required not in entries:
            raise r.error(_line(root), "", f"missing required key {required!r}")
    version_node, _ = entries["version"]
    version = r.integer(version_node, "version")
    if version != VERSION:
        raise r.error(
            _line(version_node),
            "version",
            f"unsupported version {version_node.value}; this gitops-bot knows {VERSION}",
        )
    envs_node, envs_line = entries["environments"]
    envs = r.mapping(envs_node, "environments")
    if not envs:
        raise r.error(envs_line, "environments", "no environment; at least one is needed")
    return Config(
        version=version,
        environments=tuple(
            _environment(r, name, node, line=line) for name, (node, line) in envs.items()
        ),
        file=file,
    )


# DNS-1123 label: what Kubernetes allows for namespace names.
_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_LABEL_MAX = 63
_LABEL_RULE = "lowercase letters, digits and '-', starting and ending with a letter or digit"
# Helm's own check of release names (helm/pkg/chartutil), and its length limit.
_RELEASE = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_RELEASE_MAX = 53


def _not_a_label(value: str, what: str) -> str | None:
    if _LABEL.fullmatch(value) and len(value) <= _LABEL_MAX:
        return None
    return f"{value!r} is not a valid {what}: {_LABEL_RULE}, at most {_LABEL_MAX} characters"


def _environment(r: _Reader, name: str, node: yaml.Node, *, line: int) -> Environment:
    key = _subkey("environments", name)
    if problem := _not_a_label(name, "environment name"):
        raise r.error(line, key, problem)
    entries = r.mapping(node, key)
    r.known(entries, key, _ENV_KEYS)
    sources = [k for k in entries if k in _SOURCE_KEYS]
    if not sources:
        raise r.error(line, key, f"no source; set exactly one of {', '.join(_SOURCE_KEYS)}")
    if len(sources) > 1:
        first, second = sources[0], sources[1]
        raise r.error(
            entries[second][1],
            f"{key}.{second}",
            f"{first!r} is set too (line {entries[first][1]}); "
            f"set exactly one of {', '.join(_SOURCE_KEYS)}",
        )
    kind = SourceKind(sources[0])
    source_node, source_line = entries[kind.value]
    if kind is SourceKind.HELM:
        source = _helm(r, name, source_node, line=source_line, env_line=line)
    else:
        source = Source(kind, r.path(source_node, f"{key}.{kind.value}", folder=True))
    namespace = None
    if "namespace" in entries:
        namespace = r.string(entries["namespace"][0], f"{key}.namespace")
        if problem := _not_a_label(namespace, "namespace name"):
            raise r.error(_line(entries["namespace"][0]), f"{key}.namespace", problem)
    cluster = r.string(entries["cluster"][0], f"{key}.cluster") if "cluster" in entries else None
    return Environment(name, source, namespace=namespace, cluster=cluster, line=line)


def _helm(r: _Reader, name: str, node: yaml.Node, *, line: int, env_line: int) -> Source:
    key = f"environments.{name}.helm"
    entries = r.mapping(node, key, hint=" (write helm: {chart: <folder>})")
    r.known(entries, key, _HELM_KEYS)
    if "chart" not in entries:
        raise r.error(line, key, "missing required key 'chart'")
    chart = r.path(entries["chart"][0], f"{key}.chart", folder=True)
    if "release" in entries:
        release_node = entries["release"][0]
        release = r.string(release_node, f"{key}.release")
        if not _RELEASE.fullmatch(release) or len(release) > _RELEASE_MAX:
            raise r.error(
                _line(release_node),
                f"{key}.release",
                f"{release!r} is not a valid helm release name: {_LABEL_RULE}, "
                f"in parts joined by '.', at most {_RELEASE_MAX} characters",
            )
    elif len(name) > _RELEASE_MAX:
        raise r.error(
            env_line,
            f"environments.{name}",
            f"the helm release name defaults to the environment name, which is longer than "
            f"{_RELEASE_MAX} characters; set helm.release",
        )
    else:
        release = name
    values: list[str] = []
    if "values" in entries:
        values_node = entries["values"][0]
        if not isinstance(values_node, yaml.SequenceNode) or values_node.tag != _SEQ:
            hint = " (write a list: [file.yaml])" if values_node.tag == _STR else ""
            raise r.error(
                _line(values_node),
                f"{key}.values",
                f"expected a list, got {_what(values_node)}{hint}",
            )
        for i, item in enumerate(values_node.value):
            values.append(r.path(item, f"{key}.values[{i}]", folder=False))
    return Source(SourceKind.HELM, chart, release=release, values=tuple(values))


_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_WHAT = {
    _STR: "a string",
    _INT: "an integer",
    _MAP: "a mapping",
    _SEQ: "a list",
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


def _what(node: yaml.Node) -> str:
    return _WHAT.get(node.tag, f"a value tagged {node.tag!r}")


def _line(node: yaml.Node | yaml.Event) -> int:
    mark = node.start_mark
    return int(mark.line) + 1 if mark is not None else 1


_PLAIN_KEY = re.compile(r"[A-Za-z0-9_<>-]+")


def _subkey(key: str, name: str) -> str:
    """The dotted path of `name` inside `key`; odd names are quoted so that the
    message stays one readable line."""
    part = name if _PLAIN_KEY.fullmatch(name) else repr(name)
    return f"{key}.{part}" if key else part


def _suggest(word: str, choices: Iterable[str], *, known: str) -> str:
    choices = list(choices)
    close = difflib.get_close_matches(word, choices, n=1)
    if close:
        return f" (did you mean {close[0]!r}?)"
    return f" ({known}: {', '.join(choices)})"


@dataclass(frozen=True)
class _Reader:
    """Typed reads from the composed YAML nodes, with errors that point at them."""

    file: str

    def error(self, line: int, key: str, what: str) -> ConfigError:
        return ConfigError(f"{self.file}:{line}: {key + ': ' if key else ''}{what}")

    def compose(self, text: str) -> yaml.Node:
        size = len(text.encode("utf-8", "surrogatepass"))
        if size > MAX_BYTES:
            raise self.error(
                1, "", f"the file has {size} bytes; a configuration may have at most 256 KiB"
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
                        _line(event),
                        "",
                        f"YAML anchors and aliases are not allowed here ({sign}{anchor}); "
                        "write the values out",
                    )
                if isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
                    depth += 1
                    if depth > _MAX_DEPTH:
                        raise self.error(
                            _line(event), "", f"nested deeper than {_MAX_DEPTH} levels"
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
            raise self.error(1, "", "the file is empty; it needs 'version' and 'environments'")
        return node

    def mapping(
        self, node: yaml.Node, key: str, *, hint: str = ""
    ) -> dict[str, tuple[yaml.Node, int]]:
        """Key -> (value node, line of the key), in file order; duplicates refused."""
        if not isinstance(node, yaml.MappingNode) or node.tag != _MAP:
            where = "" if key else " at the top level"
            hint = hint if node.tag == _STR else ""
            raise self.error(
                _line(node), key, f"expected a mapping{where}, got {_what(node)}{hint}"
            )
        entries: dict[str, tuple[yaml.Node, int]] = {}
        for key_node, value_node in node.value:
            line = _line(key_node)
            if not isinstance(key_node, yaml.ScalarNode):
                raise self.error(line, key, f"expected a string as key, got {_what(key_node)}")
            if key_node.tag != _STR:
                raise self.error(
                    line,
                    key,
                    f"key {key_node.value!r} reads as {_what(key_node)}; quote it",
                )
            name = key_node.value
            if name in entries:
                raise self.error(
                    line,
                    _subkey(key, name),
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
                    _subkey(key, name),
                    f"unknown key{_suggest(name, allowed, known='known keys')}",
                )

    def string(self, node: yaml.Node, key: str) -> str:
        if not isinstance(node, yaml.ScalarNode) or node.tag != _STR:
            raise self.error(_line(node), key, f"expected a string, got {_what(node)}")
        value = str(node.value)
        if not value.strip():
            raise self.error(_line(node), key, "must not be empty")
        return value

    def integer(self, node: yaml.Node, key: str) -> int:
        if not isinstance(node, yaml.ScalarNode) or node.tag != _INT:
            raise self.error(_line(node), key, f"expected an integer, got {_what(node)}")
        try:
            return int(SafeConstructor().construct_yaml_int(node))
        except (ValueError, IndexError) as err:  # `!!int ''`, more digits than Python takes
            raise self.error(
                _line(node), key, f"{node.value[:20]!r} is not a usable integer"
            ) from err

    def path(self, node: yaml.Node, key: str, *, folder: bool) -> str:
        """A repository-relative POSIX path, normalized."""
        raw = self.string(node, key)
        line = _line(node)
        if raw.startswith("/"):
            raise self.error(line, key, f"{raw!r} must be relative to the repository root")
        if "\\" in raw:
            raise self.error(line, key, f"{raw!r} must separate folders with '/', not '\\'")
        if any(ord(c) < 0x20 or ord(c) == 0x7F for c in raw):
            raise self.error(line, key, f"{raw!r} contains a control character")
        normal = normalize_path(raw)
        if normal is None:
            raise self.error(line, key, f"{raw!r} leads outside the repository")
        if normal == "." and not folder:
            raise self.error(line, key, f"{raw!r} names the repository root, not a file")
        return normal
