"""Endpoints of commit statuses and deployments.

Owns: creating a commit status (GitHub's 422s for an unknown commit, a bad
state or a description over 140 characters) and the list of a commit's
statuses (newest first, paginated as GitHub does; the combined status,
whose first page only PyGithub reads, is not emulated: the bot does not use
it); creating deployments (of a commit, with the body GitHub documents;
required contexts are not checked, the bot sends none), listing them
(newest first, filtered by sha and environment), adding deployment
statuses (a success marks the environment's earlier successful deployments
`inactive`, as GitHub's auto_inactive does) and listing them (newest
first). Refuses: check runs, environments' protection rules and
auto-merge on deployment (the emulator answers as if auto_merge were
false, which is what the bot sends).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tests.fakes.github_server.routing import invalid, route
from tests.fakes.github_server.state import (
    STATUS_DESCRIPTION_LIMIT,
    DeploymentRecord,
    DeploymentStatusRecord,
    HttpError,
    Json,
    Repo,
    StatusRecord,
)

if TYPE_CHECKING:
    from tests.fakes.github_server.server import GitHubServer

DEPLOYMENT_STATES = ("error", "failure", "inactive", "in_progress", "queued", "pending", "success")


@route("POST", "{repo}/statuses/(?P<sha>[0-9a-f]{40})")
def _create_status(s: GitHubServer, repo: Repo | None, p: dict[str, str], q: Any, b: Json) -> Any:
    assert repo is not None
    if p["sha"] not in s.commits:
        raise invalid("Status", "sha", f"No commit found for SHA: {p['sha']}")
    if b.get("state") not in ("error", "failure", "pending", "success"):
        raise invalid("Status", "state", "state is not included in the list", "invalid")
    description = b.get("description")
    if description is not None and len(description) > STATUS_DESCRIPTION_LIMIT:
        limit = STATUS_DESCRIPTION_LIMIT
        raise invalid("Status", "description", f"description is too long (maximum is {limit})")
    status = StatusRecord(
        id=next(s._ids),
        sha=p["sha"],
        context=str(b.get("context") or "default"),
        state=str(b["state"]),
        description=description,
        target_url=b.get("target_url"),
        creator=p["login"],
        created_at=s.now(),
    )
    repo.statuses.append(status)
    payload = s.status_json(repo, status)
    return 201, {"Location": payload["url"]}, payload


@route("GET", "{repo}/commits/(?P<ref>.+)/statuses")
def _list_statuses(s: GitHubServer, repo: Repo | None, p: dict[str, str], q: Any, b: Json) -> Any:
    assert repo is not None
    sha = repo.refs.get(f"heads/{p['ref']}", p["ref"])
    found = [s.status_json(repo, st) for st in reversed(repo.statuses) if st.sha == sha]
    link, chunk = s.page(found, f"/repos/{repo.full_name}/commits/{p['ref']}/statuses", q)
    return 200, link, chunk


@route("POST", "{repo}/deployments")
def _create_deployment(
    s: GitHubServer, repo: Repo | None, p: dict[str, str], q: Any, b: Json
) -> Any:
    assert repo is not None
    ref = str(b.get("ref", ""))
    sha = repo.refs.get(f"heads/{ref}", repo.refs.get(f"tags/{ref}", ref))
    if sha not in s.commits:
        raise invalid("Deployment", "ref", f"No ref found for: {ref}", "invalid")
    deployment = DeploymentRecord(
        id=s.next_id(),
        sha=sha,
        ref=ref,
        environment=str(b.get("environment") or "production"),
        description=b.get("description", ""),
        creator=p["login"],
        created_at=s.now(),
        task=str(b.get("task") or "deploy"),
    )
    repo.deployments.append(deployment)
    return 201, {}, s.deployment_json(repo, deployment)


@route("GET", "{repo}/deployments")
def _list_deployments(
    s: GitHubServer, repo: Repo | None, p: dict[str, str], q: Any, b: Json
) -> Any:
    assert repo is not None
    found = [
        s.deployment_json(repo, d)
        for d in reversed(repo.deployments)
        if all(
            q.get(key) in (None, getattr(d, key)) for key in ("sha", "ref", "task", "environment")
        )
    ]
    link, chunk = s.page(found, f"/repos/{repo.full_name}/deployments", q)
    return 200, link, chunk


@route("POST", "{repo}/deployments/(?P<id>[0-9]+)/statuses")
def _create_deployment_status(
    s: GitHubServer, repo: Repo | None, p: dict[str, str], q: Any, b: Json
) -> Any:
    assert repo is not None
    deployment = next((d for d in repo.deployments if d.id == int(p["id"])), None)
    if deployment is None:
        raise invalid("DeploymentStatus", "deployment", "Deployment not found", "invalid")
    state = b.get("state")
    if state not in DEPLOYMENT_STATES:
        raise invalid("DeploymentStatus", "state", "state is not included in the list", "invalid")
    description = str(b.get("description") or "")
    if len(description) > STATUS_DESCRIPTION_LIMIT:
        raise invalid("DeploymentStatus", "description", "description is too long")
    status = DeploymentStatusRecord(
        id=s.next_id(),
        state=str(state),
        description=description,
        target_url=str(b.get("log_url") or b.get("target_url") or ""),
        environment=str(b.get("environment") or deployment.environment),
        creator=p["login"],
        created_at=s.now(),
    )
    deployment.statuses.append(status)
    if status.state == "success" and b.get("auto_inactive", True):
        _inactivate_older(s, repo, deployment, creator=p["login"])
    payload = s.deployment_status_json(repo, deployment, status)
    return 201, {"Location": payload["url"]}, payload


def _inactivate_older(
    s: GitHubServer, repo: Repo, newer: DeploymentRecord, *, creator: str
) -> None:
    """GitHub's auto_inactive: the environment's prior deployments (created before
    `newer`; none is transient or production here) whose latest status is
    success get an `inactive` status."""
    for older in repo.deployments[: repo.deployments.index(newer)]:
        if older.environment != newer.environment:
            continue
        if older.statuses and older.statuses[-1].state == "success":
            older.statuses.append(
                DeploymentStatusRecord(
                    id=s.next_id(),
                    state="inactive",
                    description="",
                    target_url="",
                    environment=older.environment,
                    creator=creator,
                    created_at=s.now(),
                )
            )


@route("GET", "{repo}/deployments/(?P<id>[0-9]+)/statuses")
def _list_deployment_statuses(
    s: GitHubServer, repo: Repo | None, p: dict[str, str], q: Any, b: Json
) -> Any:
    assert repo is not None
    deployment = next((d for d in repo.deployments if d.id == int(p["id"])), None)
    if deployment is None:
        raise HttpError(404, "Not Found")
    found = [s.deployment_status_json(repo, deployment, st) for st in reversed(deployment.statuses)]
    link, chunk = s.page(found, f"/repos/{repo.full_name}/deployments/{deployment.id}/statuses", q)
    return 200, link, chunk
