"""GitLab's side of the Statuses and Deployments ports.

Owns: commit statuses (GitLab's state machine: `pending` after `pending` is
a 400 "Cannot transition status", so a pending status whose text changes
is canceled and set pending anew; ERROR travels as `failed` with an
"error: " prefix, since GitLab has no such state), reading back the latest
status of each name, and deployments through the deployments API: the
newest deployment of the environment is updated when it is for the same
commit and GitLab allows the move, otherwise a new one is created; and
reading an environment's newest deployments back, since when each holds
its state being its `updated_at` (GitLab sets it when the status moves, and
the bot moves it only to another state). GitLab deployments carry no
description or URL: those are not sent, and read back empty.
Refuses: to rewrite a deployment GitLab considers finished into an
earlier state (a new deployment records a new attempt instead).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC
from typing import Any

from gitlab.exceptions import GitlabError

from gitops_bot.core.pr.model import Deployment, DeploymentState, Status, StatusState
from gitops_bot.errors import ForgeError
from gitops_bot.forges.gitlab.client import STATUS_DESCRIPTION_LIMIT, Client, text_of, when

_TRIES = 3  # a concurrent writer set pending between our cancel and our pending
ERROR_PREFIX = "error: "  # how a failed status says it is an ERROR, not a FAILURE

_TO_STATE = {
    StatusState.PENDING: "pending",
    StatusState.SUCCESS: "success",
    StatusState.FAILURE: "failed",
    StatusState.ERROR: "failed",
}
_FROM_STATE = {"success": StatusState.SUCCESS, "failed": StatusState.FAILURE}
# GitLab creates deployments only as running, success, failed or canceled.
_DEPLOYMENT_STATES = {
    DeploymentState.PENDING: "running",
    DeploymentState.IN_PROGRESS: "running",
    DeploymentState.SUCCESS: "success",
    DeploymentState.FAILURE: "failed",
    DeploymentState.ERROR: "failed",
}
# GitLab's deployment state machine: `running` only from `created`; the
# finished states from any other state.
_CAN_MOVE = {"running": ("created",), "success": None, "failed": None}
_DEPLOYMENT_STATES_READ = {
    "created": DeploymentState.PENDING,
    "running": DeploymentState.IN_PROGRESS,
    "blocked": DeploymentState.IN_PROGRESS,  # waiting for an approval
    "success": DeploymentState.SUCCESS,
    "failed": DeploymentState.FAILURE,  # an ERROR was recorded as failed too
    "canceled": DeploymentState.ERROR,
    "skipped": DeploymentState.ERROR,
}


def _iso(text: str) -> str:
    """GitLab's `2026-01-05T09:00:01.000Z` (or another offset) as `2026-01-05T09:00:01Z`."""
    return when(text).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _deployment(env: str, attrs: Mapping[str, Any]) -> Deployment:
    return Deployment(
        env=env,
        sha=str(attrs["sha"]),
        state=_DEPLOYMENT_STATES_READ.get(str(attrs["status"]), DeploymentState.ERROR),
        since=_iso(str(attrs["updated_at"])),
        created_at=_iso(str(attrs["created_at"])),
    )


def _status(sha: str, attrs: Mapping[str, Any]) -> Status:
    description = str(attrs.get("description") or "")
    state = _FROM_STATE.get(attrs["status"], StatusState.PENDING)
    if attrs["status"] in ("canceled", "skipped"):
        state = StatusState.ERROR
    if state is StatusState.FAILURE and description.startswith(ERROR_PREFIX):
        state, description = StatusState.ERROR, description.removeprefix(ERROR_PREFIX)
    return Status(
        sha=sha,
        context=str(attrs["name"]),
        state=state,
        description=description,
        url=str(attrs.get("target_url") or ""),
    )


class StatusesPart(Client):
    def set_status(self, status: Status) -> None:
        what = f"setting the status {status.context!r} on {status.sha[:12]} in {self._name}"
        description = status.description
        if status.state is StatusState.ERROR:
            description = ERROR_PREFIX + description
        data = {"state": _TO_STATE[status.state], "name": status.context}
        if description:
            data["description"] = description[:STATUS_DESCRIPTION_LIMIT]
        if status.url:
            data["target_url"] = status.url
        statuses = self._project.commits.get(status.sha, lazy=True).statuses
        with self._doing(what):
            for _ in range(_TRIES):
                try:
                    statuses.create(data, **self._retry)
                    return
                except GitlabError as err:
                    if err.response_code != 400 or "Cannot transition status" not in text_of(err):
                        raise
                current = {s.context: s for s in self.statuses(status.sha)}.get(status.context)
                if current == replace(status, description=description[:STATUS_DESCRIPTION_LIMIT]):
                    return  # another writer set this very text (a second planner)
                # Pending after pending: GitLab updates a pending status only through
                # a transition, and pending has none to itself, so the new text would
                # be lost ("needs 1 more approval" after the owner approved). Cancel
                # the pending one (a finished status is never updated again: the next
                # POST makes a new one under the same name, which the list reads as
                # the latest) and set pending anew. The name is never success in
                # between, so a required pipeline stays blocked.
                statuses.create({**data, "state": "canceled"}, **self._retry)
        raise ForgeError(f"{what}: another writer kept changing it; try again")

    def statuses(self, sha: str) -> tuple[Status, ...]:
        what = f"reading the statuses of {sha[:12]} in {self._name}"
        latest: dict[str, Mapping[str, Any]] = {}
        with self._doing(what):
            for item in self._project.commits.get(sha, lazy=True).statuses.list(
                iterator=True, **self._retry
            ):
                attrs = item.asdict()
                if attrs["name"] not in latest or attrs["id"] > latest[attrs["name"]]["id"]:
                    latest[attrs["name"]] = attrs
            return tuple(_status(sha, latest[name]) for name in sorted(latest))

    def _default_branch(self, what: str) -> str:
        if self._branch is None:
            with self._doing(what):
                found = self._gl.projects.get(self._name, **self._retry)
                self._branch = str(found.default_branch)
        return self._branch

    def record_deployment(
        self,
        env: str,
        sha: str,
        state: DeploymentState,
        description: str,
        url: str = "",
        *,
        ref: str = "",
    ) -> None:
        """GET the environment's newest deployment; PUT its status when it is this
        commit's and GitLab allows the move, else POST a new one: 2 requests
        (none more when nothing changes; GET /projects/:id once without `ref`)."""
        what = f"recording the deployment of {sha[:12]} to {env} in {self._name}"
        wanted = _DEPLOYMENT_STATES[state]
        with self._doing(what):
            newest = self._project.deployments.list(
                environment=env,
                order_by="id",
                sort="desc",
                per_page=1,
                get_all=False,
                **self._retry,
            )
            if newest and newest[0].sha == sha:
                current = str(newest[0].status)
                if current == wanted:
                    return
                sources = _CAN_MOVE[wanted]
                if sources is None or current in sources:
                    self._project.deployments.update(
                        newest[0].id, {"status": wanted}, **self._retry
                    )
                    return
        branch = ref or self._default_branch(what)
        with self._doing(what, retried=False):
            self._project.deployments.create(
                {"environment": env, "sha": sha, "ref": branch, "tag": False, "status": wanted},
                **self._once,
            )

    def deployments(self, env: str, *, limit: int = 1) -> tuple[Deployment, ...]:
        """GET the environment's newest `limit` deployments: 1 request, so at most
        100 of them (GitLab's largest page)."""
        with self._doing(f"reading the deployments to {env} in {self._name}"):
            found = self._project.deployments.list(
                environment=env,
                order_by="id",
                sort="desc",
                per_page=limit,
                get_all=False,
                **self._retry,
            )
            return tuple(_deployment(env, d.asdict()) for d in found)
