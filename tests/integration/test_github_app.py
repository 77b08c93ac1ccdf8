"""Authenticating as a GitHub App, against the emulator's App endpoints.

PyGithub's own App authentication signs the JWT and fetches the
installation token; the emulator checks the JWT as GitHub does (RS256 with
the App's registered key, iat/exp, iss), hands out tokens that expire on
its clock and reach only the installation's repositories. Every exchange is
checked against GitHub's OpenAPI description. The token refresh runs on a
moved clock: PyGithub's and the emulator's move together.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import jwt
import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from gitops_bot.cli import cli
from gitops_bot.core.pr.model import Status, StatusState
from gitops_bot.core.report import markdown
from gitops_bot.errors import ForgeError
from gitops_bot.forges.appkey import AppKey
from gitops_bot.forges.github import app as apps
from gitops_bot.forges.github.adapter import GitHub
from gitops_bot.testing.binaries import Binaries
from tests.fakes.github_server import GitHubServer, checked
from tests.integration import servekit
from tests.integration.shop import git

APP_ID = 4242
BOT = "gitops-bot[bot]"
REPO = "acme/shop"
PLAN = markdown.marker("prod", 1, 1)


def _pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()


@pytest.fixture(scope="module")
def private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def key(private_key: rsa.RSAPrivateKey) -> AppKey:
    return AppKey(str(APP_ID), _pem(private_key))


@pytest.fixture(autouse=True)
def _fresh_tokens() -> Iterator[None]:
    # A new emulator may get the port (and so the URL) an old one had.
    apps.clear()
    yield
    apps.clear()


@pytest.fixture
def server(private_key: rsa.RSAPrivateKey) -> Iterator[GitHubServer]:
    public = private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with checked() as srv:
        srv.add_app(APP_ID, slug="gitops-bot", public_key=public.decode())
        srv.add_repo(REPO, files={"README.md": "shop\n"})
        srv.add_repo("acme/other", files={"README.md": "other\n"})
        srv.push(REPO, "feature", files={"README.md": "v2\n"}, message="v2")
        srv.add_pull(REPO, title="Bump", author="alice", head_ref="feature")
        srv.install(APP_ID, [REPO])
        yield srv


def adapter(server: GitHubServer, key: AppKey, **more: Any) -> GitHub:
    return GitHub(repo=REPO, app=key, base_url=server.url, seconds_between_writes=None, **more)


def test_the_plan_comment_is_written_with_the_installation_token(
    server: GitHubServer, key: AppKey
) -> None:
    github = adapter(server, key)
    github.upsert_comment(1, marker=PLAN, body=f"{PLAN}\nplan")

    (installation,) = server.installations.values()
    assert [c.author for c in server.comments_on(REPO, 1)] == [BOT]  # "SLUG[bot]", from GET /app
    assert server.log == [
        f"GET /repos/{REPO}/installation",
        f"POST /app/installations/{installation.id}/access_tokens",
        "GET /app",
        f"GET /repos/{REPO}/issues/1/comments",
        f"POST /repos/{REPO}/issues/1/comments",
    ]
    assert github.access_token() in server.installation_tokens


def test_the_deliverys_installation_skips_the_lookup_and_one_token_serves_every_client(
    server: GitHubServer, key: AppKey
) -> None:
    (installation,) = server.installations.values()
    first = adapter(server, key, installation=installation.id)
    second = adapter(server, key, installation=installation.id, bot_login=BOT)
    first.comments(1)
    second.comments(1)

    assert f"GET /repos/{REPO}/installation" not in server.log
    assert server.log.count(f"POST /app/installations/{installation.id}/access_tokens") == 1
    assert len(server.installation_tokens) == 1
    assert first.access_token() == second.access_token()


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch, server: GitHubServer) -> list[float]:
    """Seconds to add to the real time, for PyGithub (its JWTs and the token's
    expiry check, both in github.Auth) and for the emulator alike."""
    offset = [0.0]

    class _Moved(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> Any:
            return datetime.fromtimestamp(time.time() + offset[0], tz or UTC)

    monkeypatch.setattr("github.Auth.datetime", _Moved)
    monkeypatch.setattr("github.Auth.time", SimpleNamespace(time=lambda: time.time() + offset[0]))
    server.clock = lambda: time.time() + offset[0]
    return offset


def test_the_token_is_refreshed_before_it_expires_not_after_a_401(
    server: GitHubServer, key: AppKey, clock: list[float]
) -> None:
    github = adapter(server, key, bot_login=BOT)
    first = github.access_token()
    (installation,) = server.installations.values()
    fetch = f"POST /app/installations/{installation.id}/access_tokens"

    clock[0] = server.token_lifetime - 30  # 30 s left: PyGithub keeps it
    github.comments(1)
    assert server.log.count(fetch) == 1
    assert github.access_token() == first

    clock[0] = server.token_lifetime - 10  # 10 s left: within PyGithub's 20 s margin
    server.requests.clear()
    github.upsert_comment(1, marker=PLAN, body=f"{PLAN}\nplan")
    assert server.log == [
        fetch,  # a new token first, while the old one still works
        f"GET /repos/{REPO}/issues/1/comments",
        f"POST /repos/{REPO}/issues/1/comments",
    ]
    second = github.access_token()
    assert second != first

    clock[0] = 2 * server.token_lifetime  # both expired: a fresh one, and the call succeeds
    server.requests.clear()
    assert [c.author for c in github.comments(1)] == [BOT]
    assert server.log == [fetch, f"GET /repos/{REPO}/issues/1/comments"]
    assert 401 not in {r.status for r in server.requests}
    assert _status(server, first, f"/repos/{REPO}/pulls/1") == 401  # the old one is dead


def _status(server: GitHubServer, token: str, path: str, scheme: str = "token") -> int:
    request = urllib.request.Request(  # noqa: S310 (the emulator's http URL)
        server.url + path, headers={"Authorization": f"{scheme} {token}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as reply:  # noqa: S310
            return int(reply.status)
    except urllib.error.HTTPError as err:
        return err.code


def test_an_installation_token_reaches_only_its_repositories(
    server: GitHubServer, key: AppKey
) -> None:
    token = adapter(server, key, bot_login=BOT).access_token()

    assert _status(server, token, f"/repos/{REPO}/pulls/1") == 200
    assert _status(server, token, "/repos/acme/other") == 404


def test_the_emulator_checks_the_jwt_as_github_does(
    server: GitHubServer, private_key: rsa.RSAPrivateKey
) -> None:
    now = int(time.time())
    pem = _pem(private_key)
    other = _pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))

    def signed(claims: dict[str, Any], signer: str = pem, alg: str = "RS256") -> str:
        return jwt.encode(claims, signer, algorithm=alg)

    good = {"iat": now - 60, "exp": now + 300, "iss": str(APP_ID)}
    assert _status(server, signed(good), "/app", "Bearer") == 200
    assert _status(server, signed(good), "/app", "token") == 401  # a JWT goes as Bearer
    assert _status(server, signed(good, other), "/app", "Bearer") == 401  # another key
    assert _status(server, signed(good | {"iss": "7"}), "/app", "Bearer") == 401
    assert _status(server, signed(good | {"exp": now - 1}), "/app", "Bearer") == 401
    assert _status(server, signed(good | {"exp": now + 3600}), "/app", "Bearer") == 401
    assert _status(server, signed(good | {"iat": now + 600}), "/app", "Bearer") == 401
    hs256 = jwt.encode(good, "a-shared-secret-of-32-bytes-or-more!", algorithm="HS256")
    assert _status(server, hs256, "/app", "Bearer") == 401
    assert _status(server, signed(good), "/app/installations", "Bearer") == 200
    assert _status(server, signed(good), f"/repos/{REPO}/pulls/1", "Bearer") == 401


def test_a_wrong_key_is_a_clear_error_without_key_material(server: GitHubServer) -> None:
    wrong = _pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))

    with pytest.raises(ForgeError) as caught:
        adapter(server, AppKey(str(APP_ID), wrong))

    message = str(caught.value)
    assert message == (
        f"finding the GitHub App {APP_ID}'s installation on {REPO} (GET /repos/{REPO}/"
        "installation): GitHub answered 401: A JSON web token could not be decoded (is the "
        f"private key the one GitHub generated for App {APP_ID}, and the machine's clock right?)"
    )
    assert caught.value.__cause__ is None  # PyGithub's exception (and its request) left behind
    assert "PRIVATE KEY" not in message


def test_an_app_not_installed_on_the_repository_says_so(server: GitHubServer, key: AppKey) -> None:
    with pytest.raises(ForgeError, match="not installed on acme/other") as caught:
        GitHub(repo="acme/other", app=key, base_url=server.url)

    assert "install the App on that repository" in str(caught.value)


# -- the commands, as a user runs them ------------------------------------------


def _write_key(tmp_path: Path, key: AppKey) -> Path:
    path = tmp_path / "app.pem"
    path.write_text(key.private_key)
    return path


def _mirror(server: GitHubServer, shop: Path) -> int:
    base = git(shop, "rev-parse", "main").strip()
    head = git(shop, "rev-parse", "change").strip()
    server.mirror(REPO, "main", sha=base)
    server.mirror(REPO, "change", sha=head, parent=base)
    return server.add_pull(REPO, title="Bump the shop", author="alice", head_ref="change").number


@pytest.mark.usefixtures("tools_env")
def test_run_as_a_github_app_posts_the_plan_with_the_installation_token(
    shop: Path, server: GitHubServer, key: AppKey, tmp_path: Path
) -> None:
    number = _mirror(server, shop)
    pull = server.repos[REPO].pulls[number]
    event = tmp_path / "event.json"
    event.write_text(
        json.dumps(
            {
                "action": "opened",
                "number": number,
                "pull_request": {"number": number, "head": {"sha": pull.head_sha}},
                "repository": {"full_name": REPO},
                "sender": {"login": "alice"},
            }
        )
    )
    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_EVENT_NAME": "pull_request",
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_REPOSITORY": REPO,
        "GITHUB_API_URL": server.url,
        "GITHUB_WORKSPACE": str(shop),
        "GITOPS_BOT_GITHUB_APP_KEY": key.private_key,  # the PEM from a secret
        "GITOPS_BOT_TOKEN": "",
        "GITHUB_TOKEN": "",
        "GITOPS_BOT_LOGIN": "",
    }
    result = CliRunner().invoke(cli, ["run", "--github-app-id", str(APP_ID)], env=env)

    assert result.exit_code == 0, result.output
    bodies = [c.body for c in server.comments_on(REPO, number)]
    assert {c.author for c in server.comments_on(REPO, number)} == {BOT}
    assert any("env=prod" in body for body in bodies)
    assert server.log[:3] == [
        f"GET /repos/{REPO}/installation",
        f"POST /app/installations/{next(iter(server.installations))}/access_tokens",
        "GET /app",
    ]
    assert "PRIVATE KEY" not in result.output


def test_run_refuses_a_token_next_to_an_app_naming_both(
    server: GitHubServer, key: AppKey, tmp_path: Path
) -> None:
    env = {**os.environ, "GITHUB_ACTIONS": "true", "GITOPS_BOT_TOKEN": "ghs_x"}
    args = ["run", "--github-app-id", str(APP_ID)]
    args += ["--github-app-key-file", str(_write_key(tmp_path, key))]

    done = subprocess.run(
        [sys.executable, "-m", "gitops_bot", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )

    assert done.returncode == 2
    assert done.stderr == (
        "gitops-bot: --github-app-id (GITOPS_BOT_GITHUB_APP_ID) and GITOPS_BOT_TOKEN are both "
        "set: authenticate with a token or as a GitHub App, not both\n"
    )
    assert server.requests == []


def _run_cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("GITOPS_BOT_", "GITHUB_"))}
    return subprocess.run(
        [sys.executable, "-m", "gitops_bot", *args],
        env=environ | env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def _actions_env(server: GitHubServer, tmp_path: Path, repo: str) -> dict[str, str]:
    event = tmp_path / "event.json"
    payload = {
        "action": "opened",
        "number": 1,
        "pull_request": {"number": 1, "head": {"sha": "0" * 40}},
        "repository": {"full_name": repo},
        "sender": {"login": "alice"},
    }
    event.write_text(json.dumps(payload))
    return {
        "GITHUB_ACTIONS": "true",
        "GITHUB_EVENT_NAME": "pull_request",
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_REPOSITORY": repo,
        "GITHUB_API_URL": server.url,
        "GITHUB_WORKSPACE": str(tmp_path),
    }


def test_run_with_a_wrong_key_says_so_and_shows_no_key_material(
    server: GitHubServer, tmp_path: Path
) -> None:
    wrong = _pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    env = _actions_env(server, tmp_path, REPO) | {"GITOPS_BOT_GITHUB_APP_KEY": wrong}

    done = _run_cli(["run", "--github-app-id", str(APP_ID)], env)

    assert done.returncode == 2
    assert done.stderr.startswith(
        f"gitops-bot: finding the GitHub App {APP_ID}'s installation on {REPO} "
        f"(GET /repos/{REPO}/installation): GitHub answered 401: A JSON web token could "
        "not be decoded"
    )
    body = "".join(wrong.strip().splitlines()[1:-1])
    for output in (done.stdout, done.stderr):
        assert "PRIVATE KEY" not in output
        assert body[:40] not in output
    assert [r.status for r in server.requests] == [401]


def test_run_for_a_repository_the_app_is_not_installed_on_names_it(
    server: GitHubServer, key: AppKey, tmp_path: Path
) -> None:
    env = _actions_env(server, tmp_path, "acme/other")
    env["GITOPS_BOT_GITHUB_APP_ID"] = str(APP_ID)  # the flag's variable
    args = ["run", "--github-app-key-file", str(_write_key(tmp_path, key))]

    done = _run_cli(args, env)

    assert done.returncode == 2
    assert done.stderr == (
        f"gitops-bot: the GitHub App {APP_ID} is not installed on acme/other (GET "
        "/repos/acme/other/installation answered 404): install the App on that repository, "
        "or give it access to it in the installation's settings\n"
    )


def _payload(number: int, head: str, installation: int | None) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "action": "opened",
        "number": number,
        "pull_request": {"number": number, "head": {"sha": head}, "merged": False},
        "repository": {"full_name": REPO},
        "sender": {"login": "alice"},
    }
    if installation is not None:
        payload["installation"] = {"id": installation}
    return payload


@pytest.mark.usefixtures("tools_env")
@pytest.mark.parametrize("named", [True, False], ids=["delivery-names-it", "looked-up"])
def test_serve_as_a_github_app_plans_with_the_installation_token(
    *,
    server: GitHubServer,
    key: AppKey,
    shop: Path,
    binaries: Binaries,
    tmp_path: Path,
    named: bool,
) -> None:
    from tests.integration.test_serve import deliver, eventually  # noqa: PLC0415

    number = _mirror(server, shop)
    head = server.repos[REPO].pulls[number].head_sha
    (installation,) = server.installations.values()
    with servekit.running(
        forge="github",
        api_url=server.url,
        shop=shop,
        binaries=binaries,
        folder=tmp_path,
        token="unused-canary-token",
        secret=b"webhook-secret-for-tests",
        env={"GITOPS_BOT_TOKEN": "", "GITOPS_BOT_GITHUB_APP_ID": str(APP_ID)},
        args=("--github-app-key-file", str(_write_key(tmp_path, key))),
    ) as url:
        payload = _payload(number, head, installation.id if named else None)
        assert deliver(url, "pull_request", payload) == 202
        eventually(lambda: any(s.context == "gitops" for s in server.repos[REPO].statuses))

    assert {c.author for c in server.comments_on(REPO, number)} == {BOT}
    assert (f"GET /repos/{REPO}/installation" in server.log) is not named
    assert server.log.count(f"POST /app/installations/{installation.id}/access_tokens") == 1


def test_the_pullers_forge_reports_as_the_app(server: GitHubServer, key: AppKey) -> None:
    from gitops_bot.puller import wiring  # noqa: PLC0415
    from gitops_bot.puller.settings import Options  # noqa: PLC0415

    options = Options(
        repo_url="file:///unused",
        envs=("prod",),
        forge="github",
        forge_repo=REPO,
        forge_app=key,
        forge_api_url=server.url,
    )
    forge = wiring._forge(options)  # what the puller builds from its flags
    assert forge is not None
    head = server.repos[REPO].pulls[1].head_sha
    forge.set_status(Status(head, "gitops/apply/prod", StatusState.SUCCESS, "applied", None))

    assert [(s.context, s.creator) for s in server.repos[REPO].statuses] == [
        ("gitops/apply/prod", BOT)
    ]


def test_history_reads_as_the_app(server: GitHubServer, key: AppKey, tmp_path: Path) -> None:
    args = ["history", "--forge", "github", "--repo", REPO, "--api-url", server.url]
    args += ["--env", "prod", "--github-app-id", str(APP_ID)]
    args += ["--github-app-key-file", str(_write_key(tmp_path, key))]

    done = _run_cli(args, {})

    assert done.returncode == 0, done.stderr
    assert done.stdout == "no deployments recorded for prod\n"
    (installation,) = server.installations.values()
    assert f"POST /app/installations/{installation.id}/access_tokens" in server.log
    assert {r.status for r in server.requests} == {200, 201}
