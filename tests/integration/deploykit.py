"""The deploy/ tests' overlays of the shipped manifests, built by the real kustomize."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import yaml

from gitops_bot.testing.binaries import Binaries

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def build(binaries: Binaries, folder: Path) -> list[dict[str, Any]]:
    out = subprocess.run(
        [binaries.path("kustomize"), "build", str(folder)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def overlay(
    tmp_path: Path,
    *,
    namespace: str | None,
    components: tuple[str, ...],
    base: bool = True,
) -> Path:
    """A user's overlay: deploy/ (unless not `base`), these components, this namespace."""
    folder = tmp_path / "overlay"
    folder.mkdir()
    doc: dict[str, Any] = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        **({"resources": [os.path.relpath(DEPLOY, folder)]} if base else {}),
        "components": [os.path.relpath(DEPLOY / "components" / c, folder) for c in components],
    }
    if namespace:
        doc["namespace"] = namespace
    (folder / "kustomization.yaml").write_text(yaml.safe_dump(doc))
    return folder
