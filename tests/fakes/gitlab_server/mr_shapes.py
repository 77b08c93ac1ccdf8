"""The JSON the GitLab emulator answers for merge requests and their changes.

Owns: a merge request as GitLab's REST API documents it (full, with
diff_refs, and the shorter form GitLab lists), its changed files (GitLab's
diff entries, renames detected by identical content, capped at the
instance's limit) and their count ("1000+" past the limit), and its diff
versions. Refuses: state and deciding what to answer.
"""

from __future__ import annotations

import difflib
import hashlib

from tests.fakes.gitlab_server.state import DEVELOPER, Json, MergeRequest, User, iso

# What GitLab's list of merge requests leaves out of each (MergeRequestBasic).
_NOT_LISTED = (
    "diff_refs",
    "changes_count",
    "user",
    "subscribed",
    "latest_build_started_at",
    "latest_build_finished_at",
    "first_deployed_to_production_at",
    "pipeline",
    "head_pipeline",
    "merge_error",
    "first_contribution",
)


class MergeRequestShapes:
    """A part of GitLabServer (it uses the Store's records and Shapes)."""

    def _changes(self, mr: MergeRequest) -> list[Json]:
        """The latest version's changed files, as GitLab lists them (capped like GitLab)."""
        version = mr.versions[-1]
        before, after = self._commits[version.base].tree, self._commits[version.head].tree
        added = sorted(set(after) - set(before))
        removed = sorted(set(before) - set(after))
        out: list[Json] = []
        for path in removed:
            twin = next((p for p in added if after[p] == before[path]), None)
            if twin is not None:
                added.remove(twin)
                out.append(self._change(path, twin, before[path], after[twin], "renamed"))
            else:
                out.append(self._change(path, path, before[path], "", "deleted"))
        out += [self._change(p, p, "", after[p], "new") for p in added]
        out += [
            self._change(p, p, before[p], after[p], "")
            for p in sorted(set(before) & set(after))
            if before[p] != after[p]
        ]
        out.sort(key=lambda change: str(change["new_path"]))
        return out[: self.diff_max_files]

    @staticmethod
    def _change(old: str, new: str, before: str, after: str, kind: str) -> Json:
        lines = difflib.unified_diff(before.splitlines(True), after.splitlines(True), n=3)
        return {
            "old_path": old,
            "new_path": new,
            "a_mode": "0" if kind == "new" else "100644",
            "b_mode": "0" if kind == "deleted" else "100644",
            "diff": "".join(list(lines)[2:]),
            "new_file": kind == "new",
            "renamed_file": kind == "renamed",
            "deleted_file": kind == "deleted",
            "generated_file": False,
        }

    def _changes_count(self, mr: MergeRequest) -> str:
        version = mr.versions[-1]
        before, after = self._commits[version.base].tree, self._commits[version.head].tree
        count = len({p for p in set(before) | set(after) if before.get(p) != after.get(p)})
        return f"{self.diff_max_files}+" if count > self.diff_max_files else str(count)

    def _mr_json(self, mr: MergeRequest, viewer: User) -> Json:
        version = mr.versions[-1]
        proj = mr.project
        ref = f"!{mr.iid}"
        merged = mr.state == "merged"
        return {
            "id": mr.id,
            "iid": mr.iid,
            "project_id": proj.id,
            "title": mr.title,
            "description": mr.description,
            "state": mr.state,
            "imported": False,
            "imported_from": "none",
            "created_at": iso(mr.created),
            "updated_at": iso(mr.updated),
            "merged_by": self._user_basic(mr.author) if merged else None,
            "merge_user": self._user_basic(mr.author) if merged else None,
            "merged_at": iso(mr.merged_at),
            "merge_after": None,
            "prepared_at": iso(mr.versions[0].at),
            "closed_by": self._user_basic(mr.author) if mr.state == "closed" else None,
            "closed_at": iso(mr.closed_at),
            "target_branch": mr.target_branch,
            "source_branch": mr.source_branch,
            "user_notes_count": sum(not n.system for n in mr.notes),
            "upvotes": 0,
            "downvotes": 0,
            "author": self._user_basic(mr.author),
            "assignees": [self._user_basic(u) for u in mr.assignees],
            "assignee": self._user_basic(mr.assignees[0]) if mr.assignees else None,
            "reviewers": [self._user_basic(u) for u in mr.reviewers],
            "source_project_id": mr.source.id,
            "target_project_id": proj.id,
            "labels": list(mr.labels),
            "draft": False,
            "work_in_progress": False,
            "milestone": None,
            "merge_when_pipeline_succeeds": False,
            "merge_status": "can_be_merged",
            "detailed_merge_status": "mergeable" if mr.state == "opened" else "not_open",
            "sha": version.head,
            "merge_commit_sha": mr.merge_commit_sha,
            "squash_commit_sha": None,
            "discussion_locked": None,
            "should_remove_source_branch": None,
            "force_remove_source_branch": True,
            "reference": ref,
            "references": {"short": ref, "relative": ref, "full": f"{proj.path}{ref}"},
            "web_url": f"{self.url}/{proj.path}/-/merge_requests/{mr.iid}",
            "time_stats": {
                "time_estimate": 0,
                "total_time_spent": 0,
                "human_time_estimate": None,
                "human_total_time_spent": None,
            },
            "squash": False,
            "task_completion_status": {"count": 0, "completed_count": 0},
            "has_conflicts": False,
            "blocking_discussions_resolved": True,
            "approvals_before_merge": None,
            "subscribed": viewer is mr.author,
            "changes_count": self._changes_count(mr),
            "latest_build_started_at": None,
            "latest_build_finished_at": None,
            "first_deployed_to_production_at": None,
            "pipeline": None,
            "head_pipeline": None,
            "diff_refs": {
                "base_sha": version.base,
                "head_sha": version.head,
                "start_sha": version.start,
            },
            "merge_error": None,
            "first_contribution": False,
            "user": {"can_merge": self._level(proj, viewer) >= DEVELOPER},
        }

    def _mr_listed_json(self, mr: MergeRequest, viewer: User) -> Json:
        full = self._mr_json(mr, viewer)
        return {key: value for key, value in full.items() if key not in _NOT_LISTED}

    def _versions_json(self, mr: MergeRequest) -> list[Json]:
        return [
            {
                "id": v.id,
                "head_commit_sha": v.head,
                "base_commit_sha": v.base,
                "start_commit_sha": v.start,
                "created_at": iso(v.at),
                "merge_request_id": mr.id,
                "state": "collected",
                "real_size": str(len(self._changes(mr))),
                "patch_id_sha": hashlib.sha1(v.head.encode(), usedforsecurity=False).hexdigest(),
            }
            for v in reversed(mr.versions)
        ]
