"""The JSON GitHub answers for users, repositories and pull requests.

Owns: the shapes of `simple-user`, `repository` (full and minimal),
`pull-request` and `pull-request-simple` (what lists of pull requests
carry), labels and changed files, as GitHub's OpenAPI description has them
(the server checks every answer against it). Refuses: state (the store
owns it) and deciding what to answer (the endpoints do).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tests.fakes.github_server.state import (
    EPOCH,
    HTML,
    ChangedFile,
    Json,
    PullRecord,
    Repo,
    blob_sha,
    digest,
)

if TYPE_CHECKING:
    from tests.fakes.github_server.store import Store

    _Base = Store
else:
    _Base = object

# pull-request-simple: the pull request as a list shows it (no counts, no mergeability).
_NOT_IN_SIMPLE = (
    "merged",
    "mergeable",
    "rebaseable",
    "mergeable_state",
    "merged_by",
    "comments",
    "review_comments",
    "maintainer_can_modify",
    "commits",
    "additions",
    "deletions",
    "changed_files",
)


class Payloads(_Base):
    def api(self, repo: Repo) -> str:
        return f"{self.url}/repos/{repo.full_name}"

    def user_json(self, login: str) -> Json:
        user = self.users[login]
        api = f"{self.url}/users/{login}"
        return {
            "login": login,
            "id": user.id,
            "node_id": f"U_{user.id}",
            "avatar_url": f"https://avatars.githubusercontent.com/u/{user.id}?v=4",
            "gravatar_id": "",
            "url": api,
            "html_url": f"{HTML}/{login}",
            "followers_url": f"{api}/followers",
            "following_url": f"{api}/following{{/other_user}}",
            "gists_url": f"{api}/gists{{/gist_id}}",
            "starred_url": f"{api}/starred{{/owner}}{{/repo}}",
            "subscriptions_url": f"{api}/subscriptions",
            "organizations_url": f"{api}/orgs",
            "repos_url": f"{api}/repos",
            "events_url": f"{api}/events{{/privacy}}",
            "received_events_url": f"{api}/received_events",
            "type": user.type,
            "user_view_type": "public",
            "site_admin": False,
        }

    def repo_json(self, repo: Repo) -> Json:
        api, html, full = self.api(repo), f"{HTML}/{repo.full_name}", repo.full_name
        templates = {
            "archive": "/{archive_format}{/ref}",
            "assignees": "/assignees{/user}",
            "blobs": "/git/blobs{/sha}",
            "branches": "/branches{/branch}",
            "collaborators": "/collaborators{/collaborator}",
            "comments": "/comments{/number}",
            "commits": "/commits{/sha}",
            "compare": "/compare/{base}...{head}",
            "contents": "/contents/{+path}",
            "contributors": "/contributors",
            "deployments": "/deployments",
            "downloads": "/downloads",
            "events": "/events",
            "forks": "/forks",
            "git_commits": "/git/commits{/sha}",
            "git_refs": "/git/refs{/sha}",
            "git_tags": "/git/tags{/sha}",
            "hooks": "/hooks",
            "issue_comment": "/issues/comments{/number}",
            "issue_events": "/issues/events{/number}",
            "issues": "/issues{/number}",
            "keys": "/keys{/key_id}",
            "labels": "/labels{/name}",
            "languages": "/languages",
            "merges": "/merges",
            "milestones": "/milestones{/number}",
            "notifications": "/notifications{?since,all,participating}",
            "pulls": "/pulls{/number}",
            "releases": "/releases{/id}",
            "stargazers": "/stargazers",
            "statuses": "/statuses/{sha}",
            "subscribers": "/subscribers",
            "subscription": "/subscription",
            "tags": "/tags",
            "teams": "/teams",
            "trees": "/git/trees{/sha}",
        }
        open_pulls = sum(1 for p in repo.pulls.values() if p.state == "open")
        return {
            "id": repo.id,
            "node_id": f"R_{repo.id}",
            "name": repo.name,
            "full_name": full,
            "owner": self.user_json(repo.owner),
            "private": False,
            "html_url": html,
            "description": None,
            "fork": repo.fork,
            "url": api,
            **{f"{key}_url": api + suffix for key, suffix in templates.items()},
            "git_url": f"git://github.com/{full}.git",
            "ssh_url": f"git@github.com:{full}.git",
            "clone_url": f"{html}.git",
            "svn_url": html,
            "mirror_url": None,
            "homepage": None,
            "language": None,
            "forks_count": 0,
            "forks": 0,
            "stargazers_count": 0,
            "watchers_count": 0,
            "watchers": 0,
            "size": 0,
            "default_branch": repo.default_branch,
            "open_issues_count": open_pulls,
            "open_issues": open_pulls,
            "is_template": False,
            "topics": [],
            "has_issues": True,
            "has_projects": True,
            "has_wiki": True,
            "has_pages": False,
            "has_downloads": True,
            "has_discussions": False,
            "archived": False,
            "disabled": False,
            "visibility": "public",
            "pushed_at": EPOCH.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "created_at": EPOCH.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "updated_at": EPOCH.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "license": None,
            "allow_forking": True,
        }

    def association(self, repo: Repo, login: str) -> str:
        if login == repo.owner:
            return "OWNER"
        return "COLLABORATOR" if login in repo.collaborators else "CONTRIBUTOR"

    def pull_json(self, repo: Repo, pull: PullRecord) -> Json:
        api, html = f"{self.api(repo)}/pulls/{pull.number}", f"{HTML}/{repo.full_name}"
        head_repo = self.repos[pull.head_repo]
        links = {
            "self": api,
            "html": f"{html}/pull/{pull.number}",
            "issue": f"{self.api(repo)}/issues/{pull.number}",
            "comments": f"{self.api(repo)}/issues/{pull.number}/comments",
            "review_comments": f"{api}/comments",
            "review_comment": f"{self.api(repo)}/pulls/comments{{/number}}",
            "commits": f"{api}/commits",
            "statuses": f"{self.api(repo)}/statuses/{pull.head_sha}",
        }
        closed = pull.state == "closed"
        return {
            "url": api,
            "id": 9_000_000 + pull.number,
            "node_id": f"PR_{repo.id}_{pull.number}",
            "html_url": links["html"],
            "diff_url": f"{links['html']}.diff",
            "patch_url": f"{links['html']}.patch",
            "issue_url": links["issue"],
            "commits_url": links["commits"],
            "review_comments_url": links["review_comments"],
            "review_comment_url": links["review_comment"],
            "comments_url": links["comments"],
            "statuses_url": links["statuses"],
            "number": pull.number,
            "state": pull.state,
            "locked": False,
            "title": pull.title,
            "user": self.user_json(pull.author),
            "body": pull.body,
            "labels": [self._label_json(repo, name) for name in pull.labels],
            "milestone": None,
            "active_lock_reason": None,
            "created_at": pull.created_at,
            "updated_at": pull.created_at,
            "closed_at": (pull.closed_at or pull.created_at) if closed else None,
            "merged_at": (pull.closed_at or pull.created_at) if pull.merged else None,
            "merge_commit_sha": (
                pull.merge_commit_sha or digest("merge", pull.head_sha) if pull.merged else None
            ),
            "assignee": None,
            "assignees": [],
            "requested_reviewers": [],
            "requested_teams": [],
            "head": {
                "label": f"{head_repo.owner}:{pull.head_ref}",
                "ref": pull.head_ref,
                "sha": pull.head_sha,
                "user": self.user_json(head_repo.owner),
                "repo": self.repo_json(head_repo),
            },
            "base": {
                "label": f"{repo.owner}:{pull.base_ref}",
                "ref": pull.base_ref,
                "sha": pull.base_sha,
                "user": self.user_json(repo.owner),
                "repo": self.repo_json(repo),
            },
            "_links": {name: {"href": href} for name, href in links.items()},
            "author_association": self.association(repo, pull.author),
            "auto_merge": None,
            "draft": False,
            "merged": pull.merged,
            "mergeable": None if closed else True,
            "rebaseable": None if closed else True,
            "mergeable_state": "unknown" if closed else "clean",
            "merged_by": self.user_json(repo.owner) if pull.merged else None,
            "comments": len(self.comments_on(repo.full_name, pull.number)),
            "review_comments": 0,
            "maintainer_can_modify": False,
            "commits": 1,
            "additions": sum(f.additions for f in pull.files),
            "deletions": sum(f.deletions for f in pull.files),
            "changed_files": len(pull.files),
        }

    def _label_json(self, repo: Repo, name: str) -> Json:
        number = int(digest(name)[:6], 16)
        return {
            "id": number,
            "node_id": f"LA_{number}",
            "url": f"{self.api(repo)}/labels/{name}",
            "name": name,
            "description": None,
            "color": "ededed",
            "default": False,
        }

    def file_json(self, repo: Repo, pull: PullRecord, entry: ChangedFile) -> Json:
        blob = f"{HTML}/{repo.full_name}/blob/{pull.head_sha}/{entry.filename}"
        out: Json = {
            "sha": None if entry.status == "removed" else blob_sha(entry.filename),
            "filename": entry.filename,
            "status": entry.status,
            "additions": entry.additions,
            "deletions": entry.deletions,
            "changes": entry.additions + entry.deletions,
            "blob_url": blob,
            "raw_url": blob.replace("/blob/", "/raw/"),
            "contents_url": f"{self.api(repo)}/contents/{entry.filename}?ref={pull.head_sha}",
            "patch": "@@ -1 +1 @@\n-old\n+new",
        }
        if entry.previous_filename is not None:
            out["previous_filename"] = entry.previous_filename
        return out

    def pull_simple_json(self, repo: Repo, pull: PullRecord) -> Json:
        full = self.pull_json(repo, pull)
        simple = {key: value for key, value in full.items() if key not in _NOT_IN_SIMPLE}
        # Here a label's description is a string (the description says so; "" for none).
        simple["labels"] = [
            label | {"description": label["description"] or ""} for label in simple["labels"]
        ]
        return simple
