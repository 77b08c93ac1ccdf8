"""Chart dependencies fetched from a real Helm chart repository on 127.0.0.1.

The repository is built with the pinned helm (`helm package`, `helm repo
index`) and served by an HTTP server the test starts, which records every
request and can be told to redirect, to serve other bytes, or to leave out
Content-Length. After render.fetch.prepare_chart, the real sandboxed render
(no network, no `helm dependency build`) finds the dependency.
"""

from __future__ import annotations

import hashlib
import shutil
import socket
import time
from pathlib import Path

import pytest

from gitops_bot.core.repo.config import Environment, Source, SourceKind
from gitops_bot.errors import RenderError
from gitops_bot.render import render as render_mod
from gitops_bot.render.fetch import Pinned, SourcePolicy, prepare_chart
from gitops_bot.render.render import Tools
from gitops_bot.testing.binaries import Binaries
from tests.integration.chartrepo import (
    ChartRepo,
    helm,
    packaged,
    repo,
    umbrella,
    write,
)

__all__ = ["packaged", "repo"]  # fixtures


def _app(root: Path, *, version: str, repository: str, lock: str | None = None) -> None:
    write(root, umbrella(version, repository, lock))


def _policy(repo: ChartRepo, tmp_path: Path, **kw: object) -> SourcePolicy:
    return SourcePolicy(allow=(repo.url,), cache=tmp_path / "cache", **kw)  # type: ignore[arg-type]


def _lock(version: str, repository: str) -> str:
    return f"""\
        dependencies:
        - name: redis
          repository: {repository}
          version: {version}
        digest: sha256:0000
        generated: "2026-01-01T00:00:00Z"
    """


def _rendered(binaries: Binaries, root: Path) -> dict[str, str]:
    env = Environment("dev", Source(kind=SourceKind.HELM, path="deploy/app"), namespace="shop")
    tools = Tools(helm=binaries.path("helm"), kustomize=binaries.path("kustomize"))
    found = render_mod.render(env, root=root, tools=tools)
    return {m.key.name: str((m.obj.get("data") or {}).get("version")) for m in found.manifests}


def test_a_fetched_dependency_renders_offline_and_the_cache_is_hit_the_second_time(
    binaries: Binaries, repo: ChartRepo, tmp_path: Path
) -> None:
    root = tmp_path / "repo"
    _app(root, version="1.0.0", repository=repo.url)
    policy = _policy(repo, tmp_path)
    # Without the dependency, the offline render is helm's error.
    with pytest.raises(RenderError, match="redis"):
        _rendered(binaries, root)

    pins = prepare_chart(root, "deploy/app", policy)

    archive = root / "deploy/app/charts/redis-1.0.0.tgz"
    digest = "sha256:" + hashlib.sha256(archive.read_bytes()).hexdigest()
    assert pins == (Pinned("deploy/app", "redis", "1.0.0", repo.url, digest),)
    assert (tmp_path / "cache/sha256" / f"{digest.removeprefix('sha256:')}.tgz").is_file()
    assert repo.archive_requests() == ["/redis-1.0.0.tgz"]
    assert _rendered(binaries, root) == {"dev-app": "None", "dev-redis": "1.0.0"}

    # A fresh checkout, the same cache: the index is read, the archive is not.
    again = tmp_path / "again"
    _app(again, version="1.0.0", repository=repo.url)
    assert prepare_chart(again, "deploy/app", policy) == pins
    assert repo.archive_requests() == ["/redis-1.0.0.tgz"]
    assert (again / "deploy/app/charts/redis-1.0.0.tgz").read_bytes() == archive.read_bytes()
    # The same checkout prepared twice: the placed archive counts as vendored, same pins.
    assert prepare_chart(root, "deploy/app", policy) == pins


def test_a_damaged_cache_entry_is_fetched_again(repo: ChartRepo, tmp_path: Path) -> None:
    root = tmp_path / "repo"
    _app(root, version="1.0.0", repository=repo.url)
    policy = _policy(repo, tmp_path)
    (pin,) = prepare_chart(root, "deploy/app", policy)
    cached = tmp_path / "cache/sha256" / f"{pin.digest.removeprefix('sha256:')}.tgz"
    cached.write_bytes(b"not the archive")
    other = tmp_path / "other"
    _app(other, version="1.0.0", repository=repo.url)

    assert prepare_chart(other, "deploy/app", policy) == (pin,)
    assert len(repo.archive_requests()) == 2
    assert cached.read_bytes() == (other / "deploy/app/charts/redis-1.0.0.tgz").read_bytes()


def _helm_lock(binaries: Binaries, repo: ChartRepo, root: Path, tmp_path: Path) -> None:
    """Chart.lock as the pinned helm writes it, while the repository serves only 1.0.0."""
    newer = repo.folder / "redis-1.1.0.tgz"
    kept = newer.read_bytes()
    newer.unlink()
    home = tmp_path / "helm-home"
    helm(binaries, "repo", "index", str(repo.folder), "--url", repo.url)
    helm(binaries, "dependency", "update", str(root / "deploy/app"), home=home)
    shutil.rmtree(root / "deploy/app/charts")  # what helm fetched: here prepare_chart fetches
    newer.write_bytes(kept)
    helm(binaries, "repo", "index", str(repo.folder), "--url", repo.url)
    repo.requests.clear()


def test_the_lock_pin_wins_over_a_range(
    binaries: Binaries, repo: ChartRepo, tmp_path: Path
) -> None:
    root = tmp_path / "repo"
    _app(root, version="^1.0.0", repository=repo.url)
    _helm_lock(binaries, repo, root, tmp_path)

    (pin,) = prepare_chart(root, "deploy/app", _policy(repo, tmp_path))

    assert pin.version == "1.0.0"  # though the index now has 1.1.0 too
    assert repo.archive_requests() == ["/redis-1.0.0.tgz"]
    assert _rendered(binaries, root)["dev-redis"] == "1.0.0"


def test_a_lock_whose_digest_helm_would_refuse_is_refused(
    binaries: Binaries, repo: ChartRepo, tmp_path: Path
) -> None:
    root = tmp_path / "repo"
    _app(root, version="^1.0.0", repository=repo.url)
    _helm_lock(binaries, repo, root, tmp_path)
    chart = root / "deploy/app/Chart.yaml"
    # Names, repositories and versions still agree; helm's digest does not.
    chart.write_text(chart.read_text() + "  condition: redis.enabled\n")

    _refused(root, _policy(repo, tmp_path), "Chart.lock is out of sync", "its digest", dep="")
    assert repo.requests == []


def test_a_vendored_folder_is_left_alone(repo: ChartRepo, tmp_path: Path) -> None:
    root = tmp_path / "repo"
    _app(root, version="1.1.0", repository=repo.url)
    write(root / "deploy/app/charts/redis", {"Chart.yaml": "apiVersion: v2\nname: redis\n"})

    assert prepare_chart(root, "deploy/app", _policy(repo, tmp_path)) == ()
    assert repo.requests == []


def test_file_dependencies_are_followed(repo: ChartRepo, tmp_path: Path) -> None:
    root = tmp_path / "repo"
    _app(root, version="1.1.0", repository=repo.url)
    write(
        root,
        {
            "deploy/top/Chart.yaml": """\
                apiVersion: v2
                name: top
                version: 0.1.0
                dependencies:
                - name: app
                  version: 0.1.0
                  repository: file://../app
            """
        },
    )

    pins = prepare_chart(root, "deploy/top", _policy(repo, tmp_path))

    assert [(p.chart, p.name, p.version) for p in pins] == [("deploy/app", "redis", "1.1.0")]
    assert (root / "deploy/app/charts/redis-1.1.0.tgz").is_file()


def test_a_redirect_inside_the_allow_list_is_followed(repo: ChartRepo, tmp_path: Path) -> None:
    root = tmp_path / "repo"
    repo.routes["/moved/index.yaml"] = ("redirect", f"{repo.url}index.yaml")
    _app(root, version="1.0.0", repository=f"{repo.url}moved")

    (pin,) = prepare_chart(root, "deploy/app", _policy(repo, tmp_path))

    assert pin.repository == f"{repo.url}moved"
    assert repo.requests == ["/moved/index.yaml", "/index.yaml", "/redis-1.0.0.tgz"]


def _refused(root: Path, policy: SourcePolicy, *fragments: str, dep: str = "redis") -> str:
    with pytest.raises(RenderError) as caught:
        prepare_chart(root, "deploy/app", policy)
    message = str(caught.value)
    prefix = f"chart deploy/app: dependency {dep}" if dep else "chart deploy/app: "
    for fragment in (prefix, *fragments):
        assert fragment in message, message
    assert not (root / "deploy/app/charts").exists() or not any(
        (root / "deploy/app/charts").iterdir()
    )
    return message


def test_an_out_of_sync_lock_is_refused(repo: ChartRepo, tmp_path: Path) -> None:
    root = tmp_path / "repo"
    other = "https://charts.example.com/"
    _app(root, version="^1.0.0", repository=repo.url, lock=_lock("1.0.0", other))
    _refused(root, _policy(repo, tmp_path), "Chart.lock is out of sync with Chart.yaml")
    # A dependency the lock lacks.
    (root / "deploy/app/Chart.lock").write_text("dependencies: []\n")
    _refused(root, _policy(repo, tmp_path), "Chart.lock is out of sync with Chart.yaml")
    assert repo.requests == []


def test_a_floating_version_without_a_lock_is_refused(repo: ChartRepo, tmp_path: Path) -> None:
    root = tmp_path / "repo"
    for version in ("^1.0.0", "~1", ">=1.0.0", "*", "1.x", ""):
        _app(root, version=version, repository=repo.url)
        _refused(root, _policy(repo, tmp_path), "helm dependency update", "pin")
        _refused(root, _policy(repo, tmp_path), "policy.floating-sources: true")
    assert repo.requests == []


@pytest.mark.parametrize(
    ("constraint", "resolved"),
    [("^1.0.0", "1.1.0"), ("~1.0.0", "1.0.0"), (">=1.0.0, <1.1.0", "1.0.0"), ("*", "1.1.0"),
     ("1.x", "1.1.0"), ("", "1.1.0"), ("1.0.0 || 1.1.0", "1.1.0"), (">= 1.0.0 < 1.1.0", "1.0.0")],
)  # fmt: skip
def test_a_floating_version_the_environment_allows_is_resolved_and_pinned(
    repo: ChartRepo, tmp_path: Path, constraint: str, resolved: str
) -> None:
    root = tmp_path / "repo"
    _app(root, version=constraint, repository=repo.url)

    (pin,) = prepare_chart(root, "deploy/app", _policy(repo, tmp_path, floating=True))

    assert (pin.name, pin.version) == ("redis", resolved)
    assert (root / f"deploy/app/charts/redis-{resolved}.tgz").is_file()
    archive = (repo.folder / f"redis-{resolved}.tgz").read_bytes()
    assert pin.digest == f"sha256:{hashlib.sha256(archive).hexdigest()}"


def test_a_floating_version_nothing_satisfies_is_a_clear_error(
    repo: ChartRepo, tmp_path: Path
) -> None:
    root = tmp_path / "repo"
    _app(root, version="^2.0.0", repository=repo.url)
    _refused(
        root,
        _policy(repo, tmp_path, floating=True),
        "no version in the repository index satisfies '^2.0.0'",
    )


def test_a_repository_outside_the_allow_list_is_refused(repo: ChartRepo, tmp_path: Path) -> None:
    root = tmp_path / "repo"
    _app(root, version="1.0.0", repository=repo.url)
    policy = SourcePolicy(allow=("https://charts.example.com/",), cache=tmp_path / "cache")
    message = _refused(root, policy, repo.url, "sources.allow", "--allow-source")
    assert "1.0.0" in message
    # A prefix is a prefix of whole names: 127.0.0.1:PORT is not 127.0.0.1:PORT0.
    assert not SourcePolicy(allow=(repo.url.rstrip("/"),)).admits(repo.url[:-1] + "0/index.yaml")
    for repository, what in (
        ("oci://registry.example.com/charts", "not in the allow-list"),
        ("@bitnami", "repositories.yaml"),
        ("alias:bitnami", "repositories.yaml"),
    ):
        _app(root, version="1.0.0", repository=repository)
        _refused(root, _policy(repo, tmp_path), what)
    assert repo.requests == []


def test_a_version_the_index_lacks_is_refused(repo: ChartRepo, tmp_path: Path) -> None:
    root = tmp_path / "repo"
    _app(root, version="9.9.9", repository=repo.url)
    _refused(root, _policy(repo, tmp_path), "9.9.9", "no such version", "1.1.0", "1.0.0")


def test_an_unreachable_host_is_named(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]  # closed again: nothing listens there
    url = f"http://127.0.0.1:{port}/"
    root = tmp_path / "repo"
    _app(root, version="1.0.0", repository=url)
    policy = SourcePolicy(allow=(url,), cache=tmp_path / "cache", timeout_s=5)
    _refused(root, policy, f"fetching {url}index.yaml", "refused")


def test_a_digest_mismatch_is_refused_and_nothing_is_kept(repo: ChartRepo, tmp_path: Path) -> None:
    root = tmp_path / "repo"
    repo.routes["/redis-1.0.0.tgz"] = ("bytes", (repo.folder / "redis-1.1.0.tgz").read_bytes())
    _app(root, version="1.0.0", repository=repo.url)
    _refused(root, _policy(repo, tmp_path), "digest mismatch")
    assert list((tmp_path / "cache/sha256").iterdir()) == []


def test_a_redirect_outside_the_allow_list_is_refused(repo: ChartRepo, tmp_path: Path) -> None:
    root = tmp_path / "repo"
    outside = "http://127.0.0.2:9/index.yaml"
    repo.routes["/index.yaml"] = ("redirect", outside)
    _app(root, version="1.0.0", repository=repo.url)
    _refused(root, _policy(repo, tmp_path), "redirected to 127.0.0.2:9")
    # The archive's own redirect is checked too.
    repo.routes.pop("/index.yaml")
    repo.routes["/redis-1.0.0.tgz"] = ("redirect", "http://127.0.0.2:9/redis-1.0.0.tgz")
    _refused(root, _policy(repo, tmp_path), "redirected to 127.0.0.2:9")
    # And a loop ends after 5 redirects.
    repo.routes["/redis-1.0.0.tgz"] = ("redirect", f"{repo.url}redis-1.0.0.tgz")
    _refused(root, _policy(repo, tmp_path), "more than 5 redirects")


def test_a_chart_over_the_size_cap_is_refused(repo: ChartRepo, tmp_path: Path) -> None:
    root = tmp_path / "repo"
    _app(root, version="1.0.0", repository=repo.url)
    small = _policy(repo, tmp_path, max_bytes=200)
    _refused(root, small, "more than the 200 allowed")
    # Without Content-Length, the bytes are counted while reading.
    data = (repo.folder / "redis-1.0.0.tgz").read_bytes()
    repo.routes["/redis-1.0.0.tgz"] = ("stream", data)
    _refused(root, small, "more than the 200 bytes allowed")
    # The index is capped too.
    _refused(root, _policy(repo, tmp_path, max_index_bytes=100), "index.yaml", "100")
    assert list((tmp_path / "cache/sha256").iterdir()) == []


def test_a_slow_answer_meets_the_deadline(repo: ChartRepo, tmp_path: Path) -> None:
    root = tmp_path / "repo"
    repo.routes["/index.yaml"] = ("slow", "")
    _app(root, version="1.0.0", repository=repo.url)
    started = time.monotonic()
    _refused(root, _policy(repo, tmp_path, timeout_s=1), "index.yaml: not done within 1 s")
    assert time.monotonic() - started < 2
