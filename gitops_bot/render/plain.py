"""A folder of plain manifests, read as `kubectl apply -R -f <folder>` would.

Owns: finding the *.yaml, *.yml and *.json files under a folder (recursively,
in sorted order, through symlinked folders that stay in the repository),
reading them within the size limit, and parsing each with its
repository-relative path as origin.
Refuses: kustomization files (a folder with one is a kustomize source; one
further down is not a manifest), files or links that lead out of the
repository (sandbox.check_tree), and files over the output limit.
"""

from __future__ import annotations

import os
from pathlib import Path

from gitops_bot.core.objects import manifests
from gitops_bot.core.objects.model import Manifest
from gitops_bot.core.repo import bounds
from gitops_bot.errors import RenderError
from gitops_bot.render import kustomize, sandbox

SUFFIXES = (".yaml", ".yml", ".json")


def read(
    path: str, *, root: Path, limits: sandbox.Limits, meter: bounds.Meter | None = None
) -> tuple[Manifest, ...]:
    """The objects in the files under `path` (repository-relative); `meter`
    counts them across the files."""
    meter = meter or bounds.default_meter()
    root = root.resolve()
    sandbox.check_tree(root, paths=[root / path])
    found: list[Manifest] = []
    total = 0
    for name, file in files(root / path, root=root):
        size = file.stat().st_size
        total += size
        if size > limits.max_output_bytes or total > limits.max_output_bytes:
            raise RenderError(
                f"{name}: the manifests add up to more than {limits.max_output_bytes} bytes "
                "(the render output limit)"
            )
        try:
            text = file.read_text(encoding="utf-8")
        except UnicodeDecodeError as err:
            raise RenderError(f"{name}: not UTF-8 text (at byte {err.start})") from None
        found.extend(
            manifests.parse(text, origin=name, max_bytes=limits.max_output_bytes, meter=meter)
        )
    return tuple(found)


def files(folder: Path, *, root: Path) -> list[tuple[str, Path]]:
    """(repository-relative name, path) of the manifest files under `folder`, sorted by name."""
    found: dict[str, Path] = {}
    stack = [(folder, Path(os.path.normpath(folder)).relative_to(root))]
    seen: set[Path] = set()
    while stack:
        current, name = stack.pop()
        real = current.resolve()
        if real in seen:  # a symlinked folder seen before, or a loop
            continue
        seen.add(real)
        # Depth first in name order, so the first name of a folder linked twice is stable.
        for entry in sorted(os.scandir(current), key=lambda e: e.name, reverse=True):
            child, child_name = Path(entry.path), name / entry.name
            if entry.is_dir():
                stack.append((child, child_name))
            elif (
                entry.is_file()
                and entry.name.endswith(SUFFIXES)
                and entry.name not in kustomize.FILE_NAMES
            ):
                found[child_name.as_posix()] = child
    return sorted(found.items())
