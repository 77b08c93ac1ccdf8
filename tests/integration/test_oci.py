"""Chart dependencies from a real OCI registry on 127.0.0.1.

The registry is the CNCF distribution registry built from its pinned Go
module (testenv/registry), storing on the test's disk; the charts are
packaged and pushed by the pinned helm (`helm push --plain-http`). After
render.fetch.prepare_chart, the real sandboxed render finds the dependency;
`gitops-bot plan` shows the manifest digest it was pinned to.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import socket
import textwrap
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from gitops_bot.cli import cli
from gitops_bot.cluster.kube import Kube
from gitops_bot.core.repo.config import Environment, Source, SourceKind
from gitops_bot.errors import RenderError
from gitops_bot.render import credentials
from gitops_bot.render import render as render_mod
from gitops_bot.render.fetch import Pinned, SourcePolicy, prepare_chart
from gitops_bot.render.render import Tools
from gitops_bot.testing.binaries import Binaries
from tests.integration import pullerkit
from tests.integration.chartrepo import SUBCHART, helm, packaged, umbrella, write
from tests.integration.ociregistry import Registry, TokenGate, free_port, gated, registry
from tests.integration.pullerkit import Remote

__all__ = ["packaged", "registry"]  # fixtures


def _app(root: Path, *, version: str, repository: str) -> None:
    write(root, umbrella(version, repository))


def _policy(registry: Registry, tmp_path: Path, **kw: object) -> SourcePolicy:
    allow = (f"{registry.url}/",)
    return SourcePolicy(allow=allow, cache=tmp_path / "cache", **kw)  # type: ignore[arg-type]


def _rendered(binaries: Binaries, root: Path) -> dict[str, str]:
    env = Environment("dev", Source(kind=SourceKind.HELM, path="deploy/app"), namespace="shop")
    tools = Tools(helm=binaries.path("helm"), kustomize=binaries.path("kustomize"))
    found = render_mod.render(env, root=root, tools=tools)
    return {m.key.name: str((m.obj.get("data") or {}).get("version")) for m in found.manifests}


def _refused(root: Path, policy: SourcePolicy, *fragments: str) -> str:
    with pytest.raises(RenderError) as caught:
        prepare_chart(root, "deploy/app", policy)
    message = str(caught.value)
    for fragment in ("chart deploy/app: dependency redis", *fragments):
        assert fragment in message, message
    charts = root / "deploy/app/charts"
    assert not charts.exists() or not any(charts.iterdir())
    return message


def _package(binaries: Binaries, folder: Path, version: str, extra: str = "") -> Path:
    """redis `version`, its ConfigMap carrying `extra` too, packaged by the pinned helm."""
    source = folder / "src" / version / "redis"
    files = {k: v.replace("{version}", version) for k, v in SUBCHART.items()}
    if extra:
        files["templates/cm.yaml"] = (
            textwrap.dedent(files["templates/cm.yaml"]) + f"  extra: {extra}\n"
        )
    write(source, files)
    helm(binaries, "package", str(source), "--destination", str(folder / "archives"))
    return folder / "archives" / f"redis-{version}.tgz"


def test_an_oci_dependency_is_pinned_to_its_manifest_digest_and_renders_offline(
    binaries: Binaries, registry: Registry, packaged: Path, tmp_path: Path
) -> None:
    root = tmp_path / "repo"
    _app(root, version="1.0.0", repository=registry.url)
    policy = _policy(registry, tmp_path)

    pins = prepare_chart(root, "deploy/app", policy)

    digest, manifest = registry.manifest("redis", "1.0.0")
    assert pins == (Pinned("deploy/app", "redis", "1.0.0", registry.url, digest),)
    placed = (root / "deploy/app/charts/redis-1.0.0.tgz").read_bytes()
    assert placed == (packaged / "redis-1.0.0.tgz").read_bytes()
    (layer,) = manifest["layers"]  # type: ignore[misc]
    assert layer["digest"] == "sha256:" + hashlib.sha256(placed).hexdigest()
    cached = tmp_path / "cache/sha256" / f"{layer['digest'].removeprefix('sha256:')}.tgz"
    assert cached.read_bytes() == placed
    assert _rendered(binaries, root) == {"dev-app": "None", "dev-redis": "1.0.0"}

    # A fresh checkout, the same cache: the manifest is read again, the blob is
    # not (the registry's copy is damaged; the cache's is used).
    registry.blob_file(layer["digest"]).write_bytes(b"damaged")
    again = tmp_path / "again"
    _app(again, version="1.0.0", repository=registry.url)
    assert prepare_chart(again, "deploy/app", policy) == pins
    assert (again / "deploy/app/charts/redis-1.0.0.tgz").read_bytes() == placed


def test_a_moved_tag_is_another_pin(binaries: Binaries, registry: Registry, tmp_path: Path) -> None:
    root = tmp_path / "repo"
    _app(root, version="1.0.0", repository=registry.url)
    policy = _policy(registry, tmp_path)
    (before,) = prepare_chart(root, "deploy/app", policy)

    registry.push(_package(binaries, tmp_path / "moved", "1.0.0", extra="moved"))
    other = tmp_path / "other"
    _app(other, version="1.0.0", repository=registry.url)
    (after,) = prepare_chart(other, "deploy/app", policy)

    assert after.version == before.version
    assert after.digest != before.digest
    assert after.digest == registry.manifest("redis", "1.0.0")[0]
    assert "moved" in yaml.safe_dump(_rendered_objects(binaries, other))


def _rendered_objects(binaries: Binaries, root: Path) -> list[object]:
    env = Environment("dev", Source(kind=SourceKind.HELM, path="deploy/app"), namespace="shop")
    tools = Tools(helm=binaries.path("helm"), kustomize=binaries.path("kustomize"))
    return [m.obj for m in render_mod.render(env, root=root, tools=tools).manifests]


def test_a_lock_helm_wrote_for_an_oci_range_is_honoured_and_its_digest_checked(
    binaries: Binaries, registry: Registry, tmp_path: Path
) -> None:
    root = tmp_path / "repo"
    _app(root, version="~1.0.0", repository=registry.url)
    helm(
        binaries,
        "dependency",
        "update",
        str(root / "deploy/app"),
        "--plain-http",
        home=registry.home,
    )
    shutil.rmtree(root / "deploy/app/charts")  # what helm fetched: here prepare_chart fetches
    lock = yaml.safe_load((root / "deploy/app/Chart.lock").read_text())
    assert lock["dependencies"] == [
        {"name": "redis", "repository": registry.url, "version": "1.0.0"}
    ]
    registry.push(_package(binaries, tmp_path / "newer", "1.0.1"))  # in the range, not locked

    (pin,) = prepare_chart(root, "deploy/app", _policy(registry, tmp_path))

    assert (pin.version, pin.digest) == ("1.0.0", registry.manifest("redis", "1.0.0")[0])
    chart = root / "deploy/app/Chart.yaml"
    chart.write_text(chart.read_text() + "  condition: redis.enabled\n")
    shutil.rmtree(root / "deploy/app/charts")
    with pytest.raises(RenderError, match=r"Chart\.lock is out of sync .*its digest"):
        prepare_chart(root, "deploy/app", _policy(registry, tmp_path))


def test_a_version_with_build_metadata_is_the_tag_helm_pushed(
    binaries: Binaries, registry: Registry, tmp_path: Path
) -> None:
    registry.push(_package(binaries, tmp_path / "meta", "1.2.0+build.7"))
    root = tmp_path / "repo"
    _app(root, version="1.2.0+build.7", repository=registry.url)

    (pin,) = prepare_chart(root, "deploy/app", _policy(registry, tmp_path))

    assert pin.digest == registry.manifest("redis", "1.2.0_build.7")[0]
    assert _rendered(binaries, root)["dev-redis"] == "1.2.0+build.7"


def test_a_registry_outside_the_allow_list_is_refused(registry: Registry, tmp_path: Path) -> None:
    root = tmp_path / "repo"
    _app(root, version="1.0.0", repository=registry.url)
    for allow in (
        "oci://registry.example.com/charts/",
        f"http://{registry.host}/",  # a chart repository entry is not a registry entry
        f"oci://{registry.host}/chart/",  # a prefix is a prefix of whole names
        f"oci://{registry.host}/charts/other/",
    ):
        policy = SourcePolicy(allow=(allow,), cache=tmp_path / "cache")
        message = _refused(root, policy, registry.url, "sources.allow", "--allow-source")
        assert "not in the allow-list" in message
    # The entry admits the registry's own URLs for what is below it, nothing else.
    policy = _policy(registry, tmp_path)
    assert policy.admits(f"http://{registry.host}/v2/charts/redis/blobs/sha256:00")
    assert not policy.admits(f"http://{registry.host}/v2/other/redis/blobs/sha256:00")
    assert not SourcePolicy(allow=("oci://registry.example.com/charts/",)).admits(
        "http://registry.example.com/v2/charts/redis/manifests/1.0.0"
    ), "plain http is for loopback registries only"


def test_a_blob_whose_bytes_are_not_its_digest_is_refused(
    registry: Registry, tmp_path: Path
) -> None:
    _, manifest = registry.manifest("redis", "1.0.0")
    (layer,) = manifest["layers"]  # type: ignore[misc]
    blob = registry.blob_file(layer["digest"])
    data = bytearray(blob.read_bytes())
    data[-1] ^= 0xFF  # the same size, other bytes
    blob.write_bytes(bytes(data))
    root = tmp_path / "repo"
    _app(root, version="1.0.0", repository=registry.url)

    message = _refused(root, _policy(registry, tmp_path), "digest mismatch", "the manifest says")
    assert layer["digest"] in message
    assert "sha256:" + hashlib.sha256(bytes(data)).hexdigest() in message
    assert list((tmp_path / "cache/sha256").iterdir()) == []


def test_a_manifest_the_registry_gives_another_digest_for_is_refused(
    registry: Registry, tmp_path: Path
) -> None:
    other = "sha256:" + "0" * 64
    with gated(TokenGate(registry.host, token="", digest=other)) as gate:
        url = f"oci://{gate.host}/charts"
        root = tmp_path / "repo"
        _app(root, version="1.0.0", repository=url)
        policy = SourcePolicy(allow=(f"{url}/",), cache=tmp_path / "cache")
        message = _refused(root, policy, "digest mismatch", f"the registry says {other}")
    assert registry.manifest("redis", "1.0.0")[0] in message
    assert not [p for p, _ in gate.seen if "/blobs/" in p]


def test_a_chart_over_the_size_cap_is_refused(registry: Registry, tmp_path: Path) -> None:
    root = tmp_path / "repo"
    _app(root, version="1.0.0", repository=registry.url)
    _refused(root, _policy(registry, tmp_path, max_bytes=200), "more than the 200 allowed")
    assert not (tmp_path / "cache/sha256").exists()


def test_an_unknown_version_names_the_versions_there_are(
    registry: Registry, tmp_path: Path
) -> None:
    root = tmp_path / "repo"
    _app(root, version="9.9.9", repository=registry.url)
    _refused(root, _policy(registry, tmp_path), "9.9.9", "no such version", "1.0.0, 1.1.0")
    # A chart the registry has never seen.
    write(root, {"deploy/app/Chart.yaml": (root / "deploy/app/Chart.yaml").read_text()})
    chart = root / "deploy/app/Chart.yaml"
    chart.write_text(chart.read_text().replace(registry.url, f"{registry.url}/nested"))
    policy = _policy(registry, tmp_path)
    with pytest.raises(RenderError, match="no such version \\(not found\\)"):
        prepare_chart(root, "deploy/app", policy)


def test_an_unreachable_registry_is_named(tmp_path: Path) -> None:
    port = free_port()  # closed again: nothing listens there
    url = f"oci://127.0.0.1:{port}/charts"
    root = tmp_path / "repo"
    _app(root, version="1.0.0", repository=url)
    policy = SourcePolicy(allow=(f"{url}/",), cache=tmp_path / "cache", timeout_s=5)
    _refused(
        root,
        policy,
        f"fetching http://127.0.0.1:{port}/v2/charts/redis/manifests/1.0.0",
        "refused",
    )


def test_a_bad_reference_is_refused_before_any_request(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    with socket.create_server(("127.0.0.1", 0)) as listening:
        port = listening.getsockname()[1]  # would accept, but nothing may reach it
        listening.settimeout(0.1)
        for repository, what in (
            (f"oci://user:pw@127.0.0.1:{port}/charts", "credentials in the URL"),
            (f"oci://127.0.0.1:{port}/charts?x=1", "no query"),
            (f"oci://127.0.0.1:{port}/charts:1.0.0", "no query, fragment, tag"),
            (f"oci://127.0.0.1:{port}/Charts", "lowercase"),
        ):
            _app(root, version="1.0.0", repository=repository)
            policy = SourcePolicy(allow=(f"oci://127.0.0.1:{port}/",), cache=tmp_path / "c")
            message = _refused(root, policy, what)
            assert "pw" not in message
        with pytest.raises(TimeoutError):
            listening.accept()


def test_a_registry_that_wants_a_bearer_token_gets_one_request_for_it(
    binaries: Binaries, registry: Registry, tmp_path: Path
) -> None:
    secret = "Basic b3BlcmF0b3I6c2VjcmV0"  # the operator's, for this registry only

    with gated(TokenGate(registry.host)) as gate:
        url = f"oci://{gate.host}/charts"
        file = tmp_path / "creds.yaml"
        file.write_text(f"- url: http://{gate.host}/\n  username: operator\n  password: secret\n")
        root = tmp_path / "repo"
        _app(root, version="1.0.0", repository=url)
        policy = SourcePolicy(
            allow=(f"{url}/",), cache=tmp_path / "cache", credentials=credentials.load(file)
        )

        (pin,) = prepare_chart(root, "deploy/app", policy)

    assert pin.digest == registry.manifest("redis", "1.0.0")[0]
    assert _rendered(binaries, root)["dev-redis"] == "1.0.0"
    manifest = "/v2/charts/redis/manifests/1.0.0"
    token = "/token?service=test&scope=repository%3Acharts%2Fredis%3Apull"
    bearer = f"Bearer {gate.token}"
    assert [(p.split("sha256:")[0], a) for p, a in gate.seen] == [
        (manifest, secret),  # refused: a token is wanted
        (token, secret),  # the operator's credentials go to the realm
        (manifest, bearer),
        ("/v2/charts/redis/blobs/", bearer),
    ]


def test_a_token_realm_elsewhere_in_plain_http_is_refused(
    registry: Registry, tmp_path: Path
) -> None:
    realm = "http://127.0.0.2:9/token"
    with gated(TokenGate(registry.host, realm=realm)) as gate:
        url = f"oci://{gate.host}/charts"
        root = tmp_path / "repo"
        _app(root, version="1.0.0", repository=url)
        # Even admitted: a token over plain http to another host is not asked for.
        allow = (f"{url}/", "http://127.0.0.2:9/")
        policy = SourcePolicy(allow=allow, cache=tmp_path / "cache")
        _refused(root, policy, "http://127.0.0.2:9/token", "neither the registry itself")
    assert [p for p, _ in gate.seen] == ["/v2/charts/redis/manifests/1.0.0"]


def _remote(tmp_path: Path, registry: Registry, namespace: str) -> Remote:
    """main uses redis 1.0.0 from the registry; branch `change` bumps it to 1.1.0."""
    remote = Remote(tmp_path / "git")
    config = {
        "version": 1,
        "environments": {"dev": {"helm": {"chart": "deploy/app"}, "namespace": namespace}},
        "sources": {"allow": [f"{registry.url}/"]},
    }
    chart = {k: textwrap.dedent(v) for k, v in umbrella("1.0.0", registry.url).items()}
    remote.commit({".gitops.yaml": yaml.safe_dump(config), **chart}, "base")
    remote.push()
    pullerkit.git(remote.work, "checkout", "-q", "-b", "change")
    bumped = {k: textwrap.dedent(v) for k, v in umbrella("1.1.0", registry.url).items()}
    remote.commit(bumped, "bump redis")
    pullerkit.git(remote.work, "checkout", "-q", "main")
    return remote


@pytest.mark.cluster
def test_the_puller_applies_an_oci_chart_with_the_same_fetcher(
    kube: Kube, namespace: str, registry: Registry, binaries: Binaries, tmp_path: Path
) -> None:
    remote = _remote(tmp_path, registry, namespace)
    puller = pullerkit.make(
        kube, remote, namespace=namespace, cache=tmp_path / "puller", binaries=binaries
    )
    puller.sources = SourcePolicy(cache=tmp_path / "cache")  # the tracked commit's allow-list

    assert puller.sync() == {"dev": "applied"}
    redis = kube.get("v1", "ConfigMap", "dev-redis", namespace=namespace)
    assert redis is not None
    assert redis["data"]["version"] == "1.0.0"

    pullerkit.git(remote.work, "merge", "-q", "--ff-only", "change")
    remote.push()
    assert puller.sync() == {"dev": "applied"}
    redis = kube.get("v1", "ConfigMap", "dev-redis", namespace=namespace)
    assert redis is not None
    assert redis["data"]["version"] == "1.1.0"
    assert puller.sync() == {"dev": "unchanged"}


def test_plan_shows_the_manifest_digest_and_marks_a_bump(
    binaries: Binaries, registry: Registry, tmp_path: Path
) -> None:
    remote = _remote(tmp_path, registry, "shop")

    def plan(form: str) -> Result:
        return CliRunner().invoke(
            cli,
            [
                "plan",
                *("--repo", str(remote.work), "--base", "main", "--head", "change"),
                *("--format", form, "--source-cache", str(tmp_path / "cache")),
                *("--helm", binaries.path("helm"), "--kustomize", binaries.path("kustomize")),
            ],
        )

    result = plan("json")

    assert result.exit_code == 1, result.output
    (dev,) = json.loads(result.output)["environments"]
    assert dev["error"] is None
    (change,) = [c for c in dev["changes"] if c["action"] != "unchanged"]
    assert "-  version: 1.0.0\n+  version: 1.1.0" in change["diff"]
    (source,) = dev["sources"]
    assert (source["name"], source["after"]["repository"], source["changed"]) == (
        "redis",
        registry.url,
        True,
    )
    assert source["before"]["digest"] == registry.manifest("redis", "1.0.0")[0]
    assert source["after"]["digest"] == registry.manifest("redis", "1.1.0")[0]
    text = plan("text")
    assert text.exit_code == 1, text.output
    before, after = (registry.manifest("redis", v)[0][:19] for v in ("1.0.0", "1.1.0"))
    shown = f"redis of deploy/app from {registry.url}: 1.0.0 ({before}) -> 1.1.0 ({after})"
    assert f"{shown} (changed)" in text.output
