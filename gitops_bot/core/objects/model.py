"""Resource identity and the rendered objects that flow through the core.

Owns: `Key` (what makes two objects "the same object" across renders and
the cluster), `Origin` (where a rendered object came from, for messages),
`Manifest` (one rendered object) and `Render` (one environment's rendered
desired state, with a stable hash that approvals bind to).
Refuses: parsing YAML or talking to anything; see render/ and cluster/.

Identity is group/kind/namespace/name, without the version: the API server
serves one object under every version of its group, so moving a manifest
from v1beta1 to v1 is a change of that object, not a delete and a create.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, order=True)
class Key:
    group: str  # "" for the core group
    kind: str
    namespace: str  # "" for cluster-scoped objects
    name: str

    @classmethod
    def of(cls, obj: Mapping[str, Any]) -> Key:
        """The key of a Kubernetes object given as a dict."""
        api_version = str(obj.get("apiVersion") or "")
        meta = obj.get("metadata") or {}
        return cls(
            group=api_version.rpartition("/")[0],
            kind=str(obj.get("kind") or ""),
            namespace=str(meta.get("namespace") or ""),
            name=str(meta.get("name") or ""),
        )

    @property
    def qualified_kind(self) -> str:
        """`Deployment.apps`, `ConfigMap`: kind and group, as kubectl spells it."""
        return f"{self.kind}.{self.group}" if self.group else self.kind

    def __str__(self) -> str:
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.kind} {where}"


@dataclass(frozen=True)
class Origin:
    """Where a rendered object came from: a file and a document in it."""

    file: str  # repository-relative path, or a description such as "helm template web"
    document: int = 0  # 0-based index of the YAML document in that stream
    line: int | None = None  # 1-based line where the document starts, if known

    def __str__(self) -> str:
        line = f":{self.line}" if self.line is not None else ""
        return f"{self.file}{line} (document {self.document + 1})"


@dataclass(frozen=True)
class Manifest:
    """One rendered object. `obj` is treated as immutable by everyone."""

    key: Key
    obj: Mapping[str, Any]
    origin: Origin

    @property
    def api_version(self) -> str:
        return str(self.obj.get("apiVersion") or "")


def canonical_json(obj: Any) -> str:
    """One spelling per value: sorted keys, no spaces; the input of hashes."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True, order=True)
class SourcePin:
    """A remote source a render used, as it was resolved: a chart dependency
    from a chart repository, pinned to a version and the archive's digest."""

    chart: str  # the repository-relative chart folder that depends on it
    name: str
    version: str
    repository: str
    digest: str  # "sha256:<hex>" of the archive


@dataclass(frozen=True)
class Render:
    """One environment's desired state at one commit, sorted by key, and the
    remote sources it was rendered from."""

    env: str
    manifests: tuple[Manifest, ...] = field(default_factory=tuple)
    sources: tuple[SourcePin, ...] = ()

    @classmethod
    def of(
        cls, env: str, manifests: Iterable[Manifest], sources: Iterable[SourcePin] = ()
    ) -> Render:
        return cls(
            env=env,
            manifests=tuple(sorted(manifests, key=lambda m: m.key)),
            sources=tuple(sorted(set(sources))),
        )

    def by_key(self) -> dict[Key, Manifest]:
        return {m.key: m for m in self.manifests}

    @property
    def hash(self) -> str:
        """sha256 of the normalized objects: what an approval is bound to."""
        digest = hashlib.sha256()
        for manifest in self.manifests:
            digest.update(canonical_json(manifest.obj).encode())
            digest.update(b"\n")
        return digest.hexdigest()
