"""From rendered YAML text to Manifests, and the checks every render gets.

Owns: `parse` (a YAML or JSON multi-document stream to Manifests, with
`List` kinds expanded and every object checked for apiVersion, kind and
metadata.name), `screen` (the same safety checks, for YAML another tool
will read), `check_unique` (one object per Key) and `default_namespace`
(what `kubectl apply -n` would do to namespaced objects without a namespace).
Refuses: reading files or running tools (render/ brings the text), and
echoing document contents in errors: a rendered Secret is as likely to be
malformed as anything else, so messages name the origin, document, line and
key, never a value.

Untrusted YAML is refused before it can hurt: the input size is capped, and
alias bombs (too many aliases, or aliases that expand to too many nodes),
recursive aliases and deep nesting are refused before any alias is expanded.
`parse` checks each composed document's nodes, where an alias is the
anchor's node met again (the composer shares it, expanding nothing), when
libyaml refuses nesting beyond 1,000 levels itself (0.2.6, in PyYAML's
wheels); with an older libyaml, whose composer overflows its stack near
50,000 levels, and in `screen`, a first pass over the parser's events (no
nodes built yet) refuses the same. A `core.bounds.Meter` counts the objects
of the render and watches the environment's deadline while it reads.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any

import yaml
from yaml.constructor import SafeConstructor

from gitops_bot.core.objects.model import Key, Manifest, Origin
from gitops_bot.core.repo import bounds
from gitops_bot.errors import RenderError

MAX_ALIASES = 100  # per stream; hand-written YAML uses a few, tool output none
MAX_ALIAS_NODES = 100_000  # nodes that aliases may add by expansion, per stream
MAX_DEPTH = 200  # deep CRD schemas reach about 60; libyaml's composer crashes near 50,000


_RESOLVED: dict[str, str] = {}  # a plain scalar -> its implicit tag, for the values seen first
_RESOLVED_MAX = 4096
_RESOLVED_LONGEST = 40


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """SafeLoader with JSON's value types, as kubectl reads YAML."""

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        """The tag of a node, as SafeLoader resolves it; a plain scalar's tag
        depends on its text alone (no path resolvers here), and most scalars
        of a render are the same few keys (apiVersion, metadata, name), so the
        tags of the first few thousand short ones are kept: PyYAML's regexes,
        called for each from libyaml, were a fifth of a parse."""
        if kind is not yaml.ScalarNode or not implicit[0] or len(value) > _RESOLVED_LONGEST:
            return super().resolve(kind, value, implicit)
        tag = _RESOLVED.get(value)
        if tag is None:
            tag = super().resolve(kind, value, implicit)
            if len(_RESOLVED) < _RESOLVED_MAX:
                _RESOLVED[value] = tag
        return tag


# kubectl reads an unquoted 2024-01-01 as a string, and !!binary is already
# the base64 text a Secret's data wants; keep both as the text that was written.
_Loader.add_constructor("tag:yaml.org,2002:timestamp", SafeConstructor.construct_yaml_str)
_Loader.add_constructor("tag:yaml.org,2002:binary", SafeConstructor.construct_yaml_str)
# YAML 1.1 resolves a plain `=` to its "value" tag, which PyYAML constructs
# nowhere but as a mapping key; YAML 1.2 and kubectl read the string "=".
_Loader.add_constructor("tag:yaml.org,2002:value", SafeConstructor.construct_yaml_str)

# Kinds the API server serves without a namespace, by (group, kind).
CLUSTER_SCOPED = frozenset(
    {
        ("", "Namespace"),
        ("", "Node"),
        ("", "PersistentVolume"),
        ("", "ComponentStatus"),
        ("storage.k8s.io", "StorageClass"),
        ("storage.k8s.io", "CSIDriver"),
        ("storage.k8s.io", "CSINode"),
        ("storage.k8s.io", "VolumeAttachment"),
        ("apiextensions.k8s.io", "CustomResourceDefinition"),
        ("rbac.authorization.k8s.io", "ClusterRole"),
        ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
        ("scheduling.k8s.io", "PriorityClass"),
        ("networking.k8s.io", "IngressClass"),
        ("networking.k8s.io", "IPAddress"),
        ("networking.k8s.io", "ServiceCIDR"),
        ("node.k8s.io", "RuntimeClass"),
        ("admissionregistration.k8s.io", "ValidatingWebhookConfiguration"),
        ("admissionregistration.k8s.io", "MutatingWebhookConfiguration"),
        ("admissionregistration.k8s.io", "ValidatingAdmissionPolicy"),
        ("admissionregistration.k8s.io", "ValidatingAdmissionPolicyBinding"),
        ("admissionregistration.k8s.io", "MutatingAdmissionPolicy"),
        ("admissionregistration.k8s.io", "MutatingAdmissionPolicyBinding"),
        ("apiregistration.k8s.io", "APIService"),
        ("certificates.k8s.io", "CertificateSigningRequest"),
        ("certificates.k8s.io", "ClusterTrustBundle"),
        ("flowcontrol.apiserver.k8s.io", "FlowSchema"),
        ("flowcontrol.apiserver.k8s.io", "PriorityLevelConfiguration"),
        ("resource.k8s.io", "DeviceClass"),
    }
)


def parse(
    text: str, *, origin: str, max_bytes: int = 32 << 20, meter: bounds.Meter | None = None
) -> tuple[Manifest, ...]:
    """The objects in `text`, a YAML (or JSON) stream; `origin` names it in messages.

    `meter` counts the objects and watches the environment's deadline, per
    document (and every few thousand events of a first pass, when there is one)."""
    meter = meter or bounds.default_meter()
    data = _encoded(text, origin=origin, max_bytes=max_bytes)
    del text  # the bytes are all we need; a 25 MiB str is worth freeing early
    budget = _Budget(origin)
    if not _LIBYAML_LIMITS_NESTING:  # its composer may crash: refuse from the events first
        _check_events(data, origin, meter)
    loader = _Loader(data)
    found: list[Manifest] = []
    document = 0

    def progress() -> str:
        return f"parsing {origin} at document {document + 1:,}, after {meter.objects:,} objects"

    try:
        while loader.check_node():
            meter.check(progress)
            node = loader.get_node()
            if node is not None:
                budget.document, budget.line = document, node.start_mark.line + 1
                budget.sizes = {}  # anchors are per document, and so are ids of live nodes
                budget.walk(node)  # before anything expands an alias
                line = node.start_mark.line + 1
                where = Origin(origin, document, line)
                objects = _objects(_construct(loader, node, where), node, where)
                meter.count(len(objects), doing=progress())
                found.extend(objects)
            document += 1
    except yaml.YAMLError as err:
        _refuse_deep(err, budget)
        raise RenderError(_yaml_problem(err, origin, document, data)) from None
    finally:
        loader.dispose()
    return tuple(found)


def screen(
    text: str, *, origin: str, max_bytes: int = 32 << 20, meter: bounds.Meter | None = None
) -> None:
    """Refuse YAML that is too large, not YAML, an alias bomb or nested too deep,
    without building it: for files another tool will read (kustomize expands
    aliases without a limit)."""
    _screened(text, origin=origin, max_bytes=max_bytes, meter=meter or bounds.default_meter())


def _screened(text: str, *, origin: str, max_bytes: int, meter: bounds.Meter) -> bytes:
    data = _encoded(text, origin=origin, max_bytes=max_bytes)
    _check_events(data, origin, meter)
    return data


def _encoded(text: str, *, origin: str, max_bytes: int) -> bytes:
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError as err:
        raise RenderError(f"{origin}: not UTF-8 text (at character {err.start})") from None
    if len(data) > max_bytes:
        raise RenderError(
            f"{origin}: {len(data)} bytes is more than the limit of {max_bytes} bytes"
        )
    return data


def _libyaml_limits_nesting() -> bool:
    """Whether the loader refuses deep nesting itself, before composing it:
    libyaml 0.2.6 stops at 1,000 levels. Then `parse` composes at once and
    checks the nodes (`_Budget.walk`); else (libyaml 0.2.5, whose composer
    crashes near 50,000 levels, or no libyaml) it checks the events first."""
    try:
        yaml.compose("[" * 1001 + "]" * 1001, Loader=_Loader)
    except yaml.YAMLError as err:
        return "exceeded maximum nesting depth" in str(getattr(err, "problem", ""))
    except RecursionError:
        return False
    return False


_LIBYAML_LIMITS_NESTING = _libyaml_limits_nesting()


def _refuse_deep(err: yaml.YAMLError, budget: _Budget) -> None:
    """libyaml (0.2.6+) scans ahead and stops at its own limit of 1000 before
    the parser hands over the 201st level: the same refusal as ours."""
    if "exceeded maximum nesting depth" in str(getattr(err, "problem", "")):
        budget.refuse(f"nested more than {MAX_DEPTH} levels deep")


def check_unique(manifests: Iterable[Manifest]) -> None:
    """Refuse two objects with one Key: the API server would keep only one of them."""
    first: dict[Key, Manifest] = {}
    clashes: list[str] = []
    for manifest in manifests:
        if (seen := first.setdefault(manifest.key, manifest)) is not manifest:
            clashes.append(
                f"{_describe(manifest.key)} is defined twice: "
                f"at {seen.origin} and at {manifest.origin}"
            )
    if clashes:
        raise RenderError("; ".join(clashes))


def default_namespace(
    manifests: Iterable[Manifest], *, namespace: str | None
) -> tuple[Manifest, ...]:
    """`manifests`, with `namespace` set on namespaced objects that have none."""
    manifests = tuple(manifests)
    if not namespace:
        return manifests
    cluster_scoped = CLUSTER_SCOPED | _cluster_scoped_crds(manifests)
    return tuple(
        _with_namespace(m, namespace)
        if not m.key.namespace and (m.key.group, m.key.kind) not in cluster_scoped
        else m
        for m in manifests
    )


def _with_namespace(manifest: Manifest, namespace: str) -> Manifest:
    metadata = {**manifest.obj["metadata"], "namespace": namespace}
    return dataclasses.replace(
        manifest,
        key=dataclasses.replace(manifest.key, namespace=namespace),
        obj={**manifest.obj, "metadata": metadata},
    )


def _cluster_scoped_crds(manifests: tuple[Manifest, ...]) -> set[tuple[str, str]]:
    """(group, kind) of the CRDs in this render that declare `scope: Cluster`."""
    found = set()
    for m in manifests:
        spec = m.obj.get("spec")
        if (
            (m.key.group, m.key.kind) == ("apiextensions.k8s.io", "CustomResourceDefinition")
            and isinstance(spec, Mapping)
            and spec.get("scope") == "Cluster"
        ):
            names = spec.get("names")
            kind = names.get("kind") if isinstance(names, Mapping) else None
            found.add((str(spec.get("group") or ""), str(kind or "")))
    return found


_EVENTS_PER_CHECK = 4096  # reading the clock per event would cost more than the events


def _check_events(data: bytes, origin: str, meter: bounds.Meter) -> None:
    """Refuse alias bombs and deep nesting from the event stream, before composing."""
    budget = _Budget(origin)
    try:
        for count, event in enumerate(yaml.parse(data, Loader=_Loader)):
            budget.see(event)
            if count % _EVENTS_PER_CHECK == 0:
                meter.check(
                    lambda: (
                        f"reading {origin} at document {budget.document + 1} (line "
                        f"{budget.line}), before building any object"
                    )
                )
    except yaml.YAMLError as err:
        _refuse_deep(err, budget)
        raise RenderError(_yaml_problem(err, origin, budget.document, data)) from None


class _Budget:
    """Counts depth, aliases and the nodes aliases add, one parser event at a time."""

    def __init__(self, origin: str) -> None:
        self.origin = origin
        self.document, self.line, self.depth = 0, 1, 0
        self.aliases, self.expanded = 0, 0
        self.nodes = 0  # nodes so far, each alias counted as the nodes it expands to
        self.anchors: dict[str, int | None] = {}  # anchor -> nodes under it; None while open
        self.open: list[tuple[str | None, int]] = []  # per open collection: anchor, nodes before
        self.sizes: dict[int, int | None] = {}  # walk: id(node) -> nodes it expands to; None open

    def see(self, event: yaml.Event) -> None:
        self.line = event.start_mark.line + 1 if event.start_mark is not None else self.line
        if isinstance(event, yaml.DocumentStartEvent):
            self.anchors = {}
        elif isinstance(event, yaml.DocumentEndEvent):
            self.document += 1
        elif isinstance(event, yaml.CollectionStartEvent):
            self.open.append((event.anchor, self.nodes))
            self.nodes, self.depth = self.nodes + 1, self.depth + 1
            if self.depth > MAX_DEPTH:
                self.refuse(f"nested more than {MAX_DEPTH} levels deep")
            if event.anchor is not None:
                self.anchors[event.anchor] = None
        elif isinstance(event, yaml.CollectionEndEvent):
            anchor, before = self.open.pop()
            self.depth -= 1
            if anchor is not None:
                self.anchors[anchor] = self.nodes - before
        elif isinstance(event, yaml.ScalarEvent):
            self.nodes += 1
            if event.anchor is not None:
                self.anchors[event.anchor] = 1
        elif isinstance(event, yaml.AliasEvent):
            self.alias(self.anchors.get(event.anchor or "", 0))

    def walk(self, node: yaml.Node) -> int:
        """`see`'s refusals, from a composed document instead of its events: a
        node met again is an alias (the composer hands the anchor's node out
        again), one still open is an alias inside its own anchor. Returns the
        nodes `node` expands to. Names the line of the alias' key, or of the
        item before it in a sequence (a node of an alias has its anchor's)."""
        key = id(node)
        if key in self.sizes:
            size = self.sizes[key]
            self.alias(size)
            return size or 0
        self.sizes[key] = None
        if isinstance(node, yaml.ScalarNode):
            self.sizes[key] = 1
            return 1
        self.depth += 1
        if self.depth > MAX_DEPTH:
            self.line = node.start_mark.line + 1
            self.refuse(f"nested more than {MAX_DEPTH} levels deep")
        size = 1
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                self.line = k.start_mark.line + 1
                size += self.walk(k)
                self.line = k.start_mark.line + 1
                size += self.walk(v)
        else:
            self.line = node.start_mark.line + 1
            for item in node.value:
                fresh = id(item) not in self.sizes
                size += self.walk(item)
                if fresh:  # an alias' marks are its anchor's
                    self.line = item.end_mark.line + 1
        self.depth -= 1
        self.sizes[key] = size
        return size

    def alias(self, size: int | None) -> None:
        self.aliases += 1
        if self.aliases > MAX_ALIASES:
            self.refuse(f"more than {MAX_ALIASES} YAML aliases; refusing a possible alias bomb")
        if size is None:
            self.refuse("a YAML alias refers to an anchor that contains it")
        self.nodes, self.expanded = self.nodes + (size or 0), self.expanded + (size or 0)
        if self.expanded > MAX_ALIAS_NODES:
            self.refuse(
                f"YAML aliases expand to more than {MAX_ALIAS_NODES} nodes; "
                "refusing a possible alias bomb"
            )

    def refuse(self, problem: str) -> None:
        raise RenderError(f"{Origin(self.origin, self.document, self.line)}: {problem}")


def _construct(loader: Any, node: yaml.Node, where: Origin) -> Any:
    try:
        return _build(loader, node, where)
    except (ValueError, TypeError, LookupError, ArithmeticError, AttributeError):
        # PyYAML's constructors trust explicit tags: `!!int abc`, `!!bool x`, a bare `!!int`.
        raise RenderError(f"{where}: a tagged value does not match its tag") from None
    except RecursionError:
        raise RenderError(f"{where}: nested too deeply to read") from None


_STR, _MAP, _SEQ = "tag:yaml.org,2002:str", "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq"
_MERGE = "tag:yaml.org,2002:merge"


def _build(loader: Any, node: yaml.Node, where: Origin) -> Any:
    """What `_plain(loader.construct_document(node))` makes of `node`, built
    straight from the nodes for what manifests are made of (mappings with
    scalar keys, lists, strings): PyYAML's generic constructor and the copy
    `_plain` makes of its result were most of the time of a large parse.
    Anything else (merge keys, other tags, typed scalars) goes the general way."""
    if isinstance(node, yaml.ScalarNode):
        return node.value if node.tag == _STR else _plain(loader.construct_document(node), where)
    if isinstance(node, yaml.SequenceNode) and node.tag == _SEQ:
        return [_build(loader, item, where) for item in node.value]
    if isinstance(node, yaml.MappingNode) and node.tag == _MAP:
        out: dict[str, Any] = {}
        for key, value in node.value:
            if not isinstance(key, yaml.ScalarNode) or key.tag == _MERGE:
                return _plain(loader.construct_document(node), where)
            name = key.value if key.tag == _STR else _key(loader.construct_document(key))
            out[name] = _build(loader, value, where)
        return out
    return _plain(loader.construct_document(node), where)


def _plain(value: Any, where: Origin) -> Any:
    """`value` as JSON would hold it: string keys, lists, no YAML-only types."""
    if isinstance(value, dict):
        return {_key(k): _plain(v, where) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v, where) for v in value]
    if value is None or isinstance(value, str | int | float):
        return value
    raise RenderError(f"{where}: a {type(value).__name__} value cannot be part of an object")


def _key(key: Any) -> str:
    # sigs.k8s.io/yaml turns non-string keys into their JSON spelling.
    if isinstance(key, bool) or key is None:
        return {True: "true", False: "false", None: "null"}[key]
    return str(key)


def _objects(data: Any, node: yaml.Node, where: Origin) -> list[Manifest]:
    if data is None:
        return []
    if not isinstance(data, dict):
        raise RenderError(f"{where}: a Kubernetes object must be a mapping, not {_a(data)}")
    kind, items = data.get("kind"), data.get("items")
    if not (isinstance(kind, str) and kind.endswith("List") and "items" in data):
        return [_manifest(data, where, "")]
    if not isinstance(items, list):
        raise RenderError(f"{where}: items must be a list, not {_a(items)}")
    lines = _item_lines(node, len(items))
    return [
        _manifest(item, dataclasses.replace(where, line=lines[i] or where.line), f"items[{i}]: ")
        for i, item in enumerate(items)
    ]


def _item_lines(node: yaml.Node, count: int) -> list[int | None]:
    """The start line of each item of a List document, where the YAML says."""
    for key, value in node.value if isinstance(node, yaml.MappingNode) else ():
        if key.value == "items" and isinstance(value, yaml.SequenceNode):
            lines: list[int | None] = [item.start_mark.line + 1 for item in value.value]
            if len(lines) == count:
                return lines
    return [None] * count


def _manifest(obj: Any, where: Origin, item: str) -> Manifest:
    def problem(text: str) -> RenderError:
        return RenderError(f"{where}: {item}{text}")

    if not isinstance(obj, dict):
        raise problem(f"a Kubernetes object must be a mapping, not {_a(obj)}")
    for field in ("apiVersion", "kind"):
        if obj.get(field) in (None, ""):
            raise problem(f"missing {field}")
        if not isinstance(obj[field], str):
            raise problem(f"{field} must be a string, not {_a(obj[field])}")
    metadata = obj.get("metadata")
    if metadata is None:
        raise problem("missing metadata")
    if not isinstance(metadata, dict):
        raise problem(f"metadata must be a mapping, not {_a(metadata)}")
    for field in ("name", "namespace"):
        value = metadata.get(field)
        if field == "name" and value in (None, ""):
            raise problem("missing metadata.name")
        if value is not None and not isinstance(value, str):
            raise problem(f"metadata.{field} must be a string, not {_a(value)}")
    return Manifest(key=Key.of(obj), obj=obj, origin=where)


def _a(value: Any) -> str:
    """The YAML type of `value`, for messages that must not show the value."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    names = {str: "a string", list: "a list", dict: "a mapping", type(None): "null"}
    return names.get(type(value), f"a {type(value).__name__}")


def _yaml_problem(err: yaml.YAMLError, origin: str, document: int, data: bytes) -> str:
    """PyYAML's problem and line, without the snippet of the document it would quote."""
    if isinstance(err, yaml.MarkedYAMLError):
        mark = err.problem_mark or err.context_mark
        line = mark.line + 1 if mark is not None else None
        text = ": ".join(p for p in (err.context, err.problem) if p)
    elif isinstance(err, yaml.reader.ReaderError):
        line = data[: err.position].count(b"\n") + 1
        text = str(err.reason)
    else:
        line, text = None, type(err).__name__
    return f"{Origin(origin, document, line)}: not YAML: {text}"


def _describe(key: Key) -> str:
    where = f"{key.namespace}/{key.name}" if key.namespace else key.name
    return f"{key.qualified_kind} {where}"
