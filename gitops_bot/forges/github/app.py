"""GitHub App authentication: an installation token for a repository, through PyGithub.

Owns: finding the App's installation for a repository (the delivery's
installation id when it names one, else GET /repos/{o}/{r}/installation,
remembered per repository), one PyGithub AppInstallationAuth per
installation shared by every client of the process (so one token per
installation, which PyGithub gets with the App's JWT and gets again when
it is within 20 seconds of expiring, before any request is refused), the
App's own account ("SLUG[bot]", from GET /app, once), and errors that name
the App and the repository and never carry the key or a token. Refuses:
signing JWTs itself (PyGithub's AppAuth does) and the ports (client.py and
its siblings take the Auth this returns).
"""

from __future__ import annotations

import threading
from typing import Any

from github import Auth, GithubException, GithubIntegration

from gitops_bot.errors import ForgeError
from gitops_bot.forges.appkey import AppKey

_lock = threading.Lock()
_auths: dict[tuple[str, str, int], Auth.AppInstallationAuth] = {}  # (api, app, installation)
_installations: dict[tuple[str, str, str], int] = {}  # (api, app, repo) -> installation
_logins: dict[tuple[str, str], str] = {}  # (api, app) -> "slug[bot]"


def installation_auth(
    app: AppKey, *, repo: str, base_url: str, installation: int | None, **client: Any
) -> Auth.AppInstallationAuth:
    """The installation's authentication for `repo`: the installation given, else
    the one GitHub says the App has on the repository. `client`: PyGithub's
    options (retry, timeout, user_agent) for the App's own requests."""
    if installation is None:
        installation = _installation_of(app, repo, base_url, client)
    key = (base_url, app.app_id, installation)
    with _lock:
        auth = _auths.get(key)
        if auth is None:
            # Ready to fetch tokens on its own (for git); each Github client it
            # is given to points it at its own requester.
            requester = _integration(app, base_url, client).requester
            auth = Auth.AppAuth(app.app_id, app.private_key).get_installation_auth(
                installation, requester=requester
            )
            _auths[key] = auth
    return auth


def first_token(auth: Auth.AppInstallationAuth, app: AppKey, repo: str) -> str:
    """The installation's current token (fetched now when there is none, or it is
    about to expire), with an error that says which App and repository."""
    try:
        return auth.token
    except GithubException as err:
        forget(app, repo)
        raise ForgeError(
            f"getting an installation token of the GitHub App {app.app_id} for {repo} "
            f"(POST /app/installations/{auth.installation_id}/access_tokens): "
            f"{_said(err)}{_hint(err, app)}"
        ) from None


def bot_login(app: AppKey, base_url: str, **client: Any) -> str:
    """The App's account, "SLUG[bot]": who its comments are by (GET /app, once)."""
    key = (base_url, app.app_id)
    if key not in _logins:
        integration = _integration(app, base_url, client)
        try:
            slug = integration.get_app().slug
        except GithubException as err:
            raise ForgeError(
                f"reading the GitHub App {app.app_id} (GET /app): {_said(err)}{_hint(err, app)}"
            ) from None
        finally:
            integration.close()
        _logins[key] = f"{slug}[bot]"
    return _logins[key]


def forget(app: AppKey, repo: str) -> None:
    """Look the repository's installation up again next time (it may have been
    reinstalled, so its id changed)."""
    with _lock:
        for key in [k for k in _installations if k[1:] == (app.app_id, repo)]:
            del _installations[key]


def clear() -> None:
    """Forget every installation, token and login (a rotated key; tests that
    start a new emulator on a port an old one had)."""
    with _lock:
        _auths.clear()
        _installations.clear()
        _logins.clear()


def _installation_of(app: AppKey, repo: str, base_url: str, client: dict[str, Any]) -> int:
    key = (base_url, app.app_id, repo)
    with _lock:
        if key in _installations:
            return _installations[key]
    owner, _, name = repo.partition("/")
    integration = _integration(app, base_url, client)
    try:
        found = int(integration.get_repo_installation(owner, name).id)
    except GithubException as err:
        if err.status == 404:
            raise ForgeError(
                f"the GitHub App {app.app_id} is not installed on {repo} (GET /repos/{repo}/"
                "installation answered 404): install the App on that repository, or give "
                "it access to it in the installation's settings"
            ) from None
        raise ForgeError(
            f"finding the GitHub App {app.app_id}'s installation on {repo} "
            f"(GET /repos/{repo}/installation): {_said(err)}{_hint(err, app)}"
        ) from None
    finally:
        integration.close()
    with _lock:
        _installations[key] = found
    return found


def _integration(app: AppKey, base_url: str, client: dict[str, Any]) -> GithubIntegration:
    return GithubIntegration(
        auth=Auth.AppAuth(app.app_id, app.private_key), base_url=base_url, **client
    )


def _said(err: GithubException) -> str:
    data = err.data if isinstance(err.data, dict) else {}
    message = str(data.get("message") or "")
    return f"GitHub answered {err.status}" + (f": {message}" if message else "")


def _hint(err: GithubException, app: AppKey) -> str:
    if err.status == 401:
        return (
            f" (is the private key the one GitHub generated for App {app.app_id}, "
            "and the machine's clock right?)"
        )
    return ""
