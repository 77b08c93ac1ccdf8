"""GitLab emulator endpoints of merge requests.

Owns: reading one and its diffs and versions, listing them (state,
source branch, order and sort as GitLab takes them), the merge requests
of a commit (those whose commits include it, or that merged into it),
opening, editing and closing one (`state_event`), merging it (store_mrs
makes the commit; GitLab's 405, 406 and 409 refusals), and approvals.
Refuses: drafts, merge when pipeline succeeds, squash and rebase.
"""

from __future__ import annotations

from tests.fakes.gitlab_server.state import ApiError, Json, MergeRequest, Request, iso, not_found


class MergeRequestEndpoints:
    """A part of GitLabServer (it uses the Store's records and the shapes)."""

    def _get_mr(self, req: Request) -> Json:
        return self._mr_json(self._mr(req), req.user)

    def _list_diffs(self, req: Request) -> list[Json]:
        return self._changes(self._mr(req))

    def _list_versions(self, req: Request) -> list[Json]:
        return self._versions_json(self._mr(req))

    def _approvals(self, req: Request) -> Json:
        mr = self._mr(req)
        return {
            "id": mr.id,
            "iid": mr.iid,
            "project_id": mr.project.id,
            "title": mr.title,
            "description": mr.description,
            "state": mr.state,
            "created_at": iso(mr.created),
            "updated_at": iso(mr.updated),
            "merge_status": "can_be_merged",
            "approved": bool(mr.approvals),
            "approvals_required": 0,
            "approvals_left": 0,
            "require_password_to_approve": False,
            "approved_by": [
                {"user": self._user_basic(a.user), "approved_at": iso(a.at)} for a in mr.approvals
            ],
            "suggested_approvers": [],
            "approvers": [],
            "approver_groups": [],
            "user_has_approved": any(a.user is req.user for a in mr.approvals),
            "user_can_approve": all(a.user is not req.user for a in mr.approvals),
            "approval_rules_left": [],
            "has_approval_rules": False,
            "merge_request_approvers_available": False,
            "multiple_approval_rules_available": False,
            "invalid_approvers_rules": [],
        }

    def _create_mr(self, req: Request) -> tuple[int, Json]:
        source = self._writable(req)
        target_id = req.params.get("target_project_id")
        target = self.project(target_id) if target_id else source
        labels = req.params.get("labels") or []
        if isinstance(labels, str):
            labels = [t for t in labels.split(",") if t]
        for key in ("source_branch", "target_branch", "title"):
            if not req.params.get(key):
                raise ApiError(400, f"{key} is missing", key="error")
        mr = self._open(
            target,
            source,
            source_branch=str(req.params["source_branch"]),
            target_branch=str(req.params["target_branch"]),
            title=str(req.params["title"]),
            author=req.user,
            description=str(req.params.get("description") or ""),
            labels=list(labels),
        )
        return 201, self._mr_json(mr, req.user)

    def _list_mrs(self, req: Request) -> list[Json]:
        proj = self._readable(req)
        state = str(req.params.get("state") or "all")
        source = req.params.get("source_branch")
        found = [
            mr
            for mr in self._mrs
            if mr.project is proj
            and state in ("all", mr.state)
            and source in (None, mr.source_branch)
        ]
        key = "updated" if req.params.get("order_by") == "updated_at" else "created"
        found.sort(key=lambda mr: (getattr(mr, key), mr.id))
        if req.params.get("sort", "desc") == "desc":
            found.reverse()
        return [self._mr_listed_json(mr, req.user) for mr in found]

    def _commit_mrs(self, req: Request) -> list[Json]:
        proj = self._readable(req)
        sha = req.parts["sha"]
        if sha not in proj.known:
            raise not_found("Commit")
        found = [
            mr
            for mr in self._mrs
            if proj in (mr.project, mr.source)
            and (sha == mr.merge_commit_sha or sha in self._carried(mr))
        ]
        return [self._mr_listed_json(mr, req.user) for mr in found]

    def _carried(self, mr: MergeRequest) -> set[str]:
        """The commits of the merge request's newest version."""
        version = mr.versions[-1]
        return self._ancestors(version.head) - self._ancestors(version.base)

    def _update_mr(self, req: Request) -> Json:
        self._writable(req)
        mr = self._mr(req)
        if "title" in req.params:
            if not str(req.params["title"]).strip():
                raise ApiError(400, "title is empty", key="error")
            mr.title = str(req.params["title"])
        if "description" in req.params:
            mr.description = str(req.params["description"] or "")
        event = req.params.get("state_event")
        if event == "close" and mr.state == "opened":
            mr.state, mr.closed_at = "closed", self._tick()
        elif event == "reopen" and mr.state == "closed":
            mr.state, mr.closed_at = "opened", None
        mr.updated = self._tick()
        return self._mr_json(mr, req.user)

    def _merge_mr(self, req: Request) -> Json:
        self._writable(req)
        mr = self._mr(req)
        sha = req.params.get("sha")
        message = req.params.get("merge_commit_message")
        self.merge(mr, req.user, sha=str(sha) if sha else None, message=message)
        return self._mr_json(mr, req.user)
