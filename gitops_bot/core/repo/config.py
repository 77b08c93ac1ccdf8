"""The repository's `.gitops.yaml`: schema, parsing and validation.

Owns: the configuration values (frozen dataclasses) and `parse`, which turns
the file's text into them or raises ConfigError naming the file, line and
key ("{file}:{line}: {dotted.key}: {what is wrong}"), and the spelling of
repository-relative paths (`normalize_path`). An environment's `policy` is
parsed by core.policy.rules, the `promotion` list by core.promotion.routes.
The reference of the schema is docs/configuration.md; tests check that it
and `KEYS` agree.
Refuses: reading files (the caller brings the text), deciding how a source is
rendered (render/ does that), and YAML anchors, aliases and tags that make a
short file mean something long or surprising.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field

import yaml

from gitops_bot.core.objects import ignore
from gitops_bot.core.policy import rules
from gitops_bot.core.promotion import routes
from gitops_bot.core.yamldoc import nodes
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
    "environments.<name>.policy",
    *(f"environments.<name>.policy.{key}" for key in rules.KEYS),
    "environments.<name>.ignore_fields",
    *(f"environments.<name>.ignore_fields{key}" for key in ignore.KEYS),
    "promotion",
    *(f"promotion{key}" for key in routes.KEYS),
    "sources",
    "sources.allow",
)


def _children(parent: str) -> tuple[str, ...]:
    prefix = f"{parent}." if parent else ""
    return tuple(
        k[len(prefix) :] for k in KEYS if k.startswith(prefix) and "." not in k[len(prefix) :]
    )


_TOP_KEYS = _children("")
_SOURCES_KEYS = _children("sources")
# An allow-list entry: a scheme the fetcher speaks, a host, then a path prefix.
_SOURCE_PREFIX = re.compile(r"(?:https?|oci)://[A-Za-z0-9.-]+(?::\d+)?(?:/\S*)?")
_REQUIRED_TOP_KEYS = ("version", "environments")
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
    policy: rules.Policy = field(default_factory=rules.Policy)  # base branch's
    # Fields the cluster owns (core.objects.ignore); the bot takes them from the base branch.
    ignore_fields: tuple[ignore.Rule, ...] = ()


@dataclass(frozen=True)
class Config:
    version: int
    environments: tuple[Environment, ...]  # in file order
    file: str = ".gitops.yaml"
    promotions: tuple[routes.Rule, ...] = ()  # in file order
    # URL prefixes remote sources (chart repositories ...) may come from; the
    # base branch's list is the one that counts (a change cannot widen it).
    allow_sources: tuple[str, ...] = ()

    def env(self, name: str) -> Environment:
        """The environment called `name`; ConfigError if there is none."""
        for environment in self.environments:
            if environment.name == name:
                return environment
        names = [e.name for e in self.environments]
        raise ConfigError(
            f"looking up environment {name!r}: {self.file} defines no such environment"
            f"{nodes.suggest(name, names, known='it defines')}"
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
    r = nodes.Reader(
        file, max_bytes=MAX_BYTES, max_depth=_MAX_DEPTH, empty="'version' and 'environments'"
    )
    root = r.compose(text)
    entries = r.mapping(root, "")
    r.known(entries, "", _TOP_KEYS)
    for required in _REQUIRED_TOP_KEYS:
        if required not in entries:
            raise r.error(nodes.line_of(root), "", f"missing required key {required!r}")
    version_node, _ = entries["version"]
    version = r.integer(version_node, "version")
    if version != VERSION:
        raise r.error(
            nodes.line_of(version_node),
            "version",
            f"unsupported version {version_node.value}; this gitops-bot knows {VERSION}",
        )
    envs_node, envs_line = entries["environments"]
    envs = r.mapping(envs_node, "environments")
    if not envs:
        raise r.error(envs_line, "environments", "no environment; at least one is needed")
    environments = tuple(
        _environment(r, name, node, line=line) for name, (node, line) in envs.items()
    )
    promotions: tuple[routes.Rule, ...] = ()
    if "promotion" in entries:
        promotions = routes.parse(
            r,
            entries["promotion"][0],
            "promotion",
            envs=tuple(e.name for e in environments),
            path=lambda node, at: _path(r, node, at, folder=False),
        )
    allow_sources = _sources(r, entries["sources"][0]) if "sources" in entries else ()
    return Config(
        version=version,
        environments=environments,
        file=file,
        promotions=promotions,
        allow_sources=allow_sources,
    )


def _sources(r: nodes.Reader, node: yaml.Node) -> tuple[str, ...]:
    """sources.allow: URL prefixes (https://host/path/, oci://host/path/) remote
    sources may be fetched from."""
    entries = r.mapping(node, "sources")
    r.known(entries, "sources", _SOURCES_KEYS)
    if "allow" not in entries:
        return ()
    allow_node, _ = entries["allow"]
    if not isinstance(allow_node, yaml.SequenceNode) or allow_node.tag != nodes.SEQ:
        raise r.error(
            nodes.line_of(allow_node),
            "sources.allow",
            f"expected a list, got {nodes.what(allow_node)}",
        )
    found = []
    for i, item in enumerate(allow_node.value):
        key = f"sources.allow[{i}]"
        prefix = r.string(item, key)
        if not _SOURCE_PREFIX.fullmatch(prefix):
            raise r.error(
                nodes.line_of(item),
                key,
                f"{prefix!r} is not a URL prefix: write https://host/path/ (or http://, oci://)",
            )
        if prefix.count("/") == 2:  # "https://host": the host and any host it starts
            raise r.error(
                nodes.line_of(item),
                key,
                f"{prefix!r} ends at the host name, so {prefix}.evil.example would match "
                "too: end it with / (https://host/)",
            )
        found.append(prefix)
    return tuple(found)


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


def _environment(r: nodes.Reader, name: str, node: yaml.Node, *, line: int) -> Environment:
    key = nodes.subkey("environments", name)
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
        source = Source(kind, _path(r, source_node, f"{key}.{kind.value}", folder=True))
    namespace = None
    if "namespace" in entries:
        namespace = r.string(entries["namespace"][0], f"{key}.namespace")
        if problem := _not_a_label(namespace, "namespace name"):
            raise r.error(nodes.line_of(entries["namespace"][0]), f"{key}.namespace", problem)
    cluster = r.string(entries["cluster"][0], f"{key}.cluster") if "cluster" in entries else None
    policy = rules.Policy()
    if "policy" in entries:
        policy = rules.parse(
            r,
            entries["policy"][0],
            f"{key}.policy",
            path=lambda node, at: _path(r, node, at, folder=False),
        )
    ignore_fields: tuple[ignore.Rule, ...] = ()
    if "ignore_fields" in entries:
        ignore_fields = ignore.parse_rules(r, entries["ignore_fields"][0], f"{key}.ignore_fields")
    return Environment(
        name,
        source,
        namespace=namespace,
        cluster=cluster,
        line=line,
        policy=policy,
        ignore_fields=ignore_fields,
    )


def _helm(r: nodes.Reader, name: str, node: yaml.Node, *, line: int, env_line: int) -> Source:
    key = f"environments.{name}.helm"
    entries = r.mapping(node, key, hint=" (write helm: {chart: <folder>})")
    r.known(entries, key, _HELM_KEYS)
    if "chart" not in entries:
        raise r.error(line, key, "missing required key 'chart'")
    chart = _path(r, entries["chart"][0], f"{key}.chart", folder=True)
    if "release" in entries:
        release_node = entries["release"][0]
        release = r.string(release_node, f"{key}.release")
        if not _RELEASE.fullmatch(release) or len(release) > _RELEASE_MAX:
            raise r.error(
                nodes.line_of(release_node),
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
        if not isinstance(values_node, yaml.SequenceNode) or values_node.tag != nodes.SEQ:
            hint = " (write a list: [file.yaml])" if values_node.tag == nodes.STR else ""
            raise r.error(
                nodes.line_of(values_node),
                f"{key}.values",
                f"expected a list, got {nodes.what(values_node)}{hint}",
            )
        for i, item in enumerate(values_node.value):
            values.append(_path(r, item, f"{key}.values[{i}]", folder=False))
    return Source(SourceKind.HELM, chart, release=release, values=tuple(values))


def _path(r: nodes.Reader, node: yaml.Node, key: str, *, folder: bool) -> str:
    """A repository-relative POSIX path, normalized."""
    raw = r.string(node, key)
    line = nodes.line_of(node)
    if raw.startswith("/"):
        raise r.error(line, key, f"{raw!r} must be relative to the repository root")
    if "\\" in raw:
        raise r.error(line, key, f"{raw!r} must separate folders with '/', not '\\'")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in raw):
        raise r.error(line, key, f"{raw!r} contains a control character")
    normal = normalize_path(raw)
    if normal is None:
        raise r.error(line, key, f"{raw!r} leads outside the repository")
    if normal == "." and not folder:
        raise r.error(line, key, f"{raw!r} names the repository root, not a file")
    return normal
