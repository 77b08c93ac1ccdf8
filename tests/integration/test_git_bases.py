"""Remote kustomize bases fetched from a real git server on 127.0.0.1.

The server is `git http-backend` (tests/integration/gitserver.py). The fetch
step (render.gitbases) resolves each base's ref to a commit and fetches it
into the cache; the real kustomize, in the sandbox with no network, clones
the base from the local mirror that step wrote. Every request the server
sees is recorded, so the tests can tell a cache hit from a fetch.
"""

from __future__ import annotations

import base64
import socket
from pathlib import Path

import pytest

from gitops_bot.core.repo.config import Environment, Source, SourceKind
from gitops_bot.errors import RenderError
from gitops_bot.render import credentials
from gitops_bot.render import render as render_mod
from gitops_bot.render.fetch import SourcePolicy
from gitops_bot.render.render import Tools
from gitops_bot.testing.binaries import Binaries
from tests.integration.chartrepo import write
from tests.integration.gitserver import GitServer, gitserver

__all__ = ["gitserver"]  # fixtures

CM = """\
    apiVersion: v1
    kind: ConfigMap
    metadata:
      name: {name}
    data:
      version: "{version}"
"""


def _upstream(server: GitServer, version: str, *, tag: str | None = None) -> str:
    """org/base.git: a base in deploy/ that names a common folder beside it."""
    return server.repo(
        "org/base",
        {
            "deploy/kustomization.yaml": "resources: [cm.yaml, ../common]\n",
            "deploy/cm.yaml": CM.format(name="upstream", version=version),
            "common/kustomization.yaml": "resources: [cm.yaml]\n",
            "common/cm.yaml": CM.format(name="common", version=version),
        },
        tag=tag,
    )


def _app(root: Path, entry: str) -> None:
    write(
        root,
        {
            "app/kustomization.yaml": f"resources:\n- {entry}\n- cm.yaml\n",
            "app/cm.yaml": CM.format(name="own", version="0"),
        },
    )


def _render(
    binaries: Binaries, root: Path, policy: SourcePolicy
) -> tuple[dict[str, str], list[tuple[str, str, str]]]:
    env = Environment("dev", Source(kind=SourceKind.AUTO, path="app"), namespace="shop")
    tools = Tools(helm=binaries.path("helm"), kustomize=binaries.path("kustomize"))
    found = render_mod.render(env, root=root, tools=tools, sources=policy)
    objects = {m.key.name: str((m.obj.get("data") or {}).get("version")) for m in found.manifests}
    return objects, [(p.name, p.version, p.digest) for p in found.sources]


def _policy(server: GitServer, tmp_path: Path, **kw: object) -> SourcePolicy:
    return SourcePolicy(allow=(server.url + "org/",), cache=tmp_path / "cache", **kw)  # type: ignore[arg-type]


def test_a_tagged_base_is_pinned_to_its_commit_and_built_offline(
    binaries: Binaries, gitserver: GitServer, tmp_path: Path
) -> None:
    commit = _upstream(gitserver, "1", tag="v1.0.0")
    _upstream(gitserver, "2")  # main moves on; the tag stays
    root = tmp_path / "repo"
    _app(root, f"{gitserver.url}org/base.git//deploy?ref=v1.0.0")

    objects, pins = _render(binaries, root, _policy(gitserver, tmp_path))

    assert objects == {"upstream": "1", "common": "1", "own": "0"}
    assert pins == [("org/base.git//deploy", "v1.0.0", f"commit:{commit}")]
    assert len(gitserver.fetches()) == 1  # the one fetch; kustomize's clone asked nothing


def test_the_second_render_reuses_the_cache(
    binaries: Binaries, gitserver: GitServer, tmp_path: Path
) -> None:
    commit = _upstream(gitserver, "1", tag="v1.0.0")
    root = tmp_path / "repo"
    _app(root, f"{gitserver.url}org/base.git//deploy?ref=v1.0.0")
    _render(binaries, root, _policy(gitserver, tmp_path))
    before = len(gitserver.fetches())

    requests = len(gitserver.requests)
    _render(binaries, root, _policy(gitserver, tmp_path))
    assert len(gitserver.fetches()) == before  # no fetch:
    assert len(gitserver.requests) > requests  # the tag is resolved again

    _app(root, f"{gitserver.url}org/base.git//deploy?ref={commit}")
    requests = len(gitserver.requests)
    objects, pins = _render(binaries, root, _policy(gitserver, tmp_path))
    assert len(gitserver.requests) == requests  # a commit id in the cache: no request at all
    assert objects["upstream"] == "1"
    assert pins == [("org/base.git//deploy", commit, f"commit:{commit}")]


def test_a_moved_tag_gives_another_pin(
    binaries: Binaries, gitserver: GitServer, tmp_path: Path
) -> None:
    first = _upstream(gitserver, "1", tag="v1")
    root = tmp_path / "repo"
    _app(root, f"{gitserver.url}org/base.git//deploy?ref=v1")
    assert _render(binaries, root, _policy(gitserver, tmp_path))[1][0][2] == f"commit:{first}"

    second = _upstream(gitserver, "2", tag="v1")

    objects, pins = _render(binaries, root, _policy(gitserver, tmp_path))
    assert pins[0][2] == f"commit:{second}"
    assert objects["upstream"] == "2"


def test_a_branch_floats_and_is_refused_unless_the_environment_allows_it(
    binaries: Binaries, gitserver: GitServer, tmp_path: Path
) -> None:
    commit = _upstream(gitserver, "1")
    root = tmp_path / "repo"
    entry = f"{gitserver.url}org/base.git//deploy?ref=main"
    _app(root, entry)

    with pytest.raises(RenderError) as refused:
        _render(binaries, root, _policy(gitserver, tmp_path))
    assert str(refused.value) == (
        f"rendering dev: app/kustomization.yaml: resources entry {entry}: main is a floating "
        "reference: pin a tag or a commit (?ref=), or allow floating sources for this "
        f"environment (policy.floating-sources: true); it resolves to {commit}"
    )

    objects, pins = _render(binaries, root, _policy(gitserver, tmp_path, floating=True))
    assert objects["upstream"] == "1"
    assert pins == [("org/base.git//deploy", "main", f"commit:{commit}")]

    _app(root, f"{gitserver.url}org/base.git//deploy")  # no ref: the default branch
    assert _render(binaries, root, _policy(gitserver, tmp_path, floating=True))[1] == [
        ("org/base.git//deploy", "HEAD", f"commit:{commit}")
    ]


def test_a_base_of_a_fetched_base_is_fetched_too(
    binaries: Binaries, gitserver: GitServer, tmp_path: Path
) -> None:
    inner = gitserver.repo(
        "org/inner", {"base/kustomization.yaml": "resources: [cm.yaml]\n",
                      "base/cm.yaml": CM.format(name="inner", version="9")}, tag="v9"
    )  # fmt: skip
    outer = gitserver.repo(
        "org/outer",
        {"x/kustomization.yaml": f"resources: ['{gitserver.url}org/inner.git//base?ref=v9']\n"},
        tag="v1",
    )
    root = tmp_path / "repo"
    _app(root, f"{gitserver.url}org/outer.git//x?ref=v1")

    objects, pins = _render(binaries, root, _policy(gitserver, tmp_path))

    assert objects == {"inner": "9", "own": "0"}
    assert sorted(pins) == [
        ("org/inner.git//base", "v9", f"commit:{inner}"),
        ("org/outer.git//x", "v1", f"commit:{outer}"),
    ]


def test_a_remote_outside_the_allow_list_is_refused_naming_the_setting(
    binaries: Binaries, gitserver: GitServer, tmp_path: Path
) -> None:
    _upstream(gitserver, "1", tag="v1")
    root = tmp_path / "repo"
    entry = f"{gitserver.url}org/base.git//deploy?ref=v1"
    _app(root, entry)
    policy = SourcePolicy(allow=(gitserver.url + "other/",), cache=tmp_path / "cache")

    with pytest.raises(RenderError) as refused:
        _render(binaries, root, policy)

    assert str(refused.value) == (
        f"rendering dev: app/kustomization.yaml: resources entry {entry}: the git remote "
        f"{gitserver.url}org/base.git is not in the allow-list; admit it with sources.allow "
        "in the base branch's .gitops.yaml or the bot's --allow-source flag"
    )
    assert gitserver.requests == []


def test_a_redirect_is_not_followed(
    binaries: Binaries, gitserver: GitServer, tmp_path: Path
) -> None:
    _upstream(gitserver, "1", tag="v1")
    gitserver.redirects["/moved/"] = "http://example.invalid/"
    root = tmp_path / "repo"
    _app(root, f"{gitserver.url}moved/base.git//deploy?ref=v1")
    policy = SourcePolicy(allow=(gitserver.url,), cache=tmp_path / "cache")

    with pytest.raises(RenderError, match="redirects are not followed"):
        _render(binaries, root, policy)
    assert all("example.invalid" not in r for r in gitserver.requests)


def test_an_unreachable_remote_and_an_unknown_ref_are_clear_errors(
    binaries: Binaries, gitserver: GitServer, tmp_path: Path
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends
    url = f"http://127.0.0.1:{port}/org/base.git"
    root = tmp_path / "repo"
    _app(root, f"{url}//deploy?ref=v1")
    with pytest.raises(RenderError, match=rf"fetching {url}: .*(refused|connect)"):
        _render(binaries, root, SourcePolicy(allow=(url,), cache=tmp_path / "cache"))

    _upstream(gitserver, "1", tag="v1")
    _app(root, f"{gitserver.url}org/base.git//deploy?ref=v7")
    with pytest.raises(RenderError, match=r"org/base.git has no branch or tag 'v7'$"):
        _render(binaries, root, _policy(gitserver, tmp_path))


def test_a_fetch_over_the_size_cap_is_stopped(
    binaries: Binaries, gitserver: GitServer, tmp_path: Path
) -> None:
    gitserver.repo(
        "org/big",
        {"b/kustomization.yaml": "resources: []\n", "b/blob.txt": (str(list(range(200000))))},
        tag="v1",
    )
    root = tmp_path / "repo"
    _app(root, f"{gitserver.url}org/big.git//b?ref=v1")

    with pytest.raises(RenderError, match=r"more than the 10000 bytes allowed"):
        _render(binaries, root, _policy(gitserver, tmp_path, max_bytes=10000))
    assert not list((tmp_path / "cache" / "git").glob("*.git"))  # nothing half-fetched kept


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("git@github.com:org/repo.git//x?ref=v1", "a base over SSH or from a file"),
        ("ssh://git@example.com/org/repo.git//x?ref=v1", "a base over SSH or from a file"),
        ("https://example.com/manifests/cm.yaml", "a remote file is not fetched here"),
        ("https://user:pw@example.com/org/repo.git//x?ref=v1", "credentials in the URL"),
    ],
)
def test_what_is_not_fetched_is_refused_before_any_request(
    binaries: Binaries, gitserver: GitServer, tmp_path: Path, entry: str, message: str
) -> None:
    root = tmp_path / "repo"
    _app(root, entry)
    with pytest.raises(RenderError, match=message) as refused:
        _render(binaries, root, SourcePolicy(allow=("https://example.com/",)))
    assert "pw" not in str(refused.value)
    assert gitserver.requests == []


def test_a_private_remote_gets_its_credentials_and_no_output_shows_them(
    binaries: Binaries, gitserver: GitServer, tmp_path: Path
) -> None:
    secret = "s3cret-token-value"
    needed = "Basic " + base64.b64encode(f"bot:{secret}".encode()).decode()
    gitserver.auth["/org/"] = needed
    commit = _upstream(gitserver, "1", tag="v1")
    root = tmp_path / "repo"
    _app(root, f"{gitserver.url}org/base.git//deploy?ref=v1")
    file = tmp_path / "creds.yaml"
    file.write_text(f"- url: {gitserver.url}org/\n  username: bot\n  password: {secret}\n")
    private = _policy(gitserver, tmp_path, credentials=credentials.load(file))

    objects, pins = _render(binaries, root, private)
    assert objects["upstream"] == "1"
    assert pins == [("org/base.git//deploy", "v1", f"commit:{commit}")]
    assert set(gitserver.authorizations) == {needed}

    with pytest.raises(RenderError) as refused:  # no credentials: git's 401, not a prompt
        _render(binaries, root, _policy(gitserver, tmp_path / "other"))
    assert f"fetching {gitserver.url}org/base.git" in str(refused.value)
    assert secret not in str(refused.value)
    assert "asks for credentials (HTTP 401)" in str(refused.value)

    wrong = tmp_path / "wrong.yaml"
    wrong.write_text(f"- url: {gitserver.url}org/\n  username: bot\n  password: {secret}x\n")
    with pytest.raises(RenderError) as refused:
        _render(
            binaries, root, _policy(gitserver, tmp_path / "x", credentials=credentials.load(wrong))
        )
    assert secret not in str(refused.value)
    assert "asks for credentials (HTTP 401)" in str(refused.value)
