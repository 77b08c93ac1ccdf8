"""Endpoints about who: the authenticated user, the repository, roles and teams.

Owns: GET /user (403 for an App installation token, as GitHub answers),
GET /repos/{o}/{r}, the collaborator permission (role_name and the legacy
permission of custom roles) and team memberships (active or pending; 403
"Resource not accessible by integration" for an App installation token
without the organization's members permission, as Actions' GITHUB_TOKEN).
Refuses: scopes and organisation policies.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tests.fakes.github_server.routing import route
from tests.fakes.github_server.state import EPOCH, ROLES, HttpError, Json, Repo, digest

NOT_ACCESSIBLE = "Resource not accessible by integration"  # an App token without the permission

if TYPE_CHECKING:
    from tests.fakes.github_server.server import GitHubServer


@route("GET", "/user")
def _get_user(s: GitHubServer, repo: Repo | None, p: dict[str, str], q: Any, b: Json) -> Any:
    if p["app"]:
        raise HttpError(403, "Resource not accessible by integration")
    login = p["login"]
    return s.user_json(login) | {
        "name": None,
        "company": None,
        "blog": "",
        "location": None,
        "email": None,
        "hireable": None,
        "bio": None,
        "twitter_username": None,
        "public_repos": 0,
        "public_gists": 0,
        "followers": 0,
        "following": 0,
        "created_at": EPOCH.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "updated_at": EPOCH.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


@route("GET", "{repo}")
def _get_repo(s: GitHubServer, repo: Repo | None, p: dict[str, str], q: Any, b: Json) -> Any:
    assert repo is not None
    return s.repo_json(repo) | {"network_count": 0, "subscribers_count": 0}


@route("GET", "{repo}/collaborators/(?P<user>[^/]+)/permission")
def _permission(s: GitHubServer, repo: Repo | None, p: dict[str, str], q: Any, b: Json) -> Any:
    assert repo is not None
    user = p["user"]
    if user not in s.users:
        raise HttpError(404, "Not Found")
    role = repo.collaborators.get(user, "admin" if user == repo.owner else "none")
    return {
        "permission": ROLES.get(role) or s.custom_roles[role],
        "role_name": role,
        "user": s.user_json(user)
        | {
            "role_name": role,
            "permissions": {
                "admin": role == "admin",
                "maintain": role in ("admin", "maintain"),
                "push": (ROLES.get(role) or s.custom_roles[role]) in ("admin", "write"),
                "triage": role in ("admin", "maintain", "write", "triage"),
                "pull": role != "none",
            },
        },
    }


@route("GET", "/orgs/(?P<org>[^/]+)/teams/(?P<slug>[^/]+)/memberships/(?P<user>[^/]+)")
def _membership(s: GitHubServer, repo: Repo | None, p: dict[str, str], q: Any, b: Json) -> Any:
    if p["app"] and "members" in s.apps_lack:
        raise HttpError(403, NOT_ACCESSIBLE)
    state = s.teams.get((p["org"], p["slug"]), {}).get(p["user"])
    if state is None:
        raise HttpError(404, "Not Found")
    team = int(digest(p["org"], p["slug"])[:6], 16)
    return {
        "url": f"{s.url}/organizations/1/team/{team}/memberships/{p['user']}",
        "role": "member",
        "state": state,
    }
