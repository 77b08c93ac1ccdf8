"""The webhook bodies the GitLab emulator builds: "Merge Request Hook" and "Note Hook".

Owns: the bodies GitLab would send now for a merge request action or a
note, from the same state the REST API answers from, in GitLab's webhook
shapes (their own timestamp format, labels, project and repository
blocks). Refuses: delivering them (the tests post them where they want).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from tests.fakes.gitlab_server.state import (
    STATE_IDS,
    Json,
    Label,
    MergeRequest,
    Project,
    User,
    hook_time,
)


class Hooks:
    """A part of GitLabServer (it uses the Store's records and lock)."""

    def _hook_user(self, user: User) -> Json:
        return {
            "id": user.id,
            "name": user.name,
            "username": user.username,
            "avatar_url": self._user_basic(user)["avatar_url"],
            "email": "[REDACTED]",
        }

    def _hook_project(self, proj: Project) -> Json:
        web = f"{self.url}/{proj.path}"
        host = urlsplit(self.url).hostname
        return {
            "id": proj.id,
            "name": proj.name,
            "description": "",
            "web_url": web,
            "avatar_url": None,
            "git_ssh_url": f"git@{host}:{proj.path}.git",
            "git_http_url": f"{web}.git",
            "namespace": proj.path.rsplit("/", 1)[0],
            "visibility_level": 0,
            "path_with_namespace": proj.path,
            "default_branch": proj.default_branch,
            "ci_config_path": None,
            "homepage": web,
            "url": f"git@{host}:{proj.path}.git",
            "ssh_url": f"git@{host}:{proj.path}.git",
            "http_url": f"{web}.git",
        }

    def _hook_label(self, label: Label) -> Json:
        return {
            "id": label.id,
            "title": label.title,
            "color": "#6699cc",
            "project_id": label.project_id,
            "created_at": hook_time(label.at),
            "updated_at": hook_time(label.at),
            "template": False,
            "description": None,
            "type": "ProjectLabel",
            "group_id": None,
        }

    def _last_commit(self, mr: MergeRequest) -> Json:
        commit = self._commits[mr.versions[-1].head]
        return {
            "id": commit.sha,
            "message": commit.message,
            "title": commit.message.splitlines()[0] if commit.message else "",
            "timestamp": commit.at.isoformat(),
            "url": f"{self.url}/{mr.source.path}/-/commit/{commit.sha}",
            "author": {"name": commit.author.name, "email": commit.author.email},
        }

    def merge_request_hook(
        self, project: str, iid: int, *, action: str, user: str, oldrev: str | None = None
    ) -> Json:
        """The body of the "Merge Request Hook" GitLab would send now for this action."""
        with self._lock:
            mr = self.merge_request(project, iid)
            labels = [self._hook_label(mr.project.labels[t]) for t in mr.labels]
            attrs: Json = {
                "author_id": mr.author.id,
                "created_at": hook_time(mr.created),
                "description": mr.description,
                "draft": False,
                "head_pipeline_id": None,
                "id": mr.id,
                "iid": mr.iid,
                "last_edited_at": None,
                "last_edited_by_id": None,
                "merge_commit_sha": None,
                "merged_at": hook_time(mr.merged_at),
                "merge_error": None,
                "merge_params": {"force_remove_source_branch": "1"},
                "merge_status": "can_be_merged",
                "merge_user_id": None,
                "merge_when_pipeline_succeeds": False,
                "milestone_id": None,
                "source_branch": mr.source_branch,
                "source_project_id": mr.source.id,
                "squash_commit_sha": None,
                "state_id": STATE_IDS[mr.state],
                "target_branch": mr.target_branch,
                "target_project_id": mr.project.id,
                "time_estimate": 0,
                "title": mr.title,
                "updated_at": hook_time(mr.updated),
                "updated_by_id": None,
                "prepared_at": hook_time(mr.versions[0].at),
                "assignee_ids": [u.id for u in mr.assignees],
                "assignee_id": mr.assignees[0].id if mr.assignees else None,
                "blocking_discussions_resolved": True,
                "detailed_merge_status": "mergeable",
                "first_contribution": False,
                "human_time_change": None,
                "human_time_estimate": None,
                "human_total_time_spent": None,
                "labels": labels,
                "last_commit": self._last_commit(mr),
                "reviewer_ids": [u.id for u in mr.reviewers],
                "source": self._hook_project(mr.source),
                "state": mr.state,
                "system": False,
                "target": self._hook_project(mr.project),
                "time_change": 0,
                "total_time_spent": 0,
                "url": f"{self.url}/{mr.project.path}/-/merge_requests/{mr.iid}",
                "work_in_progress": False,
                "approval_rules": [self._any_approver_rule(mr)],
                "action": action,
                "actioned_at": hook_time(self._clock),
            }
            if oldrev is not None:
                attrs["oldrev"] = oldrev
            return {
                "object_kind": "merge_request",
                "event_type": "merge_request",
                "user": self._hook_user(self.user(user)),
                "project": self._hook_project(mr.project),
                "object_attributes": attrs,
                "labels": labels,
                "changes": {"updated_at": {"previous": None, "current": hook_time(mr.updated)}},
                "assignees": [self._hook_user(u) for u in mr.assignees],
                "reviewers": [
                    {**self._hook_user(u), "state": "unreviewed", "re_requested": False}
                    for u in mr.reviewers
                ],
                "repository": self._hook_repository(mr.project),
            }

    def _any_approver_rule(self, mr: MergeRequest) -> Json:
        return {
            "id": mr.id * 10,
            "approvals_required": 0,
            "name": "All Members",
            "rule_type": "any_approver",
            "report_type": None,
            "merge_request_id": mr.id,
            "section": None,
            "modified_from_project_rule": False,
            "orchestration_policy_idx": None,
            "vulnerabilities_allowed": 0,
            "scanners": [],
            "severity_levels": [],
            "vulnerability_states": ["new_needs_triage", "new_dismissed"],
            "security_orchestration_policy_configuration_id": None,
            "scan_result_policy_id": None,
            "applicable_post_merge": None,
            "project_id": mr.project.id,
            "approval_policy_rule_id": None,
            "updated_at": hook_time(mr.created),
            "created_at": hook_time(mr.created),
        }

    def _hook_repository(self, proj: Project) -> Json:
        web = f"{self.url}/{proj.path}"
        return {"name": proj.name, "url": f"{web}.git", "description": "", "homepage": web}

    def note_hook(self, project: str, iid: int, note_id: int, *, action: str = "create") -> Json:
        """The body of the "Note Hook" GitLab would send for this note of a merge request."""
        with self._lock:
            mr = self.merge_request(project, iid)
            note = next(n for n in mr.notes if n.id == note_id)
            mr_url = f"{self.url}/{mr.project.path}/-/merge_requests/{mr.iid}"
            first = mr.assignees[0] if mr.assignees else None
            return {
                "object_kind": "note",
                "event_type": "note",
                "user": self._hook_user(note.author),
                "project_id": mr.project.id,
                "project": self._hook_project(mr.project),
                "repository": self._hook_repository(mr.project),
                "object_attributes": {
                    "id": note.id,
                    "internal": False,
                    "note": note.body,
                    "noteable_type": "MergeRequest",
                    "author_id": note.author.id,
                    "created_at": hook_time(note.created),
                    "updated_at": hook_time(note.updated),
                    "project_id": mr.project.id,
                    "attachment": None,
                    "line_code": None,
                    "commit_id": "",
                    "noteable_id": mr.id,
                    "system": note.system,
                    "st_diff": None,
                    "action": action,
                    "url": f"{mr_url}#note_{note.id}",
                },
                "merge_request": {
                    "id": mr.id,
                    "target_branch": mr.target_branch,
                    "source_branch": mr.source_branch,
                    "source_project_id": mr.source.id,
                    "author_id": mr.author.id,
                    "assignee_id": first.id if first else None,
                    "title": mr.title,
                    "created_at": hook_time(mr.created),
                    "updated_at": hook_time(mr.updated),
                    "milestone_id": None,
                    "state": mr.state,
                    "merge_status": "can_be_merged",
                    "target_project_id": mr.project.id,
                    "iid": mr.iid,
                    "description": mr.description,
                    "position": 0,
                    "labels": [self._hook_label(mr.project.labels[t]) for t in mr.labels],
                    "source": self._hook_project(mr.source),
                    "target": self._hook_project(mr.project),
                    "last_commit": self._last_commit(mr),
                    "work_in_progress": False,
                    "draft": False,
                    "assignee": (
                        {k: v for k, v in self._hook_user(first).items() if k != "email"}
                        if first
                        else None
                    ),
                    "detailed_merge_status": "mergeable",
                },
            }
