"""Endpoints of GitHub Apps: the app itself, its installations, installation tokens.

Owns: GET /app, GET /app/installations, GET /repos/{o}/{r}/installation
(404 unless the calling App is installed on that repository) and POST
/app/installations/{id}/access_tokens (201 with a token that expires after
the store's token_lifetime on its clock; 404 for another App's
installation). Every one of them takes the App's JWT, which server.py
checks (RS256 with the App's registered public key, iat and exp sane, iss
the App's id) before a handler runs; the handler gets the App's id as
`app_id`. Refuses: the other App endpoints (hooks, manifests, suspensions)
and narrowing a token to fewer repositories or permissions.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from tests.fakes.github_server.routing import route
from tests.fakes.github_server.state import (
    HTML,
    HttpError,
    InstallationRecord,
    InstallationToken,
    Json,
    Repo,
)

if TYPE_CHECKING:
    from tests.fakes.github_server.server import GitHubServer

APP_PATHS = (  # the paths that take the App's JWT rather than a token
    r"/app",
    r"/app/installations",
    r"/app/installations/\d+/access_tokens",
    r"/repos/[^/]+/[^/]+/installation",
)


def _installation_json(s: GitHubServer, record: InstallationRecord) -> Json:
    app = s.apps[record.app_id]
    account = s.users[record.account]
    return {
        "id": record.id,
        "account": s.user_json(record.account),
        "repository_selection": "selected",
        "access_tokens_url": f"{s.url}/app/installations/{record.id}/access_tokens",
        "repositories_url": f"{s.url}/installation/repositories",
        "html_url": f"{HTML}/organizations/{record.account}/settings/installations/{record.id}",
        "app_id": app.id,
        "app_slug": app.slug,
        "target_id": account.id,
        "target_type": account.type,
        "permissions": dict(record.permissions),
        "events": ["pull_request", "pull_request_review", "issue_comment", "push"],
        "created_at": record.created_at,
        "updated_at": record.created_at,
        "single_file_name": None,
        "suspended_by": None,
        "suspended_at": None,
    }


@route("GET", "/app")
def _get_app(s: GitHubServer, repo: Repo | None, p: dict[str, str], q: Any, b: Json) -> Any:
    app = s.apps[int(p["app_id"])]
    return {
        "id": app.id,
        "slug": app.slug,
        "node_id": f"A_{app.id}",
        "owner": s.user_json(app.owner),
        "name": app.slug,
        "description": None,
        "external_url": f"https://{app.slug}.example",
        "html_url": f"{HTML}/apps/{app.slug}",
        "created_at": app.created_at,
        "updated_at": app.created_at,
        "permissions": {"contents": "read", "pull_requests": "write", "issues": "write"},
        "events": ["pull_request", "issue_comment", "push"],
        "installations_count": sum(1 for i in s.installations.values() if i.app_id == app.id),
    }


@route("GET", "/app/installations")
def _installations(s: GitHubServer, repo: Repo | None, p: dict[str, str], q: Any, b: Json) -> Any:
    mine = [i for i in s.installations.values() if i.app_id == int(p["app_id"])]
    listed = [_installation_json(s, i) for i in mine]
    for item in listed:
        # The description inlines this list's `account` as allOf(simple-user,
        # enterprise), so an item must carry the enterprise's fields too.
        login = item["account"]["login"]
        moment = s.apps[int(p["app_id"])].created_at
        item["account"] |= {"name": login, "slug": login, "created_at": moment}
        item["account"]["updated_at"] = moment
    return listed


@route("GET", "{repo}/installation")
def _repo_installation(
    s: GitHubServer, repo: Repo | None, p: dict[str, str], q: Any, b: Json
) -> Any:
    assert repo is not None
    for record in s.installations.values():
        if record.app_id == int(p["app_id"]) and repo.full_name in record.repos:
            return _installation_json(s, record)
    raise HttpError(404, "Not Found")


@route("POST", r"/app/installations/(?P<installation_id>\d+)/access_tokens")
def _access_token(s: GitHubServer, repo: Repo | None, p: dict[str, str], q: Any, b: Json) -> Any:
    record = s.installations.get(int(p["installation_id"]))
    if record is None or record.app_id != int(p["app_id"]):
        raise HttpError(404, "Not Found")
    token = InstallationToken(
        f"ghs_{secrets.token_hex(18)}", record.id, s.clock() + s.token_lifetime
    )
    s.installation_tokens[token.token] = token
    expires = datetime.fromtimestamp(token.expires_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return (
        201,
        {},
        {
            "token": token.token,
            "expires_at": expires,
            "permissions": dict(record.permissions),
            "repository_selection": "selected",
        },
    )
