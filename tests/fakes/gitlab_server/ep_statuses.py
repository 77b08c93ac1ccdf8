"""GitLab emulator endpoints of commit statuses and deployments.

Owns: creating a commit status through GitLab's state machine (400
"Cannot transition status" for pending after pending), with GitLab's
choice of ref (the one given, else the last status's, else a branch that
contains the commit; 404 when none does), listing them (retried ones left
out unless `all`), and deployments: creating one (Developer; status one
of running, success, failed, canceled; the environment made on first
use), listing them (filtered by environment and status, ordered) and
moving one to another status (GitLab's transitions: `running` only from
`created`, the finished states from any other). Refuses: pipelines, jobs
and environments' own endpoints.
"""

from __future__ import annotations

from tests.fakes.gitlab_server.state import (
    DEVELOPER,
    STATUS_STATES,
    STATUS_TEXT_LIMIT,
    ApiError,
    CommitStatus,
    Deployment,
    Json,
    Project,
    Request,
    not_found,
    truthy,
)

DEPLOYMENT_STATES = ("running", "success", "failed", "canceled")


class StatusEndpoints:
    """A part of GitLabServer (it uses the Store's records and the shapes)."""

    def _contains(self, proj: Project, sha: str) -> list[str]:
        return sorted(b for b, head in proj.branches.items() if sha in self._ancestors(head))

    def _create_status(self, req: Request) -> tuple[int, Json]:
        proj = self._readable(req)
        if self._level(proj, req.user) < DEVELOPER:
            raise ApiError(403, "403 Forbidden")
        sha = req.parts["sha"]
        state = req.params.get("state")
        if state not in STATUS_STATES:
            raise ApiError(400, "state does not have a valid value", key="error")
        if sha not in proj.known:
            raise not_found("Commit")
        for name in ("description", "target_url", "ref"):
            if len(str(req.params.get(name) or "")) > STATUS_TEXT_LIMIT:
                raise ApiError(400, {name: ["is too long (maximum is 255 characters)"]})
        name = str(req.params.get("name") or req.params.get("context") or "default")
        same_sha = [s for s in self._statuses if s.project is proj and s.sha == sha]
        branches = self._contains(proj, sha)
        ref = (
            req.params.get("ref")
            or (same_sha[-1].ref if same_sha else None)
            or (branches[0] if branches else None)
        )
        if not ref:
            raise not_found("References for commit")
        live = [
            s
            for s in same_sha
            if (s.name, s.ref, s.author) == (name, ref, req.user)
            and s.status in ("pending", "running")
        ]
        now = self._tick()
        status = live[-1] if live else None
        if status is None:
            status = CommitStatus(
                next(self._ids), proj, sha, str(ref), name, "created", None, None, req.user, now
            )
        self._transition(status, str(state))
        status.description = req.params.get("description") or status.description
        status.target_url = req.params.get("target_url") or status.target_url
        if status.status == "running":
            status.started = status.started or now
        if status.status in ("success", "failed", "canceled", "skipped"):
            status.finished = now
        if not live:
            for older in same_sha:
                if (older.name, older.ref) == (name, ref):
                    older.retried = True
            self._statuses.append(status)
        return 201, self._status_json(status)

    @staticmethod
    def _transition(status: CommitStatus, state: str) -> None:
        """GitLab's state machine of a commit status, for the events the API fires."""
        allowed = {
            "enqueue": ("created", "pending"),
            "run": ("pending", "running"),
            "success": ("created", "pending", "running", "success"),
            "drop": ("created", "pending", "running", "failed"),
            "cancel": ("created", "pending", "running", "canceled"),
            "skip": ("created", "pending", "skipped"),
        }

        def fire(event: str, *, bang: bool = True) -> None:
            sources, target = allowed[event][:-1], allowed[event][-1]
            if status.status in sources:
                status.status = target
            elif bang:
                raise ApiError(
                    400,
                    f"Cannot transition status via :{event} from :{status.status} "
                    f'(Reason(s): Status cannot transition via "{event}")',
                )

        if state == "pending":
            fire("enqueue")
        elif state == "running":
            fire("enqueue", bang=False)
            fire("run")
        else:
            fire(
                {"success": "success", "failed": "drop", "canceled": "cancel", "skipped": "skip"}[
                    state
                ]
            )

    def _list_statuses(self, req: Request) -> list[Json]:
        proj = self._readable(req)
        sha = req.parts["sha"]
        if sha not in proj.known:
            raise not_found("Commit")
        found = [s for s in self._statuses if s.project is proj and s.sha == sha]
        if not truthy(req.params.get("all", False)):
            found = [s for s in found if not s.retried]
        for key in ("ref", "name"):
            if req.params.get(key):
                found = [s for s in found if getattr(s, key) == req.params[key]]
        return [self._status_json(s) for s in found]

    def _create_deployment(self, req: Request) -> tuple[int, Json]:
        proj = self._writable(req)
        params = req.params
        for key in ("environment", "sha", "ref", "tag", "status"):
            if key not in params or params[key] in (None, ""):
                raise ApiError(400, f"{key} is missing", key="error")
        if params["status"] not in DEPLOYMENT_STATES:
            raise ApiError(400, "status does not have a valid value", key="error")
        sha, ref = str(params["sha"]), str(params["ref"])
        if sha not in proj.known:
            raise ApiError(400, "The commit does not exist")
        if ref not in proj.branches and ref not in proj.tags:
            raise ApiError(400, f"The ref {ref} does not exist")
        env = str(params["environment"])
        env_id = self._environments.setdefault((proj.id, env), next(self._ids))
        now = self._tick()
        iid = 1 + sum(1 for d in proj.deployments)
        deployment = Deployment(
            next(self._ids),
            iid,
            env,
            env_id,
            sha,
            ref,
            truthy(params["tag"]),
            str(params["status"]),
            req.user,
            now,
            now,
        )
        proj.deployments.append(deployment)
        return 201, self._deployment_json(proj, deployment)

    def _list_deployments(self, req: Request) -> list[Json]:
        proj = self._readable(req)
        found = [
            d
            for d in proj.deployments
            if req.params.get("environment") in (None, d.environment)
            and req.params.get("status") in (None, d.status)
        ]
        key = {"created_at": "created", "updated_at": "updated"}.get(
            str(req.params.get("order_by")), str(req.params.get("order_by") or "id")
        )
        found.sort(key=lambda d: (getattr(d, key), d.id))
        if req.params.get("sort", "asc") == "desc":
            found.reverse()
        return [self._deployment_json(proj, d) for d in found]

    def _update_deployment(self, req: Request) -> Json:
        proj = self._writable(req)
        deployment = next(
            (d for d in proj.deployments if d.id == int(req.parts["deployment"])), None
        )
        if deployment is None:
            raise not_found("Deployment")
        status = req.params.get("status")
        if status not in DEPLOYMENT_STATES:
            raise ApiError(400, "status does not have a valid value", key="error")
        allowed = (
            deployment.status == "created" if status == "running" else deployment.status != status
        )
        if not allowed:
            raise ApiError(400, f"Cannot transition status via :{status} from :{deployment.status}")
        deployment.status, deployment.updated = str(status), self._tick()
        return self._deployment_json(proj, deployment)
