"""Chart dependencies from Helm chart repositories and OCI registries, fetched
before the render.

Owns: `prepare_chart`, which takes a chart folder's dependencies as its lock
pins them (render.chartlock), following `file://` dependencies, fetches each
http(s) one the SourcePolicy admits (the repository's index.yaml, then the
archive it names, through render.download) and each `oci://` one (the tag's
manifest, then its chart layer's blob, render.oci; pinned to the manifest's
digest) into a content-addressed cache (`<cache>/sha256/<hex>.tgz`, written
atomically, verified against the index's or the manifest's digest on
download and again on every hit) and places the archive in the chart's
charts/ folder, so that the sandboxed, offline `helm template` finds it;
`fetch_archive`, the index-then-archive step alone (render.helmcharts uses it
for kustomize `helmCharts`); `resolve_floating`, a helm version range to the
newest version the index has that satisfies it (for an environment that
allows floating sources); and `check_repository`, which URLs are chart
repositories fetched here.
Refuses: floating versions without a lock entry (a range, `*`, empty),
repositories outside the allow-list, `@alias`/`alias:` repositories (there
is no repositories.yaml here), URLs with a user name or password, an index
entry without a sha256 digest, and resolving or rewriting Chart.lock (`helm
dependency update` does that). A dependency already in charts/ (an archive
`<name>-<version>.tgz`, or a folder whose Chart.yaml names it) is the
repository's own content: it is not fetched, and an archive is returned with
its sha256, so the pins stay the same when a checkout is prepared twice.
"""

from __future__ import annotations

import dataclasses
import hashlib
import posixpath
import re
import shutil
import tempfile
import urllib.parse
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import semantic_version
import yaml

from gitops_bot.core.objects.model import SourcePin
from gitops_bot.errors import RenderError
from gitops_bot.render import chartlock, download, oci, remote
from gitops_bot.render.credentials import Credentials

DEFAULT_CACHE = Path.home() / ".cache" / "gitops-bot" / "sources"
# A chart name or version that is safe in a file name in charts/ (no `/`: it comes from the PR).
_PLAIN = re.compile(r"[A-Za-z0-9_.+-]+")


@dataclass(frozen=True)
class SourcePolicy:
    """Which remote sources may be fetched, where they are kept, and the limits."""

    allow: tuple[str, ...] = ()  # URL prefixes that may be fetched
    cache: Path | None = None  # content-addressed cache; None: DEFAULT_CACHE
    timeout_s: float = 30.0  # per request
    max_bytes: int = 50 << 20  # per chart archive
    max_index_bytes: int = 20 << 20  # per repository index.yaml
    # What the operator configured for private sources (render.credentials);
    # never from the repository. Kept out of the repr: it holds secrets.
    credentials: Credentials | None = field(default=None, repr=False)
    # A floating reference (a git branch, a remote's default branch) may be
    # resolved and used: the environment's policy.floating-sources, as the base
    # branch (or the puller's tracked commit) says.
    floating: bool = False

    @property
    def cache_dir(self) -> Path:
        return self.cache if self.cache is not None else DEFAULT_CACHE

    def headers_for(self, url: str) -> Mapping[str, str]:
        """The credential headers configured for `url` ({} when none are);
        render.download sends them to that URL only."""
        return self.credentials.headers(url) if self.credentials is not None else {}

    def git_env_for(self, url: str) -> dict[str, str]:
        """The environment that gives `git` the credentials for the remote `url`."""
        return self.credentials.git_env(url) if self.credentials is not None else {}

    @property
    def secrets(self) -> frozenset[str]:
        """Every spelling of the credentials' secrets: render.render scrubs its errors
        of them."""
        return self.credentials.secrets if self.credentials is not None else frozenset()

    def admits(self, url: str) -> bool:
        """Whether an allow-list entry admits `url` (download.admitted; an `oci://`
        entry admits the references below it and the registry URLs for them)."""
        if oci.is_oci(url):
            return oci.admitted(url, self.allow)
        return download.admitted(url, self.allow + oci.http_prefixes(self.allow))


Pinned = SourcePin  # what prepare_chart pinned, in the core's words


def prepare_chart(root: Path, chart: str, policy: SourcePolicy) -> tuple[Pinned, ...]:
    """Fetch every remote dependency of the chart folder `chart` (repository-relative,
    inside root; `file://` dependencies too) into the cache, verify it, and place the
    archive in <chart>/charts/ so an offline `helm template` finds it. Returns what
    was pinned (vendored archives included), sorted."""
    root = root.resolve()
    pins: set[Pinned] = set()
    for folder, dep in _dependencies(root, chart):
        pin = _prepare(root, folder, dep, policy)
        if pin is not None:
            pins.add(pin)
    return tuple(sorted(pins, key=lambda p: (p.chart, p.name, p.version, p.repository)))


def _dependencies(root: Path, start: str) -> Iterator[tuple[str, chartlock.Dependency]]:
    """(chart folder, dependency) for the chart and its `file://` dependencies."""
    pending, seen = [start], set[str]()
    while pending:
        folder = _inside(root, pending.pop())
        if folder in seen:
            continue
        seen.add(folder)
        for dep in chartlock.dependencies(root, folder):
            local = remote.chart_dependency(dep.repository)
            if local is not None:
                pending.append(posixpath.normpath(posixpath.join(folder, local)))
            else:
                yield folder, dep


def _inside(root: Path, rel: str) -> str:
    real = (root / rel).resolve()
    if not real.is_relative_to(root):
        raise RenderError(f"chart {rel}: the path escapes the repository")
    return real.relative_to(root).as_posix()


def _list(doc: Any, key: str) -> list[dict[str, Any]]:
    value = doc.get(key) if isinstance(doc, dict) else None
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _prepare(
    root: Path, folder: str, dep: chartlock.Dependency, policy: SourcePolicy
) -> Pinned | None:
    version = dep.version or "(no version)"
    where = f"chart {folder}: dependency {dep.name} {version} from {download.shown(dep.repository)}"
    if not _PLAIN.fullmatch(dep.name):
        raise RenderError(f"{where}: not a chart name helm would write in a file name")
    charts = root / folder / "charts"
    if not charts.resolve().is_relative_to(root):
        raise RenderError(f"{where}: {folder}/charts escapes the repository")
    vendored = _vendored(charts, dep, where)
    if vendored is not None:
        shown = download.shown(dep.repository)
        return Pinned(folder, dep.name, dep.version, shown, vendored) if vendored else None
    if not dep.repository:
        raise RenderError(f"{where}: not in {folder}/charts, and no repository to fetch it from")
    _check_source(dep, policy, where)
    if not dep.locked and not chartlock.is_exact(dep.version):  # floating, and allowed
        resolved = resolve_floating(dep.repository, dep.name, dep.version, policy, where)
        dep = dataclasses.replace(dep, version=resolved)
    if not _PLAIN.fullmatch(dep.version):
        raise RenderError(f"{where}: not a chart version helm would write in a file name")
    if oci.is_oci(dep.repository):
        return _prepare_oci(charts, folder, dep, policy, where)
    archive, digest = fetch_archive(dep.repository, dep.name, dep.version, policy, where)
    charts.mkdir(exist_ok=True)
    _atomic_copy(archive, charts / f"{dep.name}-{dep.version}.tgz")
    return Pinned(folder, dep.name, dep.version, dep.repository, f"sha256:{digest}")


def fetch_archive(
    repository: str, name: str, version: str, policy: SourcePolicy, where: str
) -> tuple[Path, str]:
    """The cached archive of chart `name` at the exact `version` from the chart
    repository at `repository` (checked and admitted by the caller), fetched into
    the cache if it is not there, and its sha256 (hex). Errors start with `where`."""
    entry = _index_entry(repository, name, version, policy, where)
    first = _first(entry.get("urls"))
    if not first:
        raise RenderError(f"{where}: the repository index names no URL for it")
    url = urllib.parse.urljoin(repository.rstrip("/") + "/", first)
    if not policy.admits(url):
        raise RenderError(
            f"{where}: the archive {download.shown(url)} is outside the allow-list; {ADMIT}"
        )
    digest = str(entry.get("digest") or "").removeprefix("sha256:").lower()
    if not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise RenderError(f"{where}: the repository index gives no sha256 digest for it")
    return _cached(policy.cache_dir, digest) or _download(url, digest, policy, where), digest


def _prepare_oci(
    charts: Path, folder: str, dep: chartlock.Dependency, policy: SourcePolicy, where: str
) -> Pinned:
    chart = oci.resolve(
        oci.reference(dep.repository, dep.name, dep.version, where),
        admits=policy.admits,
        headers=policy.headers_for,
        timeout_s=policy.timeout_s,
        where=where,
    )
    if chart.size > policy.max_bytes:
        raise RenderError(
            f"{where}: the manifest says the chart is {chart.size} bytes, "
            f"more than the {policy.max_bytes} allowed"
        )
    archive = _cached(policy.cache_dir, chart.sha256) or _download(
        chart.blob, chart.sha256, policy, where, headers=chart.headers, says="the manifest"
    )
    charts.mkdir(exist_ok=True)
    _atomic_copy(archive, charts / f"{dep.name}-{dep.version}.tgz")
    return Pinned(folder, dep.name, dep.version, dep.repository, chart.digest)


ADMIT = (
    "admit it with sources.allow in the base branch's .gitops.yaml or the bot's --allow-source flag"
)


def _vendored(charts: Path, dep: chartlock.Dependency, where: str) -> str | None:
    """The digest of a vendored archive, "" for a vendored folder, None if neither."""
    archive = charts / f"{dep.name}-{dep.version}.tgz"
    if _PLAIN.fullmatch(dep.version):  # a range names no archive
        if archive.is_symlink():  # its digest would tell what a file outside holds
            raise RenderError(f"{where}: charts/{archive.name} is a symlink; vendor the archive")
        if archive.is_file():
            return f"sha256:{_sha256(archive)}"
    for chart_file in charts.glob("*/Chart.yaml") if charts.is_dir() else ():
        try:
            doc = yaml.safe_load(chart_file.read_text(encoding="utf-8"))
        except (yaml.YAMLError, OSError, UnicodeDecodeError):
            continue  # not a chart helm can load: it says so when it renders
        if isinstance(doc, dict) and doc.get("name") == dep.name:
            return ""
    return None


def _check_source(dep: chartlock.Dependency, policy: SourcePolicy, where: str) -> None:
    repository = dep.repository
    if oci.is_oci(repository):
        if problem := oci.check(repository):
            raise RenderError(f"{where}: {problem}")
        target = f"{repository.rstrip('/')}/{dep.name}"
        floating = False  # a registry's tags are not resolved as a range here
    else:
        check_repository(repository, where)
        target = repository.rstrip("/") + "/"
        floating = policy.floating
    if not dep.locked and not chartlock.is_exact(dep.version) and not floating:
        raise RenderError(
            f"{where}: {NOT_EXACT} and no Chart.lock pins it; "
            "pin an exact version or run `helm dependency update` and commit Chart.lock"
            + (f", or {FLOATING}" if not oci.is_oci(repository) else "")
        )
    if not policy.admits(target):
        raise RenderError(f"{where}: the repository is not in the allow-list; {ADMIT}")


NOT_EXACT = "not an exact version"
FLOATING = "allow floating sources for this environment (policy.floating-sources: true)"


def check_repository(repository: str, where: str) -> None:
    """Refuse a chart repository URL that is not a plain http(s) one (the allow-list
    is the caller's check)."""
    if repository.startswith(("@", "alias:")):
        raise RenderError(
            f"{where}: repository aliases need a repositories.yaml, which is not read here; "
            "write the repository's URL"
        )
    parts = urllib.parse.urlsplit(repository)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RenderError(f"{where}: not an http(s) chart repository URL (nor an oci:// registry)")
    if parts.username is not None or parts.password is not None:
        raise RenderError(f"{where}: credentials in the URL are refused; the URL must name none")
    if parts.query or parts.fragment:
        raise RenderError(f"{where}: a chart repository URL has no query or fragment")


def _index_entry(
    repository: str, name: str, version: str, policy: SourcePolicy, where: str
) -> dict[str, Any]:
    versions = _index_versions(repository, name, policy, where)
    for entry in versions:
        if str(entry.get("version", "")).removeprefix("v") == version.removeprefix("v"):
            return entry
    have = ", ".join(str(e.get("version")) for e in versions[:5]) or "none"
    raise RenderError(f"{where}: the repository index has no such version (it has: {have})")


def resolve_floating(
    repository: str, name: str, constraint: str, policy: SourcePolicy, where: str
) -> str:
    """The newest version of chart `name` in the repository's index that satisfies
    `constraint` (helm's ranges: `^1.2`, `~1.2.3`, `>=1.0 <2.0`, `1.x`, `||`; empty
    or `*`: the newest release); for a floating source the environment allows."""
    # Masterminds' `,` is npm's space; `>= 1.0` is `>=1.0` to both.
    spec = re.sub(r"([<>=~^])\s+", r"\1", " ".join(constraint.replace(",", " ").split())) or "*"
    try:
        wanted = semantic_version.NpmSpec(spec)
    except ValueError:
        raise RenderError(f"{where}: {constraint!r} is not a version range helm reads") from None
    found: list[tuple[semantic_version.Version, str]] = []
    for entry in _index_versions(repository, name, policy, where):
        text = str(entry.get("version", ""))
        try:
            version = semantic_version.Version(text.removeprefix("v"))
        except ValueError:
            continue  # not semver: helm would not pick it either
        if version in wanted:
            found.append((version, text))
    if not found:
        raise RenderError(f"{where}: no version in the repository index satisfies {constraint!r}")
    return max(found)[1]


def _index_versions(
    repository: str, name: str, policy: SourcePolicy, where: str
) -> list[dict[str, Any]]:
    url = repository.rstrip("/") + "/index.yaml"
    with tempfile.TemporaryFile() as body:
        download.get(
            url,
            body,
            admits=policy.admits,
            timeout_s=policy.timeout_s,
            limit=policy.max_index_bytes,
            where=where,
            headers=policy.headers_for,
        )
        body.seek(0)
        try:
            index = yaml.load(body, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506
        except yaml.YAMLError as err:
            raise RenderError(f"{where}: index.yaml is not valid YAML") from err
    entries = index.get("entries") if isinstance(index, dict) else None
    return _list(entries, name)


def _first(urls: Any) -> str:
    return str(urls[0]) if isinstance(urls, list) and urls else ""


def _cached(cache: Path, digest: str) -> Path | None:
    path = cache / "sha256" / f"{digest}.tgz"
    if not path.is_file():
        return None
    if _sha256(path) == digest:
        return path
    path.unlink(missing_ok=True)  # damaged: fetched again
    return None


def _download(
    url: str,
    digest: str,
    policy: SourcePolicy,
    where: str,
    *,
    headers: oci.Headers | None = None,
    says: str = "the repository index",
) -> Path:
    folder = policy.cache_dir / "sha256"
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=folder, prefix=".part-", delete=False) as part:
        try:
            got = download.get(
                url,
                part,
                admits=policy.admits,
                timeout_s=policy.timeout_s,
                limit=policy.max_bytes,
                where=where,
                headers=headers or policy.headers_for,
            )
            part.close()
            if got != digest:
                raise RenderError(
                    f"{where}: digest mismatch: {download.shown(url)} has sha256:{got}, "
                    f"{says} says sha256:{digest}"
                )
            target = folder / f"{digest}.tgz"
            Path(part.name).replace(target)
            return target
        finally:
            Path(part.name).unlink(missing_ok=True)


def _atomic_copy(source: Path, target: Path) -> None:
    with tempfile.NamedTemporaryFile(dir=target.parent, prefix=".part-", delete=False) as part:
        try:
            part.close()
            shutil.copyfile(source, part.name)
            Path(part.name).chmod(0o644)  # as git checks files out
            Path(part.name).replace(target)
        finally:
            Path(part.name).unlink(missing_ok=True)


def _sha256(path: Path) -> str:
    with path.open("rb") as data:
        return hashlib.file_digest(data, "sha256").hexdigest()


def with_allowed(policy: SourcePolicy, more: tuple[str, ...]) -> SourcePolicy:
    """`policy` admitting the prefixes `more` too (a configuration's sources.allow)."""
    extra = tuple(dict.fromkeys(p for p in more if p not in policy.allow))
    return dataclasses.replace(policy, allow=policy.allow + extra) if extra else policy
