"""Kustomize `helmCharts` entries, checked, and their charts fetched before the build.

Owns: `Chart` (one helmCharts entry: the kustomization file it is in, its
folder, the chart home and the fields that say which chart), `read` (the
entries of one kustomization, checked), and `prepare`, which fetches each
entry with a `repo` that the SourcePolicy admits (render.fetch.fetch_archive:
the repository's index.yaml, then the archive, through the content-addressed
cache) and extracts it to `<chartHome>/<name>-<version>/<name>`, the folder
where kustomize's HelmChartInflationGenerator (absChartHome,
chartExistsLocally) finds a chart and so never runs `helm pull`. An entry
without `repo` is vendored: kustomize reads `<chartHome>/<name>`, which must
be there, and its own chart dependencies are fetched as a helm source's are
(render.fetch.prepare_chart).
Refuses: an entry without an exact `version` when it has a `repo` (kustomize
would pull the newest), `oci://` charts (not yet), repository URLs that
render.fetch refuses, names and versions that are not plain file names,
a chartHome outside the kustomization's folder, helmGlobals.configHome
(helm's configuration is the sandbox's), the deprecated
helmChartInflationGenerator field, and archives holding anything but
files and folders below one top folder, or more than the size caps.
An entry with a `repo` is always fetched, replacing whatever the checkout
holds at its folder, so that what renders is what the pin names; once per
checkout and process: environments rendered at once (planner.plan) that share
the chart find it placed (by this process, at this folder, with this digest)
and read it, instead of replacing it under a render that is reading it.
"""

from __future__ import annotations

import posixpath
import re
import shutil
import tarfile
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gitops_bot.core.objects.model import SourcePin
from gitops_bot.errors import RenderError
from gitops_bot.render import chartlock, download, fetch

DEFAULT_HOME = "charts"  # kustomize's types.HelmDefaultHome
GENERATOR_KIND = "HelmChartInflationGenerator"
_PLAIN = re.compile(r"[A-Za-z0-9_.+-]+")  # a name or version that is one file name
_MAX_MEMBERS = 10_000
_MAX_EXTRACTED_BYTES = 256 << 20
# Placing a chart folder is one rmtree and rename: two renders of one checkout
# sharing the chart must not do it at once, nor while the other's kustomize
# reads it. A lock per folder (striped: bounded) and what this process placed
# where, with the folder's identity (a checkout's own folder, or one of an
# earlier checkout at a reused path, is never taken for it). Bounded too: only
# the folders of renders in flight need remembering.
_LOCKS = tuple(threading.Lock() for _ in range(64))
_PLACED: OrderedDict[Path, tuple[str, int, int]] = OrderedDict()
_PLACED_MAX = 4096
_PLACED_LOCK = threading.Lock()


@dataclass(frozen=True)
class Chart:
    """One helmCharts entry of a kustomization."""

    where: str  # the kustomization file, repository-relative, for messages
    folder: str  # the kustomization's folder, repository-relative ("." for the top)
    home: str  # helmGlobals.chartHome, repository-relative
    name: str
    version: str  # "" when the entry names none
    repo: str  # "" for a vendored chart

    @property
    def said(self) -> str:
        """The entry, for messages."""
        return f"{self.where}: helmCharts entry {self.name or '(no name)'}"

    @property
    def target(self) -> str:
        """Where kustomize looks for the chart, repository-relative."""
        if self.repo and self.version:
            return posixpath.join(self.home, f"{self.name}-{self.version}", self.name)
        return posixpath.join(self.home, self.name)


def read(data: Mapping[str, Any], *, root: Path, folder: Path, where: str) -> tuple[Chart, ...]:
    """The helmCharts entries of the kustomization `data` (in `folder`, the file
    `where`), each checked for what kustomize would fetch by itself."""
    if data.get("helmChartInflationGenerator"):
        raise RenderError(
            f"{where}: helmChartInflationGenerator is deprecated and not read here; "
            "write its charts as helmCharts entries (`kustomize edit fix`)"
        )
    entries = data.get("helmCharts")
    if not entries:
        return ()
    if not isinstance(entries, list):
        raise RenderError(f"{where}: helmCharts must be a list")
    home = _home(data.get("helmGlobals"), root=root, folder=folder, where=where)
    rel = folder.relative_to(root).as_posix() or "."
    return tuple(_chart(entry, where=where, folder=rel, home=home) for entry in entries)


def _home(globals_: Any, *, root: Path, folder: Path, where: str) -> str:
    if globals_ is None:
        globals_ = {}
    if not isinstance(globals_, Mapping):
        raise RenderError(f"{where}: helmGlobals must be a mapping")
    if globals_.get("configHome"):
        raise RenderError(
            f"{where}: helmGlobals.configHome is refused: helm's configuration "
            "is the render sandbox's, not the repository's"
        )
    home = globals_.get("chartHome") or DEFAULT_HOME
    if not isinstance(home, str) or Path(home).is_absolute():
        raise RenderError(
            f"{where}: helmGlobals.chartHome {home} must be a folder of the kustomization"
        )
    try:
        resolved = (folder / home).resolve()
    except (OSError, RuntimeError):  # RuntimeError: a symlink loop, before Python 3.13
        raise RenderError(f"{where}: helmGlobals.chartHome {home} is a symlink loop") from None
    if not resolved.is_relative_to(folder):
        raise RenderError(
            f"{where}: helmGlobals.chartHome {home} is outside the kustomization's folder"
        )
    return resolved.relative_to(root).as_posix()


def _chart(entry: Any, *, where: str, folder: str, home: str) -> Chart:
    if not isinstance(entry, Mapping):
        raise RenderError(f"{where}: a helmCharts entry must be a mapping")
    name, version, repo = (_text(entry, key, where) for key in ("name", "version", "repo"))
    chart = Chart(where, folder, home, name, version, repo)
    if not _PLAIN.fullmatch(name) or name in (".", ".."):
        raise RenderError(f"{chart.said}: name is not a chart name kustomize can use as a folder")
    if not repo:
        return chart  # vendored: kustomize reads <chartHome>/<name> and never pulls
    if repo.lower().startswith("oci://"):
        raise RenderError(f"{chart.said}: repo {repo}: OCI charts are not supported yet")
    fetch.check_repository(repo, f"{chart.said}: repo {download.shown(repo)}")
    if not version:
        return chart  # floating: the newest, if the environment allows it (prepare)
    if not chartlock.is_exact(version) or not _PLAIN.fullmatch(version):
        raise RenderError(
            f"{chart.said}: version {version}: {fetch.NOT_EXACT}; pin an exact version"
        )
    return chart


def _text(entry: Mapping[str, Any], key: str, where: str) -> str:
    value = entry.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise RenderError(f"{where}: helmCharts entry {key} must be a string")
    return value.strip()


def prepare(
    root: Path, charts: tuple[Chart, ...], policy: fetch.SourcePolicy
) -> tuple[SourcePin, ...]:
    """Place the chart of every entry where kustomize looks for it (fetching the
    ones with a `repo`, outside the sandbox); what was pinned, sorted."""
    root = root.resolve()
    pins: set[SourcePin] = set()
    for chart in charts:
        if chart.repo:
            pins.add(_fetched(root, chart, policy))
        else:
            pins.update(_vendored(root, chart, policy))
    return tuple(sorted(pins))


def _vendored(root: Path, chart: Chart, policy: fetch.SourcePolicy) -> tuple[SourcePin, ...]:
    folder = root / chart.target
    if not (folder / "Chart.yaml").is_file():
        raise RenderError(f"{chart.said}: no chart at {chart.target}, and no repo to fetch it from")
    return fetch.prepare_chart(root, chart.target, policy)


def _fetched(root: Path, chart: Chart, policy: fetch.SourcePolicy) -> SourcePin:
    said = f"{chart.said} {chart.version} from {download.shown(chart.repo)}"
    if not chart.version and not policy.floating:
        raise RenderError(
            f"{chart.said}: version: none given, so kustomize would pull the newest; "
            f"pin an exact version, or {fetch.FLOATING}"
        )
    if not policy.admits(chart.repo.rstrip("/") + "/"):
        raise RenderError(f"{said}: the repository is not in the allow-list; {fetch.ADMIT}")
    # No version: kustomize reads <chartHome>/<name>, where the newest is placed.
    version = chart.version or fetch.resolve_floating(chart.repo, chart.name, "", policy, said)
    archive, digest = fetch.fetch_archive(chart.repo, chart.name, version, policy, said)
    parent = (root / chart.target).parent
    parent.mkdir(parents=True, exist_ok=True)
    if not parent.resolve().is_relative_to(root / chart.home):
        raise RenderError(f"{said}: {parent.relative_to(root)} leaves the chart home")
    target = parent.resolve() / chart.name
    with _LOCKS[hash(target) % len(_LOCKS)]:
        if _placed(target) != digest:
            _place(archive, target, said)
            _remember(target, digest)
    return SourcePin(chart.folder, chart.name, version, chart.repo, f"sha256:{digest}")


def _place(archive: Path, target: Path, said: str) -> None:
    """The chart of `archive` at `target`, replacing whatever is there."""
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".part-") as staging:
        top = _extract(archive, Path(staging), said)
        if target.is_symlink() or target.is_file():
            target.unlink()
        elif target.exists():
            shutil.rmtree(target)
        top.rename(target)


def _placed(target: Path) -> str | None:
    """The digest of the chart this process placed at `target`, if the folder
    there is still the one it placed."""
    with _PLACED_LOCK:
        known = _PLACED.get(target)
    if known is None:
        return None
    try:
        stat = target.lstat()
    except OSError:
        return None
    return known[0] if (stat.st_ino, stat.st_mtime_ns) == known[1:] else None


def _remember(target: Path, digest: str) -> None:
    stat = target.lstat()
    with _PLACED_LOCK:
        _PLACED[target] = (digest, stat.st_ino, stat.st_mtime_ns)
        _PLACED.move_to_end(target)
        while len(_PLACED) > _PLACED_MAX:
            _PLACED.popitem(last=False)


def _extract(archive: Path, into: Path, said: str) -> Path:
    """Extract the chart `archive` into `into`; the one top folder it holds."""
    try:
        with tarfile.open(archive, mode="r:gz") as tar:
            members = list(_members(tar, said))
            tar.extractall(into, members=members, filter="data")
    except (tarfile.TarError, OSError, EOFError) as err:
        raise RenderError(f"{said}: reading the chart archive: {err}") from None
    tops = list(into.iterdir())
    if len(tops) != 1 or not tops[0].is_dir() or not (tops[0] / "Chart.yaml").is_file():
        raise RenderError(f"{said}: the archive is not one chart folder with a Chart.yaml")
    return tops[0]


def _members(tar: tarfile.TarFile, said: str) -> Iterator[tarfile.TarInfo]:
    """The archive's members, checked one header at a time, before their data is read."""
    count = size = 0
    tops: set[str] = set()
    while (member := tar.next()) is not None:
        count += 1
        size += member.size
        if count > _MAX_MEMBERS or size > _MAX_EXTRACTED_BYTES:
            raise RenderError(
                f"{said}: the archive holds more than {_MAX_MEMBERS} files or "
                f"{_MAX_EXTRACTED_BYTES} bytes"
            )
        if not (member.isfile() or member.isdir()):
            raise RenderError(f"{said}: the archive holds {member.name}, not a file or folder")
        parts = Path(member.name).parts
        if not parts or parts[0] in ("/", "..") or ".." in parts:
            raise RenderError(f"{said}: the archive holds {member.name}, outside its folder")
        tops.add(parts[0])
        yield member
    if len(tops) != 1:
        raise RenderError(f"{said}: the archive is not one chart folder")
