"""`kustomize build` of one folder, after checking what it would load.

Owns: the Command (`kustomize build --load-restrictor=LoadRestrictionsRootOnly
./<dir>`, never --enable-alpha-plugins, --enable-exec or --network;
`--enable-helm --helm-command <the pinned helm>` only when the graph has
helmCharts entries, which the walk reads and checks through render.helmcharts
and whose charts that module places before the build, so that kustomize
never pulls one; a HelmChartInflationGenerator configured any other way is
refused), and the walk over the kustomization graph that comes first: every
resource, base, component, generator, transformer and validator entry, and
every file a kustomization names (helm values files too), must stay inside
the repository; remote entries (render.remote decides which) are refused
unless render.gitbases fetched them before (then kustomize clones them from a
local mirror, offline); a
kustomization that includes itself (directly or through others) is refused
before kustomize runs. The folders walked are checked for symlinks that leave
the repository, and the kustomizations and YAML files they name are screened
by core.manifests.screen: kustomize expands YAML aliases without a limit, so
an alias bomb would otherwise only meet the time and memory limits.
Refuses: judging what the files mean (kustomize does, under its own
root-only load restrictor) and running anything (sandbox.run does).
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from gitops_bot.core.objects import manifests
from gitops_bot.core.objects.model import Manifest, Origin
from gitops_bot.errors import RenderError
from gitops_bot.render import helmcharts, remote, sandbox

FILE_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
ORIGIN_ANNOTATION = "config.kubernetes.io/origin"  # kustomize's, with buildMetadata
ORIGIN_METADATA = "originAnnotations"
_MAX_KUSTOMIZATION_BYTES = 1 << 20
# Entries that kustomize loads as a file or as another kustomization (local or remote).
_BASES = ("resources", "bases", "components", "generators", "transformers", "validators")
# Entries that are file paths only; kustomize never fetches these.
_FILE_LISTS = ("patchesStrategicMerge", "crds", "configurations")
_FILE_ITEMS = ("patches", "patchesJson6902", "replacements")  # items with a `path`
_GENERATORS = ("configMapGenerator", "secretGenerator")  # items with files/envs/env
GIT_BASE_FIELDS = ("resources", "bases", "components")  # where a remote git base is fetched


def find(folder: Path) -> Path | None:
    """The kustomization file of `folder`, if it has one."""
    return next((folder / n for n in FILE_NAMES if (folder / n).is_file()), None)


def command(
    path: str,
    *,
    root: Path,
    tools: sandbox.Tools,
    limits: sandbox.Limits = sandbox.DEFAULT_LIMITS,
    fetched: frozenset[str] = frozenset(),
    env: Mapping[str, str] | None = None,
) -> sandbox.Command:
    """The Command that builds `path` (repository-relative), once its graph is checked;
    `fetched`: the remote entries render.gitbases fetched, `env` its git configuration."""
    return build(path, root=root, tools=tools, limits=limits, fetched=fetched, env=env)[0]


def build(
    path: str,
    *,
    root: Path,
    tools: sandbox.Tools,
    limits: sandbox.Limits = sandbox.DEFAULT_LIMITS,
    fetched: frozenset[str] = frozenset(),
    env: Mapping[str, str] | None = None,
) -> tuple[sandbox.Command, tuple[helmcharts.Chart, ...]]:
    """The Command that builds `path` (repository-relative), once its graph is
    checked, and the helmCharts entries of the graph, whose charts
    helmcharts.prepare must place before it runs; `fetched` and `env` as for command."""
    root = root.resolve()
    start = (root / path).resolve()
    if not start.is_relative_to(root):
        raise RenderError(f"{path} points outside the repository")
    walk = _Walk(root, limits, fetched)
    walk.visit(start, ())
    sandbox.check_tree(root, paths=walk.folders)
    if walk.charts and walk.remote:
        # --enable-helm holds for the whole build, and the walk cannot read a remote
        # base's helmCharts: kustomize would try to pull their charts (and fail).
        raise RenderError(
            f"{path}: helmCharts ({walk.charts[0].said}) and remote entries in one "
            "kustomization graph are refused: a remote base's charts would not be prepared"
        )
    # One flag for the whole build: every helmCharts entry of the graph was read.
    helm = ("--enable-helm", "--helm-command", tools.path("helm")) if walk.charts else ()
    command = sandbox.Command(
        argv=(
            tools.path("kustomize"),
            "build",
            "--load-restrictor=LoadRestrictionsRootOnly",
            *helm,
            f"./{path}",
        ),
        cwd=str(root),
        what=f"kustomize build {path}",
        env=tuple(sorted((env or {}).items())),
    )
    return command, tuple(walk.charts)


def traced(
    command: sandbox.Command, path: str, *, root: Path, folder: Path
) -> sandbox.Command | None:
    """`command`, built through a kustomization written in `folder` (outside the
    repository) that asks kustomize for origin annotations; None where that
    could change the output.

    Kustomize records where each object came from only when the top
    kustomization has buildMetadata; the wrapper has it, and names the
    repository's kustomization as its one resource. Only the top
    kustomization's sortOptions and buildMetadata act on the build, so they are
    copied; a top kustomization with an openapi file (read relative to the top,
    which the wrapper is not) or that asks for origin annotations itself is
    built as it is, with no origins.
    """
    root = root.resolve()
    file = find(root / path)
    if file is None:  # command() refused it already
        return None
    top = _load(file, file.relative_to(root).as_posix())
    build_metadata = top.get("buildMetadata") or []
    if (
        "openapi" in top
        or top.get("kind", "Kustomization") != "Kustomization"
        or not isinstance(build_metadata, list)
        or ORIGIN_METADATA in build_metadata
    ):
        return None
    wrapper = {
        "resources": [os.path.relpath(root / path, folder.resolve())],
        "buildMetadata": [ORIGIN_METADATA, *build_metadata],
    }
    if "sortOptions" in top:
        wrapper["sortOptions"] = top["sortOptions"]
    (folder / "kustomization.yaml").write_text(yaml.safe_dump(wrapper), encoding="utf-8")
    argv = (*command.argv[:-1], str(folder.resolve()))
    return dataclasses.replace(command, argv=argv)


def origins(found: Iterable[Manifest], *, root: Path, folder: Path) -> tuple[Manifest, ...]:
    """`found`, built by a `traced` command, without kustomize's origin annotation and
    with the origin it names: the repository file and the line of the document (or
    of the generator entry) that produced each object."""
    sources = _Sources(root.resolve(), folder.resolve())
    return tuple(sources.origin(manifest) for manifest in found)


# libyaml's safe loader when PyYAML has it: the origin pass parses one annotation per object.
_C_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Sources:
    """The files that origin annotations name, each read once."""

    def __init__(self, root: Path, folder: Path) -> None:
        self.root, self.folder = root, folder
        self.documents: dict[str, tuple[Manifest, ...]] = {}
        self.told: dict[str, Any] = {}  # annotation text -> parsed (many objects share one)
        self.nodes: dict[str, yaml.Node | None] = {}  # generator file -> its composed YAML

    def origin(self, manifest: Manifest) -> Manifest:
        obj = dict(manifest.obj)
        metadata = dict(obj.get("metadata") or {})
        annotations = dict(metadata.get("annotations") or {})
        text = annotations.pop(ORIGIN_ANNOTATION, None)
        if text is None:
            return manifest
        if annotations:
            metadata["annotations"] = annotations
        else:
            metadata.pop("annotations", None)
        obj["metadata"] = metadata
        where = self.where(text, manifest) or manifest.origin
        return dataclasses.replace(manifest, obj=obj, origin=where)

    def where(self, text: str, manifest: Manifest) -> Origin | None:
        if text not in self.told:
            try:
                self.told[text] = yaml.load(text, Loader=_C_LOADER)  # noqa: S506
            except yaml.YAMLError:
                self.told[text] = None
        told = self.told[text]
        if not isinstance(told, Mapping) or told.get("repo"):
            return None  # an allow-listed remote base: its files are not in the repository
        if isinstance(configured := told.get("configuredIn"), str):
            by = told.get("configuredBy")
            generator = by.get("kind") if isinstance(by, Mapping) else None
            file = self.file(configured)
            if file is None:
                return None
            return Origin(file, 0, self.generator_line(file, generator, manifest.key.name))
        path = told.get("path")
        file = self.file(path) if isinstance(path, str) else None
        if file is None:
            return None
        document = self.document(file, manifest)
        return Origin(file) if document is None else document.origin

    def file(self, told: str) -> str | None:
        """The repository path of a path kustomize gave relative to the wrapper."""
        path = Path(os.path.normpath(self.folder / told))
        return path.relative_to(self.root).as_posix() if path.is_relative_to(self.root) else None

    def parsed(self, file: str) -> tuple[Manifest, ...]:
        if file not in self.documents:
            try:
                text = _read(self.root / file, file, _MAX_KUSTOMIZATION_BYTES * 32)
                self.documents[file] = manifests.parse(text, origin=file)
            except (OSError, RenderError):
                self.documents[file] = ()
        return self.documents[file]

    def document(self, file: str, manifest: Manifest) -> Manifest | None:
        """The document of `file` that became `manifest`: same kind, and its name is
        the built name or part of it (namePrefix, nameSuffix)."""
        same_kind = [d for d in self.parsed(file) if d.key.kind == manifest.key.kind]
        exact = [d for d in same_kind if d.key.name == manifest.key.name]
        inside = [d for d in same_kind if d.key.name in manifest.key.name]
        longest = max((len(d.key.name) for d in inside), default=0)
        for matches in (exact, [d for d in inside if len(d.key.name) == longest], same_kind):
            if len(matches) == 1:
                return matches[0]
        return None

    def generator_line(self, file: str, generator: Any, built: str) -> int | None:
        """The line of the generator entry (ConfigMapGenerator: a configMapGenerator
        item) whose name the built name contains (namePrefix, hash suffix)."""
        field = {"ConfigMapGenerator": "configMapGenerator", "SecretGenerator": "secretGenerator"}
        if file not in self.nodes:
            try:
                text = (self.root / file).read_text(encoding="utf-8")
                self.nodes[file] = yaml.compose(text, Loader=_C_LOADER)
            except (OSError, UnicodeDecodeError, yaml.YAMLError):
                self.nodes[file] = None
        node = self.nodes[file]
        if node is None:
            return None
        found: list[tuple[int, int]] = []  # (length of the name, line)
        for key, value in node.value if isinstance(node, yaml.MappingNode) else ():
            if key.value != field.get(generator) or not isinstance(value, yaml.SequenceNode):
                continue
            for item in value.value:
                for k, v in item.value if isinstance(item, yaml.MappingNode) else ():
                    if k.value == "name" and isinstance(v.value, str) and v.value in built:
                        found.append((len(v.value), int(item.start_mark.line) + 1))
        return max(found)[1] if found else None


class _Walk:
    """The kustomizations reachable from one folder, checked on the way."""

    def __init__(self, root: Path, limits: sandbox.Limits, fetched: frozenset[str]) -> None:
        self.root, self.limits, self.fetched = root, limits, fetched
        self.folders: list[Path] = []
        self.remote = False  # a fetched remote base is in the graph
        self.charts: list[helmcharts.Chart] = []

    def visit(self, folder: Path, chain: tuple[Path, ...]) -> None:
        """Check the kustomization in `folder`, reached through the folders in `chain`."""
        if folder in self.folders:
            return  # a base shared by two overlays: checked once
        file = find(folder)
        if file is None:
            if not chain:
                raise RenderError(
                    f"{self.name(folder)} has no kustomization file ({', '.join(FILE_NAMES)})"
                )
            return  # kustomize says what is missing, naming the entry
        self.folders.append(folder)
        where, chain = self.name(file), (*chain, folder)
        data = _load(file, where)
        self.charts += helmcharts.read(data, root=self.root, folder=folder, where=where)
        for entry in _strings(data.get("generators")):  # inline ones too, even on one line
            _no_generator_config(entry, where, "generators")
        for field, entry in _entries(data, _BASES):
            if reason := remote.why(entry):
                self.admit(where, field, entry, reason)
                continue
            target = self.local(folder, where, field, entry)
            if target in chain:
                cycle = " -> ".join(self.name(f) for f in (*chain[chain.index(target) :], target))
                raise RenderError(f"{where}: {field} entry {entry} makes a cycle: {cycle}")
            if target.is_dir():
                self.visit(target, chain)
            else:
                self.screen(target, field)
        for field, entry in _files(data):
            if reason := remote.why(entry):  # kustomize fetches http(s) files, patches included
                self.admit(where, field, entry, reason)
                continue
            target = self.local(folder, where, field, entry)
            if field not in _GENERATORS:  # generator files are data, not YAML
                self.screen(target)

    def screen(self, file: Path, field: str = "") -> None:
        if file.is_file():
            text = _read(file, self.name(file), self.limits.max_output_bytes)
            manifests.screen(text, origin=self.name(file), max_bytes=self.limits.max_output_bytes)
            _no_generator_config(text, self.name(file), field)

    def admit(self, where: str, field: str, entry: str, reason: str) -> None:
        if entry in self.fetched and field in GIT_BASE_FIELDS:
            self.remote = True
            return  # cloned by kustomize from the mirror render.gitbases made
        raise RenderError(
            f"{where}: {field} entry {entry} is remote ({reason}); only git bases named in "
            f"{', '.join(GIT_BASE_FIELDS)} are fetched before the render: vendor it into "
            "the repository"
        )

    def local(self, folder: Path, where: str, field: str, entry: str) -> Path:
        try:
            target = (folder / entry).resolve()
        except (OSError, RuntimeError):  # RuntimeError: a symlink loop, before Python 3.13
            raise RenderError(f"{where}: {field} entry {entry} is a symbolic link loop") from None
        if not target.is_relative_to(self.root):
            raise RenderError(f"{where}: {field} entry {entry} points outside the repository")
        return target

    def name(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix() or "."


# A HelmChartInflationGenerator configured as a generator (a file, an inline
# entry, or a resource of a generator kustomization) would pull the chart
# itself; only helmCharts entries are prepared.
_GENERATOR_CONFIG = re.compile(rf"kind[\"']?\s*:\s*[\"']?{helmcharts.GENERATOR_KIND}\b")


def _no_generator_config(text: str, where: str, field: str) -> None:
    if _GENERATOR_CONFIG.search(text):
        via = f"{field} entry" if field else "file"
        raise RenderError(
            f"{where}: a {helmcharts.GENERATOR_KIND} {via} is refused; "
            "write the chart as a helmCharts entry of the kustomization"
        )


def _read(file: Path, where: str, max_bytes: int) -> str:
    if file.stat().st_size > max_bytes:
        raise RenderError(f"{where}: larger than the limit of {max_bytes} bytes")
    try:
        return file.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise RenderError(f"{where}: not UTF-8 text (at byte {err.start})") from None


def _load(file: Path, where: str) -> Mapping[str, Any]:
    text = _read(file, where, _MAX_KUSTOMIZATION_BYTES)
    manifests.screen(text, origin=where, max_bytes=_MAX_KUSTOMIZATION_BYTES)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or type(err).__name__  # never the snippet
        raise RenderError(f"{where}{line}: not YAML: {problem}") from None
    if not isinstance(data, Mapping):
        raise RenderError(f"{where}: a kustomization must be a mapping")
    return data


def _entries(data: Mapping[str, Any], fields: tuple[str, ...]) -> Iterator[tuple[str, str]]:
    """(field, entry) for the string entries of list fields; inline objects are skipped."""
    for field in fields:
        items = data.get(field)
        for item in items if isinstance(items, list) else ():
            if isinstance(item, str) and "\n" not in item:  # inline patches hold newlines
                yield field, item


def _files(data: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(field, path) for every file path a kustomization names outside its bases."""
    yield from _entries(data, _FILE_LISTS)
    for item in _mappings(data.get("helmCharts")):  # kustomize's loader reads the values files
        for file in (
            *_strings([item.get("valuesFile")]),
            *_strings(item.get("additionalValuesFiles")),
        ):
            yield "helmCharts", file
    for field in _FILE_ITEMS:
        for item in _mappings(data.get(field)):
            if isinstance(item.get("path"), str):
                yield field, item["path"]
    for field in _GENERATORS:
        for item in _mappings(data.get(field)):
            for key in ("files", "envs"):
                files = item.get(key)
                for file in files if isinstance(files, list) else ():
                    if isinstance(file, str):
                        yield field, file.rpartition("=")[2]  # "key=path" names a key
            if isinstance(item.get("env"), str):
                yield field, item["env"]
    openapi = data.get("openapi")
    if isinstance(openapi, Mapping) and isinstance(openapi.get("path"), str):
        yield "openapi", openapi["path"]


def _strings(value: Any) -> list[str]:
    return (
        [item for item in value if isinstance(item, str) and item]
        if isinstance(value, list)
        else []
    )


def _mappings(value: Any) -> list[Mapping[str, Any]]:
    return [item for item in value if isinstance(item, Mapping)] if isinstance(value, list) else []


def read(file: Path, where: str) -> Mapping[str, Any]:
    """The kustomization in `file`, screened and parsed (RenderError naming `where`)."""
    return _load(file, where)
