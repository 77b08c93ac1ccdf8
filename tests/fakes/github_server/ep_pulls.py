"""Endpoints of pull requests: read, list, open, edit, close, merge, and reviews.

Owns: a pull request and its changed files (paginated, at most 3,000),
listing them (state, oldest or newest first), opening one (GitHub's 422s:
no such head or base, one already open, no commits between), editing its
title, body and state, merging it (merging.py makes the commit, a real one
when the repository mirrors a real git repository), the pull requests of a
commit, and listing reviews. Refuses: draft pull requests, auto-merge,
review requests and merge queues.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tests.fakes.github_server import merging
from tests.fakes.github_server.routing import find_pull, invalid, route
from tests.fakes.github_server.state import FILES_LIMIT, ChangedFile, Json, Repo

if TYPE_CHECKING:
    from tests.fakes.github_server.server import GitHubServer


@route("GET", "{repo}/pulls/(?P<number>[0-9]+)")
def _get_pull(s: GitHubServer, repo: Repo | None, p: dict[str, str], q: Any, b: Json) -> Any:
    assert repo is not None
    return s.pull_json(repo, find_pull(repo, p))


@route("GET", "{repo}/pulls/(?P<number>[0-9]+)/files")
def _list_files(s: GitHubServer, repo: Repo | None, p: dict[str, str], q: Any, b: Json) -> Any:
    assert repo is not None
    pull = find_pull(repo, p)
    files = [s.file_json(repo, pull, f) for f in pull.files[:FILES_LIMIT]]
    link, chunk = s.page(files, f"/repos/{repo.full_name}/pulls/{pull.number}/files", q)
    return 200, link, chunk


@route("POST", "{repo}/pulls")
def _create_pull(s: GitHubServer, repo: Repo | None, p: dict[str, str], q: Any, b: Json) -> Any:
    assert repo is not None
    head_owner, _, head_ref = str(b.get("head", "")).rpartition(":")
    source = s.repos.get(f"{head_owner}/{repo.name}") if head_owner else repo
    base_ref = str(b.get("base", ""))
    if source is None or f"heads/{head_ref}" not in source.refs:
        raise invalid("PullRequest", "head", "head invalid", code="invalid")
    if f"heads/{base_ref}" not in repo.refs:
        raise invalid("PullRequest", "base", "base invalid", code="invalid")
    head_sha, base_sha = source.refs[f"heads/{head_ref}"], repo.refs[f"heads/{base_ref}"]
    for other in repo.pulls.values():
        if (other.state, other.head_repo, other.head_ref) == ("open", source.full_name, head_ref):
            message = f"A pull request already exists for {source.owner}:{head_ref}."
            raise invalid("PullRequest", "head", message)
    if head_sha in s._ancestors(base_sha):
        raise invalid("PullRequest", "head", f"No commits between {base_ref} and {head_ref}")
    base_tree, head_tree = s.trees[s.commits[base_sha].tree], s.trees[s.commits[head_sha].tree]
    files = [
        ChangedFile(path, "added" if path not in base_tree else "modified")
        for path in sorted(head_tree)
        if base_tree.get(path) != head_tree[path]
    ] + [ChangedFile(path, "removed") for path in sorted(base_tree) if path not in head_tree]
    pull = s.add_pull(
        repo.full_name,
        title=str(b.get("title", "")),
        author=p["login"],
        head_ref=head_ref,
        base_ref=base_ref,
        head_repo=source.full_name,
        files=files,
    )
    pull.body = b.get("body")
    payload = s.pull_json(repo, pull)
    return 201, {"Location": payload["url"]}, payload


@route("GET", "{repo}/pulls/(?P<number>[0-9]+)/reviews")
def _list_reviews(s: GitHubServer, repo: Repo | None, p: dict[str, str], q: Any, b: Json) -> Any:
    assert repo is not None
    pull = find_pull(repo, p)
    reviews = [
        s.review_json(repo, r)
        for r in s.reviews
        if (r.repo, r.number) == (repo.full_name, pull.number)
    ]
    link, chunk = s.page(reviews, f"/repos/{repo.full_name}/pulls/{pull.number}/reviews", q)
    return 200, link, chunk


@route("GET", "{repo}/pulls")
def _list_pulls(s: GitHubServer, repo: Repo | None, p: dict[str, str], q: Any, b: Json) -> Any:
    assert repo is not None
    state = q.get("state", "open")
    pulls = [pull for pull in repo.pulls.values() if state in ("all", pull.state)]
    if q.get("direction", "desc" if q.get("sort", "created") == "created" else "asc") == "desc":
        pulls.reverse()
    listed = [s.pull_simple_json(repo, pull) for pull in pulls]
    link, chunk = s.page(listed, f"/repos/{repo.full_name}/pulls", q)
    return 200, link, chunk


@route("PATCH", "{repo}/pulls/(?P<number>[0-9]+)")
def _update_pull(s: GitHubServer, repo: Repo | None, p: dict[str, str], q: Any, b: Json) -> Any:
    assert repo is not None
    pull = find_pull(repo, p)
    if "title" in b:
        pull.title = str(b["title"])
    if "body" in b:
        pull.body = b["body"]
    if b.get("state") in ("open", "closed") and not pull.merged:
        pull.state = str(b["state"])
        pull.closed_at = s.now() if pull.state == "closed" else None
    return s.pull_json(repo, pull)


@route("PUT", "{repo}/pulls/(?P<number>[0-9]+)/merge")
def _merge_pull(s: GitHubServer, repo: Repo | None, p: dict[str, str], q: Any, b: Json) -> Any:
    assert repo is not None
    pull = find_pull(repo, p)
    sha = merging.merge(s, repo, pull, expected=b.get("sha"), login=p["login"])
    return {"sha": sha, "merged": True, "message": "Pull Request successfully merged"}


@route("GET", "{repo}/commits/(?P<sha>[0-9a-f]{40})/pulls")
def _commit_pulls(s: GitHubServer, repo: Repo | None, p: dict[str, str], q: Any, b: Json) -> Any:
    assert repo is not None
    # An unknown commit has no pull requests (GitHub documents no error here).
    listed = [s.pull_simple_json(repo, pull) for pull in merging.pulls_of(s, repo, p["sha"])]
    link, chunk = s.page(listed, f"/repos/{repo.full_name}/commits/{p['sha']}/pulls", q)
    return 200, link, chunk
