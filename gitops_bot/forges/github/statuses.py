"""GitHub's side of the Statuses and Deployments ports.

Owns: commit statuses (one per context, descriptions cut to GitHub's 140
characters), reading back the latest status of each context (from the
list of the commit's statuses, every page), and
deployments: one GitHub deployment per (environment, commit), created with
auto_merge off and no required contexts (the bot records what the puller
did, it does not ask GitHub to gate it), a deployment status per call, and
reading an environment's newest deployments back with their latest state
and since when it holds (statuses are listed newest first; `inactive`, which
GitHub sets on a deployment a newer one replaced, is not a state of ours
and is passed over). Refuses: check runs (they need a GitHub App), and
deciding what a state or description says.
"""

from __future__ import annotations

import itertools

from github.CommitStatus import CommitStatus
from github.Deployment import Deployment as GitHubDeployment
from github.GithubObject import NotSet
from github.PaginatedList import PaginatedList

from gitops_bot.core.pr.model import Deployment, DeploymentState, Status, StatusState
from gitops_bot.forges.github.client import STATUS_DESCRIPTION_LIMIT, Client, when

_STATUS_STATES = {
    StatusState.PENDING: "pending",
    StatusState.SUCCESS: "success",
    StatusState.FAILURE: "failure",
    StatusState.ERROR: "error",
}
_STATUS_STATES_READ = {name: state for state, name in _STATUS_STATES.items()}
_DEPLOYMENT_STATES = {
    DeploymentState.PENDING: "pending",
    DeploymentState.IN_PROGRESS: "in_progress",
    DeploymentState.SUCCESS: "success",
    DeploymentState.FAILURE: "failure",
    DeploymentState.ERROR: "error",
}
_DEPLOYMENT_STATES_READ = {
    **{name: state for state, name in _DEPLOYMENT_STATES.items()},
    "queued": DeploymentState.PENDING,
}


def _deployment(env: str, found: GitHubDeployment) -> Deployment:
    """Its latest state and the start of the run of statuses with that state.

    An `inactive` status ends a run (the deployment was replaced meanwhile),
    but is not a state: a deployment whose newest status is `inactive` keeps
    the state it had before."""
    statuses = iter(found.get_statuses())
    newest = next((s for s in statuses if s.state in _DEPLOYMENT_STATES_READ), None)
    if newest is None:
        return Deployment(
            env=env,
            sha=found.sha,
            state=DeploymentState.PENDING,
            since=when(found.created_at),
            description=found.description or "",
            created_at=when(found.created_at),
        )
    state, since = _DEPLOYMENT_STATES_READ[newest.state], newest.created_at
    for older in statuses:  # lazily: a long run costs a page more, a short one nothing
        if _DEPLOYMENT_STATES_READ.get(older.state) is not state:
            break
        since = older.created_at
    return Deployment(
        env=env,
        sha=found.sha,
        state=state,
        since=when(since),
        description=newest.description or "",
        created_at=when(found.created_at),
    )


def _cut(text: str) -> str:
    if len(text) > STATUS_DESCRIPTION_LIMIT:
        return text[: STATUS_DESCRIPTION_LIMIT - 1] + "…"
    return text


class StatusesPart(Client):
    def set_status(self, status: Status) -> None:
        extra = {"description": _cut(status.description), "context": status.context}
        if status.url:
            extra["target_url"] = status.url
        with self._doing(f"setting status {status.context} on {self._name}@{status.sha[:12]}"):
            commit = self._repo.get_commit(status.sha)
            commit.create_status(_STATUS_STATES[status.state], **extra)

    def statuses(self, sha: str) -> tuple[Status, ...]:
        # The list of the commit's statuses, newest first, every page: the combined
        # status gives its first page only (30), and 100 environments have 201 contexts.
        latest: dict[str, Status] = {}
        with self._doing(f"reading the statuses of {self._name}@{sha[:12]}"):
            # PyGithub's Commit.get_statuses asks the legacy /statuses/{sha} path.
            listed = PaginatedList(
                CommitStatus, self._repo.requester, f"{self._repo.url}/commits/{sha}/statuses", None
            )
            for s in listed:
                if s.context not in latest:
                    latest[s.context] = Status(
                        sha=sha,
                        context=s.context,
                        state=_STATUS_STATES_READ[s.state],
                        description=s.description or "",
                        url=s.target_url or "",
                    )
        return tuple(latest.values())

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
        """GET the deployment of `sha` to `env` (POST it when there is none), then
        POST a deployment status: 2 requests, 3 the first time. `ref` is unused:
        GitHub deploys the SHA itself."""
        doing = f"recording the deployment of {sha[:12]} to {env} in {self._name}"
        with self._doing(doing):
            found = self._repo.get_deployments(sha=sha, environment=env)
            deployment = next(iter(found), None)
            if deployment is None:
                deployment = self._repo.create_deployment(
                    ref=sha,
                    environment=env,
                    auto_merge=False,
                    required_contexts=[],
                    description=_cut(description),
                    transient_environment=False,
                )
            deployment.create_status(
                _DEPLOYMENT_STATES[state],
                description=_cut(description),
                target_url=url if url else NotSet,
            )

    def deployments(self, env: str, *, limit: int = 1) -> tuple[Deployment, ...]:
        """GET the environment's deployments, then each one's statuses: 1 + `limit`
        requests, fewer when the environment has fewer deployments (GitHub lists
        both newest first, 100 a page; a run of one state longer than that costs
        a page more)."""
        with self._doing(f"reading the deployments to {env} in {self._name}"):
            found = self._repo.get_deployments(environment=env)
            return tuple(_deployment(env, d) for d in itertools.islice(found, limit))
