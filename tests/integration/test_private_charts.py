"""A private chart repository on 127.0.0.1 that answers 401 without the right
HTTP Basic credentials: render.fetch with the operator's credentials file
(render.credentials) fetches from it, sends the header to that repository
only (not on a redirect to another host, not to another port), and no
error, in the terminal or the PR comment, ever shows the password.
"""

from __future__ import annotations

import base64
import json
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from gitops_bot.cli import cli
from gitops_bot.core.repo.config import Environment, Source, SourceKind
from gitops_bot.errors import RenderError
from gitops_bot.render import credentials
from gitops_bot.render import render as render_mod
from gitops_bot.render.fetch import SourcePolicy, prepare_chart
from gitops_bot.render.render import Tools
from gitops_bot.testing.binaries import Binaries
from tests.integration import pullerkit
from tests.integration.chartrepo import APP_TEMPLATE, ChartRepo, helm, packaged, repo, serving

__all__ = ["packaged", "repo"]  # fixtures

PASSWORD = "Pr1vate-Chart-Passw0rd"
BASIC = "Basic " + base64.b64encode(f"bot:{PASSWORD}".encode()).decode()


@pytest.fixture
def private(binaries: Binaries, packaged: Path, tmp_path: Path) -> Iterator[ChartRepo]:
    """redis 1.0.0 and 1.1.0 under /private/, which wants bot:PASSWORD."""
    folder = tmp_path / "private-served"
    (folder / "private").mkdir(parents=True)
    for archive in packaged.iterdir():
        (folder / "private" / archive.name).write_bytes(archive.read_bytes())
    with serving(ChartRepo(folder, auth={"/private/": BASIC})) as served:
        helm(binaries, "repo", "index", str(folder / "private"), "--url", served.url + "private/")
        yield served


def _chart(root: Path, version: str, repository: str) -> dict[str, str]:
    files = {
        "deploy/app/Chart.yaml": (
            "apiVersion: v2\nname: app\nversion: 0.1.0\ndependencies:\n"
            f'- name: redis\n  version: "{version}"\n  repository: "{repository}"\n'
        ),
        "deploy/app/templates/cm.yaml": textwrap.dedent(APP_TEMPLATE),
    }
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return files


def _creds(tmp_path: Path, url: str, password: str = PASSWORD) -> Path:
    """A credentials file whose password is in a file of its own, as a mounted Secret is."""
    (tmp_path / "secret").write_text(password + "\n")
    path = tmp_path / "creds.yaml"
    path.write_text(
        yaml.safe_dump(
            [{"url": url, "username": "bot", "password": {"file": str(tmp_path / "secret")}}]
        )
    )
    return path


def _policy(tmp_path: Path, allow: tuple[str, ...], creds: Path | None) -> SourcePolicy:
    policy = SourcePolicy(allow=allow, cache=tmp_path / "cache")
    if creds is None:
        return policy
    loaded = credentials.load(creds)
    return SourcePolicy(allow=allow, cache=tmp_path / "cache", credentials=loaded)


def test_with_the_credentials_the_chart_is_fetched_and_the_header_went_there_only(
    private: ChartRepo, tmp_path: Path
) -> None:
    repository = private.url + "private/"
    _chart(tmp_path / "repo", "1.0.0", repository)
    policy = _policy(tmp_path, (repository,), _creds(tmp_path, repository))

    (pin,) = prepare_chart(tmp_path / "repo", "deploy/app", policy)

    assert (pin.name, pin.version) == ("redis", "1.0.0")
    assert (tmp_path / "repo" / "deploy/app/charts/redis-1.0.0.tgz").is_file()
    assert private.authorizations == [
        ("/private/index.yaml", BASIC),
        ("/private/redis-1.0.0.tgz", BASIC),
    ]


def test_without_credentials_or_with_a_wrong_password_a_clear_401_names_no_secret(
    private: ChartRepo, binaries: Binaries, tmp_path: Path
) -> None:
    repository = private.url + "private/"
    root = tmp_path / "repo"
    _chart(root, "1.0.0", repository)

    with pytest.raises(RenderError) as none:
        prepare_chart(root, "deploy/app", _policy(tmp_path, (repository,), None))
    assert f"fetching {repository}index.yaml: HTTP 401" in str(none.value)

    wrong = _policy(tmp_path, (repository,), _creds(tmp_path, repository, "not-" + PASSWORD))
    env = Environment("dev", Source(kind=SourceKind.HELM, path="deploy/app"), namespace="shop")
    tools = Tools(helm=binaries.path("helm"), kustomize=binaries.path("kustomize"))
    with pytest.raises(RenderError) as bad:
        render_mod.render(env, root=root, tools=tools, sources=wrong)
    said = str(bad.value)
    assert said.startswith("rendering dev: chart deploy/app: dependency redis 1.0.0")
    assert f"fetching {repository}index.yaml: HTTP 401" in said
    assert PASSWORD not in said
    assert [a for _, a in private.authorizations][-1] is not None  # it was sent, and refused


def test_a_redirect_to_another_host_carries_no_credential(
    private: ChartRepo, repo: ChartRepo, tmp_path: Path
) -> None:
    """The private index redirects to another server (127.0.0.1 on another port:
    another host to the rule); that server gets no Authorization, and neither do
    the archives it names."""
    repository = private.url + "private/"
    private.routes["/private/index.yaml"] = ("redirect", repo.url + "index.yaml")
    _chart(tmp_path / "repo", "1.1.0", repository)
    policy = _policy(tmp_path, (repository, repo.url), _creds(tmp_path, repository))

    (pin,) = prepare_chart(tmp_path / "repo", "deploy/app", policy)

    assert pin.version == "1.1.0"
    assert private.authorizations == [("/private/index.yaml", BASIC)]
    assert repo.authorizations == [("/index.yaml", None), ("/redis-1.1.0.tgz", None)]


def test_a_server_echoing_the_secret_into_a_url_is_scrubbed_from_the_error(
    private: ChartRepo, binaries: Binaries, tmp_path: Path
) -> None:
    """The one place a server's words reach a message: a redirect's Location,
    here outside the allow-list and carrying the password in its path."""
    repository = private.url + "private/"
    root = tmp_path / "repo"
    _chart(root, "1.0.0", repository)
    private.routes["/private/index.yaml"] = ("redirect", f"http://127.0.0.2:1/{PASSWORD}/{BASIC}")
    policy = _policy(tmp_path, (repository,), _creds(tmp_path, repository))
    env = Environment("dev", Source(kind=SourceKind.HELM, path="deploy/app"), namespace="shop")
    tools = Tools(helm=binaries.path("helm"), kustomize=binaries.path("kustomize"))

    with pytest.raises(RenderError) as err:
        render_mod.render(env, root=root, tools=tools, sources=policy)

    said = str(err.value)
    assert "which the allow-list does not admit" in said
    assert "http://127.0.0.2:1/***/" in said
    assert PASSWORD not in said
    assert BASIC.split()[1] not in said


def _plan_repo(tmp_path: Path, repository: str) -> Path:
    """main renders redis 1.0.0 from the private repository; branch `change` 1.1.0."""
    work = tmp_path / "git"
    work.mkdir()
    pullerkit.git(work, "init", "-q", "-b", "main")
    config = {
        "version": 1,
        "environments": {"dev": {"helm": {"chart": "deploy/app"}, "namespace": "shop"}},
        "sources": {"allow": [repository]},
    }
    (work / ".gitops.yaml").write_text(yaml.safe_dump(config))
    _chart(work, "1.0.0", repository)
    pullerkit.git(work, "add", "-A")
    pullerkit.git(work, "commit", "-q", "-m", "base")
    pullerkit.git(work, "checkout", "-q", "-b", "change")
    _chart(work, "1.1.0", repository)
    pullerkit.git(work, "commit", "-q", "-am", "bump redis")
    pullerkit.git(work, "checkout", "-q", "main")
    return work


def _plan(work: Path, binaries: Binaries, tmp_path: Path, *more: str) -> Result:
    return CliRunner().invoke(
        cli,
        [
            "plan",
            *("--repo", str(work), "--base", "main", "--head", "change"),
            *("--source-cache", str(tmp_path / "cache")),
            *("--helm", binaries.path("helm"), "--kustomize", binaries.path("kustomize")),
            *more,
        ],
    )


def test_plan_with_source_credentials_through_the_cli(
    private: ChartRepo, binaries: Binaries, tmp_path: Path
) -> None:
    repository = private.url + "private/"
    work = _plan_repo(tmp_path, repository)
    (tmp_path / "good").mkdir()
    (tmp_path / "bad").mkdir()
    good = _creds(tmp_path / "good", repository)
    wrong = _creds(tmp_path / "bad", repository, "x" + PASSWORD)

    fetched = _plan(work, binaries, tmp_path, "--format", "json", "--source-credentials", str(good))
    assert fetched.exit_code == 1, fetched.output
    (dev,) = json.loads(fetched.stdout)["environments"]
    assert dev["error"] is None
    (source,) = dev["sources"]
    assert (source["before"]["version"], source["after"]["version"]) == ("1.0.0", "1.1.0")
    assert {a for _, a in private.authorizations} == {BASIC}

    # The PR comment (markdown) and the terminal, for a wrong password, and for
    # the variable instead of the flag.
    for fmt in ("markdown", "text"):
        refused = CliRunner(env={"GITOPS_BOT_SOURCE_CREDENTIALS": str(wrong)}).invoke(
            cli,
            [
                "plan",
                *("--repo", str(work), "--base", "main", "--head", "change"),
                *("--source-cache", str(tmp_path / "cache2"), "--format", fmt),
                *("--helm", binaries.path("helm"), "--kustomize", binaries.path("kustomize")),
            ],
        )
        assert refused.exit_code == 2, refused.output
        assert f"{repository}index.yaml: HTTP 401" in refused.output
        assert PASSWORD not in refused.output + refused.stderr

    # A server echoing the secret into a redirect's URL: scrubbed in the comment too.
    private.routes["/private/index.yaml"] = ("redirect", f"http://127.0.0.2:1/{PASSWORD}/")
    echoed = _plan(
        work,
        binaries,
        tmp_path,
        "--format",
        "markdown",
        "--source-cache",
        str(tmp_path / "c3"),
        "--source-credentials",
        str(good),
    )
    assert echoed.exit_code == 2, echoed.output
    assert "127.0.0.2:1/***/" in echoed.output
    assert PASSWORD not in echoed.output + echoed.stderr


def test_a_wrong_credentials_file_stops_the_command_naming_the_entry_not_the_value(
    binaries: Binaries, tmp_path: Path
) -> None:
    path = tmp_path / "creds.yaml"
    path.write_text(f"- url: https://bot:{PASSWORD}@charts.example/\n  token: {PASSWORD}\n")
    work = _plan_repo(tmp_path, "https://charts.example/")

    result = _plan(work, binaries, tmp_path, "--source-credentials", str(path))

    assert result.exit_code != 0
    assert isinstance(result.exception, Exception)
    said = str(result.exception)
    assert f"source credentials {path}: entry 0: url: a URL with user info" in said
    assert PASSWORD not in said + result.output
