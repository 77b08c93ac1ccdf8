"""What an environment's render reads, found in a checkout.

Owns: walking a source the way its renderer will read it (the kustomization
graph; a helm chart with its values files and `file://` dependencies; a
folder of manifests) and answering with `core.affected.Inputs`, compacted so
that no entry is covered by another.
Refuses: rendering; remote references (render.remote decides which: URLs,
scp-like `user@host:path`, `github.com/...`; they are not files of this
repository, and the render refuses them); anything outside
the repository (`..` past the root, symlinks that leave it: the renderer's
sandbox refuses them, so here they are just not followed); and judging a
kustomization beyond the fields that name files.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from gitops_bot.core.repo.affected import Inputs
from gitops_bot.core.repo.config import Environment, SourceKind, normalize_path
from gitops_bot.errors import RenderError
from gitops_bot.render import kustomize, remote

KUSTOMIZATION_FILES = kustomize.FILE_NAMES
CHART_FILE = "Chart.yaml"
_CHART_DEPENDENCY_FILES = (CHART_FILE, "requirements.yaml")  # requirements: helm 2 charts
_DEFAULT_CHART_HOME = "charts"  # kustomize's default helmGlobals.chartHome
# Kustomizations and Chart.yaml files are small; a huge one in a change under
# review is refused rather than loaded.
MAX_READ_BYTES = 4 * 1024 * 1024


def inputs(env: Environment, *, root: Path) -> Inputs:
    """What rendering `env` reads in the checkout at `root`."""
    walk = _Walk(root.resolve(), env=env.name)
    source = env.source
    kind = source.kind if source.kind is not SourceKind.AUTO else detect(root, source.path)
    if kind is SourceKind.PLAIN:
        walk.tree(source.path)
    elif kind is SourceKind.HELM:
        walk.chart(source.path)
        for values in source.values:
            walk.file(values)
    else:
        walk.kustomization(source.path)
    return walk.result()


def detect(root: Path, folder: str) -> SourceKind:
    """How a `path:` source renders: kustomize, helm or plain, by what the folder holds."""

    def holds(name: str) -> bool:
        path = root / folder / name
        # A file reached through a symlink out of the repository is not there for the renderer.
        return path.is_file() and path.resolve().is_relative_to(root.resolve())

    if any(holds(name) for name in KUSTOMIZATION_FILES):
        return SourceKind.KUSTOMIZE
    if holds(CHART_FILE):
        return SourceKind.HELM
    return SourceKind.PLAIN


def _join(folder: str, ref: str) -> str | None:
    """`ref`, written in a file in `folder`, as a repository path; None if it is
    not a path of this repository (remote, absolute, outside, or inline YAML)."""
    if remote.is_remote(ref) or ref.startswith("/"):
        return None
    # Kustomize takes some list entries either as a file name or as inline YAML.
    if "\n" in ref or ref.lstrip().startswith("{"):
        return None
    return normalize_path(posixpath.join(folder, ref))


def _strings(value: Any) -> list[str]:
    # Wrong types are kustomize's to report when it renders; here they name no file.
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


# Kustomization fields whose entries are references: "resource" is a folder to
# walk (another kustomization) or a file; "file" is a file.
_LISTS = {
    "resources": "resource",
    "bases": "resource",  # before kustomize v5
    "components": "resource",
    "transformers": "resource",
    "generators": "resource",
    "validators": "resource",
    "patchesStrategicMerge": "file",
    "crds": "file",
    "configurations": "file",
}
# Kustomization fields whose entries are mappings, and their keys that name files.
_ITEMS = {
    "patches": ("path",),
    "patchesJson6902": ("path",),
    "replacements": ("path",),
    "configMapGenerator": ("files", "envs", "env"),
    "secretGenerator": ("files", "envs", "env"),
    "helmCharts": ("valuesFile", "additionalValuesFiles"),
}


def _references(doc: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(how, reference) for every file a kustomization names: how is "resource",
    "file" or "tree" (a folder and everything below it)."""
    for field, how in _LISTS.items():
        for ref in _strings(doc.get(field)):
            yield how, ref
    for field, keys in _ITEMS.items():
        for item in _dicts(doc.get(field)):
            for key in keys:
                for ref in _strings(item.get(key)):
                    # Generator files may be written "key=path".
                    yield "file", (ref.partition("=")[2] or ref) if key == "files" else ref
    openapi = doc.get("openapi")
    if isinstance(openapi, dict):
        for ref in _strings(openapi.get("path")):
            yield "file", ref
    if _dicts(doc.get("helmCharts")):
        helm_globals = doc.get("helmGlobals")
        home = helm_globals.get("chartHome") if isinstance(helm_globals, dict) else None
        yield "tree", home if isinstance(home, str) and home else _DEFAULT_CHART_HOME


class _Walk:
    """The inputs found so far, as real (symlink-free) repository paths."""

    def __init__(self, root: Path, *, env: str) -> None:
        self.root = root
        self.env = env
        self.files: set[str] = set()
        self.folders: set[str] = set()
        self.trees: set[str] = set()

    def locate(self, rel: str) -> str | None:
        """Where `rel` really is, as a repository path; None if outside the repository.

        A symlink on the way is an input of its own: git tracks the link, and
        changing it changes what is read.
        """
        prefix = ""
        for part in rel.split("/") if rel != "." else ():
            prefix = f"{prefix}/{part}" if prefix else part
            if (self.root / prefix).is_symlink():
                self.files.add(prefix)
                break  # past the first link, the lexical path is no path git knows
        try:
            real = (self.root / rel).resolve()
        except (OSError, RuntimeError):  # a symlink loop: nothing there can be read
            return None
        if not real.is_relative_to(self.root):
            return None
        return real.relative_to(self.root).as_posix()

    def file(self, rel: str) -> None:
        located = self.locate(rel)
        if located is not None:
            self.files.add(located)

    def tree(self, rel: str) -> None:
        located = self.locate(rel)
        if located is not None:
            self.trees.add(located)

    def read_yaml(self, rel: str) -> Any:
        """The YAML document in `rel`, recorded as an input; None if it is outside."""
        located = self.locate(rel)
        if located is None:
            return None
        self.files.add(located)
        doing = f"finding what {self.env} reads: reading {located}"
        path = self.root / located
        try:
            size = path.stat().st_size
            if size > MAX_READ_BYTES:
                raise RenderError(
                    f"{doing}: {size} bytes is more than the {MAX_READ_BYTES} allowed"
                )
            return yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.MarkedYAMLError as err:
            mark = err.problem_mark or err.context_mark
            line = f":{mark.line + 1}" if mark else ""
            problem = "; ".join(p for p in (err.context, err.problem) if p)
            raise RenderError(f"{doing}{line}: not valid YAML: {problem}") from err
        except (yaml.YAMLError, OSError, UnicodeDecodeError) as err:
            raise RenderError(f"{doing}: {err}") from err

    def kustomization(self, start: str) -> None:
        pending, seen = [start], set[str]()
        while pending:  # a loop, not recursion: overlays may nest deep, or form cycles
            folder = self.locate(pending.pop())
            if folder is None or folder in seen:
                continue
            seen.add(folder)
            self.folders.add(folder)
            doc = self._kustomization_doc(folder)
            for how, ref in _references(doc):
                target = _join(folder, ref)
                if target is None:
                    continue
                if how == "file":
                    self.file(target)
                elif how == "tree":
                    self.tree(target)
                elif (self.root / target).is_dir():
                    pending.append(target)
                elif (self.root / target).exists():
                    self.file(target)
                else:  # missing: whichever gets created there, a file or a folder, counts
                    self.tree(target)

    def _kustomization_doc(self, folder: str) -> dict[str, Any]:
        for name in KUSTOMIZATION_FILES:
            rel = name if folder == "." else f"{folder}/{name}"
            if (self.root / rel).is_file():
                doc = self.read_yaml(rel)
                if doc is None:
                    return {}
                if not isinstance(doc, dict):
                    raise RenderError(
                        f"finding what {self.env} reads: {rel}: expected a mapping, "
                        f"got {type(doc).__name__}"
                    )
                return doc
        return {}  # kustomize will say so when it renders; the folder is an input anyway

    def chart(self, start: str) -> None:
        pending, seen = [start], set[str]()
        while pending:
            folder = self.locate(pending.pop())
            if folder is None or folder in seen:
                continue
            seen.add(folder)
            self.trees.add(folder)
            for name in _CHART_DEPENDENCY_FILES:
                rel = name if folder == "." else f"{folder}/{name}"
                if not (self.root / rel).is_file():
                    continue
                doc = self.read_yaml(rel)
                for dep in _dicts(doc.get("dependencies") if isinstance(doc, dict) else None):
                    repository = dep.get("repository")
                    local = (
                        remote.chart_dependency(repository) if isinstance(repository, str) else None
                    )
                    target = _join(folder, local) if local is not None else None
                    if target is not None:
                        pending.append(target)

    def result(self) -> Inputs:
        """The inputs, without entries that others already cover."""
        trees = Inputs(trees=frozenset(self.trees))
        kept_trees = frozenset(
            t for t in self.trees if t == "." or not trees.matches(t.rpartition("/")[0] or ".")
        )
        folders = frozenset(f for f in self.folders if not trees.matches(f))
        cover = Inputs(folders=folders, trees=kept_trees)
        files = frozenset(f for f in self.files if not cover.matches(f))
        return Inputs(files=files, folders=folders, trees=kept_trees)
