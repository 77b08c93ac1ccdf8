"""The JSON the GitLab emulator answers, for everything but merge requests.

Owns: GitLab's documented REST shapes of users (basic and the current
user), projects, commits, notes, award emoji, commit statuses, members,
tags and deployments, with GitLab's timestamps. python-gitlab's objects
parse each, and tests/fakes/gitlab_examples hold the documented examples
the tests compare them with. Refuses: state and deciding what to answer.
"""

from __future__ import annotations

from datetime import UTC, datetime

from tests.fakes.gitlab_server.state import (
    Award,
    CommitStatus,
    Deployment,
    Json,
    MergeRequest,
    Note,
    Project,
    Tag,
    User,
    iso,
)


class Shapes:
    """A part of GitLabServer (it uses the Store's records)."""

    def _user_basic(self, user: User) -> Json:
        return {
            "id": user.id,
            "username": user.username,
            "name": user.name,
            "state": user.state,
            "locked": False,
            "avatar_url": f"{self.url}/uploads/-/system/user/avatar/{user.id}/avatar.png",
            "web_url": f"{self.url}/{user.username}",
        }

    def _current_user(self, user: User) -> Json:
        created = iso(datetime(2025, 1, 1, tzinfo=UTC))
        return {
            **self._user_basic(user),
            "created_at": created,
            "bio": "",
            "location": "",
            "public_email": None,
            "linkedin": "",
            "twitter": "",
            "discord": "",
            "website_url": "",
            "organization": "",
            "job_title": "",
            "pronouns": None,
            "bot": user.bot,
            "work_information": None,
            "local_time": None,
            "last_sign_in_at": created,
            "confirmed_at": created,
            "last_activity_on": "2026-01-05",
            "email": user.email,
            "theme_id": 1,
            "color_scheme_id": 1,
            "projects_limit": 100000,
            "current_sign_in_at": created,
            "identities": [],
            "can_create_group": not user.bot,
            "can_create_project": not user.bot,
            "two_factor_enabled": False,
            "external": False,
            "private_profile": False,
            "commit_email": user.email,
        }

    def _project_json(self, proj: Project) -> Json:
        ns = proj.namespace
        return {
            "id": proj.id,
            "name": proj.name,
            "path": proj.name,
            "path_with_namespace": proj.path,
            "name_with_namespace": proj.path.replace("/", " / "),
            "default_branch": proj.default_branch,
            "visibility": "private",
            "web_url": f"{self.url}/{proj.path}",
            "http_url_to_repo": f"{self.url}/{proj.path}.git",
            "namespace": {
                "id": ns.id if ns else 0,
                "full_path": proj.path.rsplit("/", 1)[0],
                "kind": "group" if ns else "user",
            },
            "forked_from_project": (
                {"id": proj.forked_from.id, "path_with_namespace": proj.forked_from.path}
                if proj.forked_from
                else None
            ),
            "merge_requests_enabled": True,
        }

    def _commit_json(self, proj: Project, sha: str) -> Json:
        commit = self._commits[sha]
        at = iso(commit.at)
        return {
            "id": sha,
            "short_id": sha[:11],
            "title": commit.message.splitlines()[0] if commit.message else "",
            "author_name": commit.author.name,
            "author_email": commit.author.email,
            "authored_date": at,
            "committer_name": commit.author.name,
            "committer_email": commit.author.email,
            "committed_date": at,
            "created_at": at,
            "message": commit.message,
            "parent_ids": list(commit.parents),
            "web_url": f"{self.url}/{proj.path}/-/commit/{sha}",
            "trailers": {},
            "extended_trailers": {},
        }

    def _note_json(self, mr: MergeRequest, note: Note) -> Json:
        return {
            "id": note.id,
            "type": None,
            "body": note.body,
            "attachment": None,
            "author": {
                **self._user_basic(note.author),
                "email": note.author.email,
                "created_at": iso(datetime(2025, 1, 1, tzinfo=UTC)),
            },
            "created_at": iso(note.created),
            "updated_at": iso(note.updated),
            "system": note.system,
            "noteable_id": mr.id,
            "noteable_type": "MergeRequest",
            "project_id": mr.project.id,
            "commit_id": None,
            "resolvable": False,
            "confidential": False,
            "internal": False,
            "imported": False,
            "imported_from": "none",
            "noteable_iid": mr.iid,
            "commands_changes": {},
        }

    def _status_json(self, status: CommitStatus) -> Json:
        return {
            "id": status.id,
            "sha": status.sha,
            "ref": status.ref,
            "status": status.status,
            "name": status.name,
            "target_url": status.target_url,
            "description": status.description,
            "created_at": iso(status.created),
            "started_at": iso(status.started),
            "finished_at": iso(status.finished),
            "allow_failure": False,
            "coverage": None,
            "pipeline_id": status.project.id * 1000,
            "author": self._user_basic(status.author),
        }

    def _member_json(self, user: User, level: int) -> Json:
        return {
            **self._user_basic(user),
            "access_level": level,
            "created_at": iso(datetime(2025, 1, 1, tzinfo=UTC)),
            "expires_at": None,
            "group_saml_identity": None,
            "membership_state": "active",
        }

    def _award_json(self, note: Note, award: Award) -> Json:
        return {
            "id": award.id,
            "name": award.name,
            "user": self._user_basic(award.user),
            "created_at": iso(award.at),
            "updated_at": iso(award.at),
            "awardable_id": note.id,
            "awardable_type": "Note",
            "url": None,
        }

    def _tag_json(self, proj: Project, tag: Tag) -> Json:
        commit = self._commit_json(proj, tag.commit)
        return {
            "name": tag.name,
            "message": tag.message,
            "target": tag.target,
            "commit": {k: commit[k] for k in _TAG_COMMIT_KEYS},
            "release": None,
            "protected": False,
            "created_at": iso(tag.created),
        }

    def _deployment_json(self, proj: Project, deployment: Deployment) -> Json:
        return {
            "id": deployment.id,
            "iid": deployment.iid,
            "ref": deployment.ref,
            "sha": deployment.sha,
            "created_at": iso(deployment.created),
            "updated_at": iso(deployment.updated),
            "status": deployment.status,
            "user": self._user_basic(deployment.user),
            "environment": {
                "id": deployment.environment_id,
                "name": deployment.environment,
                "external_url": None,
            },
            "deployable": None,
        }


_TAG_COMMIT_KEYS = (
    "id",
    "short_id",
    "title",
    "created_at",
    "parent_ids",
    "message",
    "author_name",
    "author_email",
    "authored_date",
    "committer_name",
    "committer_email",
    "committed_date",
)
