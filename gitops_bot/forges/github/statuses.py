"""GitHub's side of the Statuses and Deployments ports.

Owns: commit statuses (one per context, descriptions cut to GitHub's 140
characters), reading back the latest status of each context, and
deployments: one GitHub deployment per (environment, commit), created with
auto_merge off and no required contexts (the bot records what the puller
did, it does not ask GitHub to gate it), and a deployment status per call.
Refuses: check runs (they need a GitHub App), and deciding what a state
or description says.
"""

from __future__ import annotations

from github.GithubObject import NotSet

from gitops_bot.core.forge import DeploymentState, Status, StatusState
from gitops_bot.forges.github.client import STATUS_DESCRIPTION_LIMIT, Client

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
        with self._doing(f"reading the statuses of {self._name}@{sha[:12]}"):
            combined = self._repo.get_commit(sha).get_combined_status()
            return tuple(
                Status(
                    sha=sha,
                    context=s.context,
                    state=_STATUS_STATES_READ[s.state],
                    description=s.description or "",
                    url=s.target_url or "",
                )
                for s in combined.statuses
            )

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
