"""Endpoints of issue comments and their reactions.

Owns: listing (paginated), creating (GitHub's 422 past 65,536 characters),
reading and editing comments, and reactions (201 new, 200 when the user
already reacted so). Refuses: review comments and issues that are not pull
requests (every issue here is one).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tests.fakes.github_server.routing import find_pull, invalid, route
from tests.fakes.github_server.state import (
    COMMENT_LIMIT,
    REACTIONS,
    CommentRecord,
    HttpError,
    Json,
    Repo,
)

if TYPE_CHECKING:
    from tests.fakes.github_server.server import GitHubServer


@route("GET", "{repo}/issues/(?P<number>[0-9]+)/comments")
def _list_comments(s: GitHubServer, repo: Repo | None, p: dict[str, str], q: Any, b: Json) -> Any:
    assert repo is not None
    pull = find_pull(repo, p)
    comments = [s.comment_json(repo, c) for c in s.comments_on(repo.full_name, pull.number)]
    link, chunk = s.page(comments, f"/repos/{repo.full_name}/issues/{pull.number}/comments", q)
    return 200, link, chunk


def _comment_body(b: Json) -> str:
    body = b.get("body")
    if not isinstance(body, str) or not body:
        raise invalid("IssueComment", "body", "body cannot be blank", code="missing_field")
    if len(body) > COMMENT_LIMIT:
        raise invalid(
            "IssueComment", "body", f"body is too long (maximum is {COMMENT_LIMIT} characters)"
        )
    return body


@route("POST", "{repo}/issues/(?P<number>[0-9]+)/comments")
def _create_comment(s: GitHubServer, repo: Repo | None, p: dict[str, str], q: Any, b: Json) -> Any:
    assert repo is not None
    comment = s._new_comment(repo, int(p["number"]), p["login"], _comment_body(b))
    payload = s.comment_json(repo, comment)
    return 201, {"Location": payload["url"]}, payload


def _comment(s: GitHubServer, repo: Repo | None, p: dict[str, str]) -> CommentRecord:
    comment = s.comments.get(int(p["id"]))
    if comment is None or repo is None or comment.repo != repo.full_name:
        raise HttpError(404, "Not Found")
    return comment


@route("GET", "{repo}/issues/comments/(?P<id>[0-9]+)")
def _get_comment(s: GitHubServer, repo: Repo | None, p: dict[str, str], q: Any, b: Json) -> Any:
    assert repo is not None
    return s.comment_json(repo, _comment(s, repo, p))


@route("PATCH", "{repo}/issues/comments/(?P<id>[0-9]+)")
def _edit_comment(s: GitHubServer, repo: Repo | None, p: dict[str, str], q: Any, b: Json) -> Any:
    assert repo is not None
    comment = _comment(s, repo, p)
    comment.body = _comment_body(b)
    comment.updated_at = s.now()
    return s.comment_json(repo, comment)


@route("DELETE", "{repo}/issues/comments/(?P<id>[0-9]+)")
def _delete_comment(s: GitHubServer, repo: Repo | None, p: dict[str, str], q: Any, b: Json) -> Any:
    comment = _comment(s, repo, p)
    del s.comments[comment.id]
    return 204, {}, None


@route("POST", "{repo}/issues/comments/(?P<id>[0-9]+)/reactions")
def _react(s: GitHubServer, repo: Repo | None, p: dict[str, str], q: Any, b: Json) -> Any:
    comment = _comment(s, repo, p)
    content = b.get("content")
    if content not in REACTIONS:
        raise invalid("Reaction", "content", f"{content!r} is not a valid reaction", "invalid")
    mine = (p["login"], str(content))
    status = 200 if mine in comment.reactions else 201
    if status == 201:
        comment.reactions.append(mine)
    number = comment.reactions.index(mine) + 1
    return (
        status,
        {},
        {
            "id": comment.id * 100 + number,
            "node_id": f"REA_{comment.id}_{number}",
            "user": s.user_json(p["login"]),
            "content": content,
            "created_at": s.now(),
        },
    )
