"""Kustomize `helmCharts` with the real kustomize and helm: the chart of an entry
with a `repo` is fetched from a chart repository on 127.0.0.1 (built with the
pinned helm) before the build, placed where kustomize looks, and the build runs
offline in the sandbox with --enable-helm; what kustomize would fetch by
itself is refused before it runs.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from gitops_bot.cli import cli
from gitops_bot.core.objects.model import Render, SourcePin
from gitops_bot.core.repo.config import Environment, Source, SourceKind
from gitops_bot.errors import RenderError
from gitops_bot.render import kustomize, sandbox
from gitops_bot.render import render as render_mod
from gitops_bot.render.fetch import SourcePolicy
from gitops_bot.render.render import Tools
from gitops_bot.testing.binaries import Binaries
from tests.integration import pullerkit
from tests.integration.chartrepo import ChartRepo, helm, serving, write
from tests.integration.pullerkit import Remote

WEB = {
    "Chart.yaml": "apiVersion: v2\nname: web\nversion: {version}\n",
    "values.yaml": "greeting: hello\n",
    "crds/crd.yaml": """\
        apiVersion: apiextensions.k8s.io/v1
        kind: CustomResourceDefinition
        metadata:
          name: widgets.example.com
        spec:
          group: example.com
          names: {kind: Widget, plural: widgets}
          scope: Namespaced
          versions:
          - name: v1
            served: true
            storage: true
            schema: {openAPIV3Schema: {type: object}}
    """,
    "templates/cm.yaml": """\
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: {{ .Release.Name }}-web
          namespace: {{ .Release.Namespace }}
        data:
          version: {{ .Chart.Version | quote }}
          greeting: {{ .Values.greeting | quote }}
          color: {{ .Values.color | default "none" | quote }}
    """,
}
KUSTOMIZATION = "deploy/k/kustomization.yaml"


@pytest.fixture(scope="module")
def web(binaries: Binaries, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """web 1.0.0 and 1.1.0, packaged by the pinned helm."""
    out = tmp_path_factory.mktemp("web")
    for version in ("1.0.0", "1.1.0"):
        source = out / "src" / version / "web"
        write(source, {k: v.replace("{version}", version) for k, v in WEB.items()})
        helm(binaries, "package", str(source), "--destination", str(out / "archives"))
    return out / "archives"


@pytest.fixture
def repo(binaries: Binaries, web: Path, tmp_path: Path) -> Iterator[ChartRepo]:
    folder = tmp_path / "served"
    folder.mkdir()
    for archive in web.iterdir():
        (folder / archive.name).write_bytes(archive.read_bytes())
    with serving(ChartRepo(folder)) as served:
        helm(binaries, "repo", "index", str(folder), "--url", served.url)
        yield served


def _entry(repo: ChartRepo, **more: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": "web", "repo": repo.url, "version": "1.0.0"}
    entry |= {"releaseName": "x", "namespace": "web-ns"}
    return entry | more


def _kustomization(root: Path, *entries: dict[str, Any], **more: Any) -> None:
    doc = {"helmCharts": list(entries), **more}
    write(root, {KUSTOMIZATION: yaml.safe_dump(doc), "deploy/k/values.yaml": "greeting: hi\n"})


def _render(
    binaries: Binaries, root: Path, policy: SourcePolicy, *, limits: sandbox.Limits | None = None
) -> Render:
    env = Environment("dev", Source(kind=SourceKind.KUSTOMIZE, path="deploy/k"), namespace="shop")
    tools = Tools(helm=binaries.path("helm"), kustomize=binaries.path("kustomize"))
    return render_mod.render(
        env, root=root, tools=tools, sources=policy, limits=limits or sandbox.DEFAULT_LIMITS
    )


def _policy(repo: ChartRepo, tmp_path: Path, *, allow: bool = True) -> SourcePolicy:
    return SourcePolicy(allow=(repo.url,) if allow else (), cache=tmp_path / "cache")


def _objects(render: Render) -> dict[str, dict[str, Any]]:
    return {f"{m.key.kind}/{m.key.name}": dict(m.obj) for m in render.manifests}


def _refusal(binaries: Binaries, root: Path, policy: SourcePolicy) -> str:
    with pytest.raises(RenderError) as caught:
        _render(binaries, root, policy)
    return str(caught.value)


def test_a_helm_chart_from_a_repository_renders_offline_with_its_values_and_is_pinned(
    binaries: Binaries, repo: ChartRepo, tmp_path: Path
) -> None:
    root = tmp_path / "repo"
    _kustomization(
        root,
        _entry(repo, valuesFile="values.yaml", valuesInline={"color": "blue"}, includeCRDs=True),
    )
    policy = _policy(repo, tmp_path)

    rendered = _render(binaries, root, policy)

    objects = _objects(rendered)
    assert set(objects) == {"ConfigMap/x-web", "CustomResourceDefinition/widgets.example.com"}
    config = objects["ConfigMap/x-web"]
    assert config["metadata"]["namespace"] == "web-ns"
    assert config["data"] == {"version": "1.0.0", "greeting": "hi", "color": "blue"}
    archive = (repo.folder / "web-1.0.0.tgz").read_bytes()
    digest = f"sha256:{hashlib.sha256(archive).hexdigest()}"
    assert rendered.sources == (SourcePin("deploy/k", "web", "1.0.0", repo.url, digest),)
    assert (root / "deploy/k/charts/web-1.0.0/web/Chart.yaml").is_file()
    assert repo.archive_requests() == ["/web-1.0.0.tgz"]

    # The same checkout again (two environments sharing a base): the same pins,
    # the archive from the cache.
    assert _render(binaries, root, policy).sources == rendered.sources
    assert repo.archive_requests() == ["/web-1.0.0.tgz"]

    # kustomize finds the chart and pulls nothing (in the sandbox it could not).
    tools = Tools(helm=binaries.path("helm"), kustomize=binaries.path("kustomize"))
    command, _ = kustomize.build("deploy/k", root=root, tools=tools)
    assert "--enable-helm" in command.argv
    assert command.argv[command.argv.index("--helm-command") + 1] == binaries.path("helm")
    seen = len(repo.requests)
    assert "x-web" in sandbox.run(command, limits=sandbox.DEFAULT_LIMITS)
    assert len(repo.requests) == seen


def test_a_version_bump_changes_the_pin(
    binaries: Binaries, repo: ChartRepo, tmp_path: Path
) -> None:
    policy = _policy(repo, tmp_path)
    before, after = tmp_path / "before", tmp_path / "after"
    _kustomization(before, _entry(repo))
    _kustomization(after, _entry(repo, version="1.1.0"))

    (old,) = _render(binaries, before, policy).sources
    bumped = _render(binaries, after, policy)

    (new,) = bumped.sources
    assert (old.version, new.version) == ("1.0.0", "1.1.0")
    assert old.digest != new.digest
    assert _objects(bumped)["ConfigMap/x-web"]["data"]["version"] == "1.1.0"


def test_a_repository_outside_the_allow_list_is_refused_naming_the_setting(
    binaries: Binaries, repo: ChartRepo, tmp_path: Path
) -> None:
    root = tmp_path / "repo"
    _kustomization(root, _entry(repo))

    said = _refusal(binaries, root, _policy(repo, tmp_path, allow=False))

    assert said.startswith(f"rendering dev: {KUSTOMIZATION}: helmCharts entry web 1.0.0 from ")
    assert repo.url.rstrip("/") in said
    assert "the repository is not in the allow-list; admit it with sources.allow" in said
    assert repo.requests == []


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {"version": None},
            "helmCharts entry web: version: none given, so kustomize would pull the newest; "
            "pin an exact version, or allow floating sources for this environment "
            "(policy.floating-sources: true)",
        ),
        (
            {"version": "^1.0.0"},
            "helmCharts entry web: version ^1.0.0: not an exact version; pin an exact version",
        ),
        (
            {"repo": "oci://registry.example.com/charts"},
            "helmCharts entry web: repo oci://registry.example.com/charts: "
            "OCI charts are not supported yet",
        ),
        (
            {"name": "../web"},
            "helmCharts entry ../web: name is not a chart name kustomize can use as a folder",
        ),
    ],
)
def test_what_kustomize_would_fetch_by_itself_is_refused_before_it_runs(
    binaries: Binaries,
    repo: ChartRepo,
    tmp_path: Path,
    change: dict[str, Any],
    expected: str,
) -> None:
    root = tmp_path / "repo"
    entry = {k: v for k, v in (_entry(repo) | change).items() if v is not None}
    _kustomization(root, entry)

    said = _refusal(binaries, root, _policy(repo, tmp_path))

    assert said == f"rendering dev: {KUSTOMIZATION}: {expected}"
    assert repo.requests == []


@pytest.mark.parametrize(
    ("globals_", "expected"),
    [
        (
            {"chartHome": "../../outside"},
            "helmGlobals.chartHome ../../outside is outside the kustomization's folder",
        ),
        (
            {"chartHome": "/srv/charts"},
            "helmGlobals.chartHome /srv/charts must be a folder of the kustomization",
        ),
        (
            {"configHome": "helm"},
            "helmGlobals.configHome is refused: helm's configuration is the render "
            "sandbox's, not the repository's",
        ),
    ],
)
def test_helm_globals_that_leave_the_kustomization_are_refused(
    binaries: Binaries,
    repo: ChartRepo,
    tmp_path: Path,
    globals_: dict[str, str],
    expected: str,
) -> None:
    root = tmp_path / "repo"
    _kustomization(root, _entry(repo), helmGlobals=globals_)

    said = _refusal(binaries, root, _policy(repo, tmp_path))

    assert said == f"rendering dev: {KUSTOMIZATION}: {expected}"
    assert repo.requests == []


def test_values_files_outside_the_kustomization_are_refused(
    binaries: Binaries, repo: ChartRepo, tmp_path: Path
) -> None:
    root = tmp_path / "repo"
    _kustomization(root, _entry(repo, valuesFile="../../../outside.yaml"))
    (tmp_path / "outside.yaml").write_text("greeting: secret\n")

    said = _refusal(binaries, root, _policy(repo, tmp_path))
    assert said == (
        f"rendering dev: {KUSTOMIZATION}: helmCharts entry ../../../outside.yaml "
        "points outside the repository"
    )

    # Inside the repository but outside the kustomization: kustomize's root-only
    # load restrictor refuses it, naming the file.
    _kustomization(root, _entry(repo, valuesFile="../shared.yaml"))
    write(root, {"deploy/shared.yaml": "greeting: shared\n"})
    said = _refusal(binaries, root, _policy(repo, tmp_path))
    assert said.startswith("rendering dev: running kustomize build deploy/k: exit code 1")
    assert "deploy/shared.yaml" in said
    assert "is not in or below" in said


def test_a_vendored_chart_without_repo_renders_with_no_fetch(
    binaries: Binaries, repo: ChartRepo, tmp_path: Path
) -> None:
    root = tmp_path / "repo"
    _kustomization(root, {"name": "web", "releaseName": "x", "valuesInline": {"color": "red"}})
    write(
        root / "deploy/k/charts/web", {k: v.replace("{version}", "2.0.0") for k, v in WEB.items()}
    )

    rendered = _render(binaries, root, _policy(repo, tmp_path, allow=False))

    assert rendered.sources == ()
    data = _objects(rendered)["ConfigMap/x-web"]["data"]
    assert data == {"version": "2.0.0", "greeting": "hello", "color": "red"}
    assert repo.requests == []

    (root / "deploy/k/charts/web/Chart.yaml").unlink()
    said = _refusal(binaries, root, _policy(repo, tmp_path))
    assert said == (
        f"rendering dev: {KUSTOMIZATION}: helmCharts entry web: no chart at "
        "deploy/k/charts/web, and no repo to fetch it from"
    )


def _tgz(members: list[tuple[str, bytes | None, str]]) -> bytes:
    """A gzipped tar of (name, data, symlink target): data None and a target for a link."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, data, link in members:
            info = tarfile.TarInfo(name)
            if data is None:
                info.type, info.linkname = tarfile.SYMTYPE, link
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


_CHART_FILE = b"apiVersion: v2\nname: web\nversion: 1.0.0\n"


@pytest.mark.parametrize(
    ("members", "expected"),
    [
        (
            [("web/Chart.yaml", _CHART_FILE, ""), ("web/templates/x.yaml", None, "/etc/passwd")],
            "the archive holds web/templates/x.yaml, not a file or folder",
        ),
        (
            [("web/Chart.yaml", _CHART_FILE, ""), ("../escape.yaml", b"x", "")],
            "the archive holds ../escape.yaml, outside its folder",
        ),
        (
            [("web/Chart.yaml", _CHART_FILE, ""), ("other/Chart.yaml", _CHART_FILE, "")],
            "the archive is not one chart folder",
        ),
    ],
)
def test_an_archive_is_extracted_only_into_its_chart_folder(
    binaries: Binaries,
    repo: ChartRepo,
    tmp_path: Path,
    members: list[tuple[str, bytes | None, str]],
    expected: str,
) -> None:
    archive = _tgz(members)
    (repo.folder / "web-1.0.0.tgz").write_bytes(archive)
    entry = {"version": "1.0.0", "urls": ["web-1.0.0.tgz"]}
    entry["digest"] = hashlib.sha256(archive).hexdigest()
    index = {"apiVersion": "v1", "entries": {"web": [{"name": "web", **entry}]}}
    (repo.folder / "index.yaml").write_text(yaml.safe_dump(index))
    root = tmp_path / "repo"
    _kustomization(root, _entry(repo))

    said = _refusal(binaries, root, _policy(repo, tmp_path))

    assert said == (
        f"rendering dev: {KUSTOMIZATION}: helmCharts entry web 1.0.0 from {repo.url}: {expected}"
    )
    assert not (tmp_path / "escape.yaml").exists()
    assert not (root / "deploy/k/charts/web-1.0.0/web").exists()
    assert [p.name for p in (root / "deploy/k/charts/web-1.0.0").iterdir()] == []


@pytest.mark.parametrize(
    "how",
    ["file", "inline", "deprecated"],
)
def test_a_chart_inflator_configured_otherwise_is_refused(
    binaries: Binaries, repo: ChartRepo, tmp_path: Path, how: str
) -> None:
    root = tmp_path / "repo"
    config = {"apiVersion": "builtin", "kind": "HelmChartInflationGenerator"}
    config |= {"metadata": {"name": "web"}, "name": "web", "repo": repo.url}
    text = yaml.safe_dump(config)
    kustomization: dict[str, Any] = {
        "file": {"generators": ["web.yaml"]},
        "inline": {"generators": [text]},
        "deprecated": {"helmChartInflationGenerator": [{"chartName": "web"}]},
    }[how]
    write(root, {KUSTOMIZATION: yaml.safe_dump(kustomization), "deploy/k/web.yaml": text})

    said = _refusal(binaries, root, _policy(repo, tmp_path))

    if how == "deprecated":
        assert "helmChartInflationGenerator is deprecated and not read here" in said
    else:
        where = "deploy/k/web.yaml" if how == "file" else KUSTOMIZATION
        assert said == (
            f"rendering dev: {where}: a HelmChartInflationGenerator generators entry is "
            "refused; write the chart as a helmCharts entry of the kustomization"
        )
    assert repo.requests == []


def test_plan_shows_the_helm_chart_a_kustomization_renders_and_its_bump(
    binaries: Binaries, repo: ChartRepo, tmp_path: Path
) -> None:
    def kustomization(version: str) -> dict[str, str | None]:
        doc = {"helmCharts": [_entry(repo, version=version)]}
        return {KUSTOMIZATION: yaml.safe_dump(doc)}

    config = {
        "version": 1,
        "environments": {"dev": {"kustomize": "deploy/k", "namespace": "shop"}},
        "sources": {"allow": [repo.url]},
    }
    remote = Remote(tmp_path / "git")
    remote.commit({".gitops.yaml": yaml.safe_dump(config), **kustomization("1.0.0")}, "base")
    remote.push()
    pullerkit.git(remote.work, "checkout", "-q", "-b", "change")
    remote.commit(kustomization("1.1.0"), "bump web")
    pullerkit.git(remote.work, "checkout", "-q", "main")

    def plan(*more: str) -> str:
        result = CliRunner().invoke(
            cli,
            [
                "plan",
                *("--repo", str(remote.work), "--base", "main", "--head", "change"),
                *("--source-cache", str(tmp_path / "cache")),
                *("--helm", binaries.path("helm"), "--kustomize", binaries.path("kustomize")),
                *more,
            ],
        )
        assert result.exit_code == 1, result.output
        return result.output

    (dev,) = json.loads(plan("--format", "json"))["environments"]
    assert dev["error"] is None
    (change,) = [c for c in dev["changes"] if c["action"] != "unchanged"]
    assert change["key"]["name"] == "x-web"
    (source,) = dev["sources"]
    assert (source["chart"], source["name"], source["changed"]) == ("deploy/k", "web", True)
    assert (source["before"]["version"], source["after"]["version"]) == ("1.0.0", "1.1.0")

    text = plan("--format", "text")
    assert f"web of deploy/k from {repo.url}: 1.0.0 (sha256:" in text
    assert "(changed)" in text


def test_helm_charts_with_a_fetched_remote_base_are_refused(
    binaries: Binaries, repo: ChartRepo, tmp_path: Path
) -> None:
    root = tmp_path / "repo"
    remote = "https://bases.example.com/org/base.git//x?ref=v1"
    _kustomization(root, _entry(repo), resources=[remote])
    tools = Tools(helm=binaries.path("helm"), kustomize=binaries.path("kustomize"))

    with pytest.raises(RenderError) as caught:
        kustomize.build("deploy/k", root=root, tools=tools, fetched=frozenset({remote}))

    assert str(caught.value) == (
        f"deploy/k: helmCharts ({KUSTOMIZATION}: helmCharts entry web) and "
        "remote entries in one kustomization graph are refused: a remote base's charts "
        "would not be prepared"
    )
    assert repo.requests == []


def test_an_entry_without_a_version_is_the_newest_when_the_environment_allows_floating(
    binaries: Binaries, repo: ChartRepo, tmp_path: Path
) -> None:
    root = tmp_path / "repo"
    _kustomization(root, {k: v for k, v in _entry(repo).items() if k != "version"})
    policy = dataclasses.replace(_policy(repo, tmp_path), floating=True)

    rendered = _render(binaries, root, policy)

    (pin,) = rendered.sources
    assert (pin.name, pin.version) == ("web", "1.1.0")  # the newest the index has
    assert _objects(rendered)["ConfigMap/x-web"]["data"]["version"] == "1.1.0"
    assert (root / "deploy/k/charts/web/Chart.yaml").is_file()  # where kustomize looks
