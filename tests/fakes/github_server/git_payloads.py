"""The JSON GitHub answers for comments, reviews, statuses, deployments and git data.

Owns: the shapes of issue comments, reviews, commit statuses, deployments
and deployment statuses, git refs (to a commit or to an annotated tag),
commits, trees and tag objects, and GitHub's pagination (Link headers, at
most 100 a page). Refuses: state and deciding what to answer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from tests.fakes.github_server.state import (
    HTML,
    REACTIONS,
    CommentRecord,
    Commit,
    DeploymentRecord,
    DeploymentStatusRecord,
    Json,
    Repo,
    ReviewRecord,
    StatusRecord,
    TagRecord,
    digest,
)

if TYPE_CHECKING:
    from tests.fakes.github_server.payloads import Payloads

    _Base = Payloads
else:
    _Base = object


class GitPayloads(_Base):
    def comment_json(self, repo: Repo, comment: CommentRecord) -> Json:
        api = f"{self.api(repo)}/issues/comments/{comment.id}"
        counts = dict.fromkeys(REACTIONS, 0)
        for _, content in comment.reactions:
            counts[content] += 1
        return {
            "id": comment.id,
            "node_id": f"IC_{comment.id}",
            "url": api,
            "html_url": f"{HTML}/{repo.full_name}/pull/{comment.number}#issuecomment-{comment.id}",
            "body": comment.body,
            "user": self.user_json(comment.author),
            "created_at": comment.created_at,
            "updated_at": comment.updated_at,
            "issue_url": f"{self.api(repo)}/issues/{comment.number}",
            "author_association": self.association(repo, comment.author),
            "reactions": {"url": f"{api}/reactions", "total_count": len(comment.reactions)}
            | counts,
        }

    def review_json(self, repo: Repo, review: ReviewRecord) -> Json:
        html = f"{HTML}/{repo.full_name}/pull/{review.number}"
        out: Json = {
            "id": review.id,
            "node_id": f"PRR_{review.id}",
            "user": self.user_json(review.author),
            "body": review.body,
            "state": review.state,
            "html_url": f"{html}#pullrequestreview-{review.id}",
            "pull_request_url": f"{self.api(repo)}/pulls/{review.number}",
            "_links": {
                "html": {"href": f"{html}#pullrequestreview-{review.id}"},
                "pull_request": {"href": f"{self.api(repo)}/pulls/{review.number}"},
            },
            "commit_id": review.commit_id,
            "author_association": self.association(repo, review.author),
        }
        if review.state != "PENDING":
            out["submitted_at"] = review.submitted_at
        return out

    def status_json(self, repo: Repo, status: StatusRecord) -> Json:
        return {
            "url": f"{self.api(repo)}/statuses/{status.sha}",
            "avatar_url": self.user_json(status.creator)["avatar_url"],
            "id": status.id,
            "node_id": f"SC_{status.id}",
            "state": status.state,
            "description": status.description,
            "target_url": status.target_url,
            "context": status.context,
            "created_at": status.created_at,
            "updated_at": status.created_at,
            "creator": self.user_json(status.creator),
        }

    def ref_json(self, repo: Repo, ref: str) -> Json:
        sha = repo.refs[ref]
        kind = "tag" if sha in self.tags else "commit"
        return {
            "ref": f"refs/{ref}",
            "node_id": f"REF_{digest(repo.full_name, ref)[:12]}",
            "url": f"{self.api(repo)}/git/refs/{ref}",
            "object": {"type": kind, "sha": sha, "url": f"{self.api(repo)}/git/{kind}s/{sha}"},
        }

    def commit_json(self, repo: Repo, commit: Commit) -> Json:
        person = {"name": "gitops-bot", "email": "bot@example.com", "date": commit.date}
        return {
            "sha": commit.sha,
            "node_id": f"C_{commit.sha[:12]}",
            "url": f"{self.api(repo)}/git/commits/{commit.sha}",
            "html_url": f"{HTML}/{repo.full_name}/commit/{commit.sha}",
            "author": person,
            "committer": person,
            "message": commit.message,
            "tree": {"sha": commit.tree, "url": f"{self.api(repo)}/git/trees/{commit.tree}"},
            "parents": [
                {
                    "sha": parent,
                    "url": f"{self.api(repo)}/git/commits/{parent}",
                    "html_url": f"{HTML}/{repo.full_name}/commit/{parent}",
                }
                for parent in commit.parents
            ],
            "verification": {
                "verified": False,
                "reason": "unsigned",
                "signature": None,
                "payload": None,
                "verified_at": None,
            },
        }

    def tree_json(self, repo: Repo, sha: str) -> Json:
        entries = [
            {
                "path": path,
                "mode": "100644",
                "type": "blob",
                "sha": blob,
                "size": len(self.blobs[blob].encode()),
                "url": f"{self.api(repo)}/git/blobs/{blob}",
            }
            for path, blob in sorted(self.trees[sha].items())
        ]
        return {
            "sha": sha,
            "url": f"{self.api(repo)}/git/trees/{sha}",
            "tree": entries,
            "truncated": False,
        }

    def page(
        self, items: list[Any], path: str, query: dict[str, str]
    ) -> tuple[dict[str, str], Any]:
        """One page of `items` and its Link header, as GitHub paginates (per_page <= 100)."""
        per_page = min(int(query.get("per_page", "30")), 100)
        number = max(int(query.get("page", "1")), 1)
        last = max((len(items) + per_page - 1) // per_page, 1)
        chunk = items[(number - 1) * per_page : number * per_page]

        def href(page: int) -> str:
            return f"{self.url}{path}?{urlencode({**query, 'per_page': per_page, 'page': page})}"

        rels = []
        if number > 1:
            rels += [f'<{href(number - 1)}>; rel="prev"', f'<{href(1)}>; rel="first"']
        if number < last:
            rels += [f'<{href(number + 1)}>; rel="next"', f'<{href(last)}>; rel="last"']
        return ({"Link": ", ".join(rels)} if rels else {}), chunk

    def tag_json(self, repo: Repo, tag: TagRecord) -> Json:
        api = self.api(repo)
        kind = "commits" if tag.object_type == "commit" else f"{tag.object_type}s"
        return {
            "node_id": f"TAG_{tag.sha[:12]}",
            "tag": tag.tag,
            "sha": tag.sha,
            "url": f"{api}/git/tags/{tag.sha}",
            "message": tag.message,
            "tagger": {
                "name": tag.tagger,
                "email": f"{tag.tagger}@users.noreply.github.com",
                "date": tag.date,
            },
            "object": {
                "type": tag.object_type,
                "sha": tag.object_sha,
                "url": f"{api}/git/{kind}/{tag.object_sha}",
            },
            "verification": {
                "verified": False,
                "reason": "unsigned",
                "signature": None,
                "payload": None,
                "verified_at": None,
            },
        }

    def deployment_json(self, repo: Repo, deployment: DeploymentRecord) -> Json:
        api = f"{self.api(repo)}/deployments/{deployment.id}"
        return {
            "url": api,
            "id": deployment.id,
            "node_id": f"DE_{deployment.id}",
            "sha": deployment.sha,
            "ref": deployment.ref,
            "task": deployment.task,
            "payload": {},
            "original_environment": deployment.environment,
            "environment": deployment.environment,
            "description": deployment.description,
            "creator": self.user_json(deployment.creator),
            "created_at": deployment.created_at,
            "updated_at": deployment.statuses[-1].created_at
            if deployment.statuses
            else deployment.created_at,
            "statuses_url": f"{api}/statuses",
            "repository_url": self.api(repo),
            "transient_environment": False,
            "production_environment": False,
        }

    def deployment_status_json(
        self, repo: Repo, deployment: DeploymentRecord, status: DeploymentStatusRecord
    ) -> Json:
        api = f"{self.api(repo)}/deployments/{deployment.id}"
        return {
            "url": f"{api}/statuses/{status.id}",
            "id": status.id,
            "node_id": f"DES_{status.id}",
            "state": status.state,
            "creator": self.user_json(status.creator),
            "description": status.description,
            "environment": status.environment,
            "target_url": status.target_url,
            "log_url": status.target_url,
            "environment_url": "",
            "created_at": status.created_at,
            "updated_at": status.created_at,
            "deployment_url": api,
            "repository_url": self.api(repo),
        }
