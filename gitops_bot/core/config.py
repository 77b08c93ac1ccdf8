"""The repository's `.gitops.yaml`: schema, parsing and validation.

Owns: the configuration values (frozen dataclasses) and `parse`, which turns
the file's text into them or raises ConfigError naming the file, line and
key. Refuses: reading files (the caller brings the text) and deciding how a
source is rendered (render/ does that).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class SourceKind(enum.Enum):
    AUTO = "path"  # kustomize if the folder has a kustomization, helm if Chart.yaml, else plain
    KUSTOMIZE = "kustomize"
    PLAIN = "plain"
    HELM = "helm"


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
