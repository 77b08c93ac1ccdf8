"""A stateful GitHub REST emulator on 127.0.0.1, checked against GitHub's OpenAPI description.

Owns: the state of a few repositories (users, collaborators, teams, pull
requests with their changed files, issue comments and reactions, reviews,
commit statuses, git refs, commits, trees and blobs), the endpoints that
PyGithub calls for gitops_bot.forges.github, fault injection (429 with
Retry-After, 5xx, secondary rate limits), a readable request log
("GET /repos/acme/shop/pulls/7") and the list of contract violations: every
request and every response is checked with tests.fakes.openapi_check, and a
test's fixture asserts that list is empty when the test ends.

Refuses: to be GitHub. Only the endpoints above exist (anything else is a
404 and a violation), trees are kept flat (one entry per file path), and
authorization is per token only (no scopes, no branch protection).
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from tests.fakes import openapi_check

HTML = "https://github.com"
DOCS = "https://docs.github.com/rest"
COMMENT_LIMIT = 65_536  # characters GitHub accepts in an issue comment body
STATUS_DESCRIPTION_LIMIT = 140
FILES_LIMIT = 3000  # GitHub lists at most this many files of a pull request
EPOCH = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
SECONDARY_RATE_LIMIT = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
)
ROLES = {  # role_name -> the legacy `permission` GitHub reports next to it
    "admin": "admin",
    "maintain": "write",
    "write": "write",
    "triage": "read",
    "read": "read",
    "none": "none",
}
REVIEW_STATES = ("APPROVED", "CHANGES_REQUESTED", "COMMENTED", "DISMISSED", "PENDING")
REACTIONS = ("+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes")

Json = dict[str, Any]


@dataclass
class User:
    login: str
    id: int
    type: str = "User"  # "User", "Bot" or "Organization"


@dataclass
class ChangedFile:
    filename: str
    status: str = "modified"
    previous_filename: str | None = None
    additions: int = 1
    deletions: int = 1


@dataclass
class Commit:
    sha: str
    tree: str
    parents: tuple[str, ...]
    message: str
    date: str


@dataclass
class PullRecord:
    number: int
    title: str
    author: str
    base_ref: str
    base_sha: str
    head_ref: str
    head_sha: str
    head_repo: str
    body: str | None = None
    state: str = "open"
    merged: bool = False
    labels: list[str] = field(default_factory=list)
    files: list[ChangedFile] = field(default_factory=list)
    created_at: str = ""


@dataclass
class CommentRecord:
    id: int
    repo: str  # "owner/name"
    number: int
    author: str
    body: str
    created_at: str
    updated_at: str
    reactions: list[tuple[str, str]] = field(default_factory=list)  # (login, content)


@dataclass
class ReviewRecord:
    id: int
    repo: str
    number: int
    author: str
    state: str
    commit_id: str
    submitted_at: str
    body: str = ""


@dataclass
class StatusRecord:
    id: int
    sha: str
    context: str
    state: str
    description: str | None
    target_url: str | None
    creator: str
    created_at: str


@dataclass
class Repo:
    owner: str
    name: str
    id: int
    default_branch: str = "main"
    fork: bool = False
    refs: dict[str, str] = field(default_factory=dict)  # "heads/main" -> sha
    collaborators: dict[str, str] = field(default_factory=dict)  # login -> role_name
    pulls: dict[int, PullRecord] = field(default_factory=dict)
    statuses: list[StatusRecord] = field(default_factory=list)

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"


@dataclass
class Fault:
    status: int
    times: int | None  # None: every matching request, forever
    method: str | None = None
    path: str | None = None
    retry_after: int | None = None
    message: str = ""
    reset_in: int | None = None  # a primary rate limit: X-RateLimit-Reset this far ahead

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and (
            self.path is None or self.path == path
        )


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    body: Json | None
    status: int

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


class HttpError(Exception):
    def __init__(self, status: int, message: str, *, errors: list[Json] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.body: Json = {"message": message, "documentation_url": DOCS, "status": str(status)}
        if errors is not None:
            self.body["errors"] = errors


def _blob_sha(text: str) -> str:
    data = text.encode()
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


def _digest(*parts: object) -> str:
    return hashlib.sha1(json.dumps(parts).encode(), usedforsecurity=False).hexdigest()


Handler = Callable[["GitHubServer", Repo | None, dict[str, str], dict[str, str], Json], Any]
ROUTES: list[tuple[str, re.Pattern[str], Handler]] = []
_REPO = r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)"


def route(method: str, pattern: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        ROUTES.append((method, re.compile(pattern.replace("{repo}", _REPO) + "$"), handler))
        return handler

    return register


class GitHubServer:
    """The emulator; a context manager that serves on 127.0.0.1 at a free port.

    Tests arrange state with the `add_*` methods, talk to `url` through
    PyGithub, and read `log`, `violations` and the records afterwards.
    """

    def __init__(self) -> None:
        self.users: dict[str, User] = {}
        self.tokens: dict[str, tuple[str, bool]] = {}  # token -> (login, is an app installation)
        self.repos: dict[str, Repo] = {}
        self.teams: dict[tuple[str, str], dict[str, str]] = {}  # (org, slug) -> login -> state
        self.commits: dict[str, Commit] = {}  # shared by forks, as on GitHub
        self.trees: dict[str, dict[str, str]] = {}  # tree sha -> path -> blob sha
        self.blobs: dict[str, str] = {}
        self.comments: dict[int, CommentRecord] = {}
        self.reviews: list[ReviewRecord] = []
        self.faults: list[Fault] = []
        self.requests: list[Request] = []
        self.violations: list[str] = []
        self.custom_roles: dict[str, str] = {}  # custom role name -> legacy permission
        self.routes_hit: set[str] = set()  # "METHOD pattern" of every endpoint that answered
        self._ids = itertools.count(1001)
        self._clock = itertools.count()
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    # -- lifecycle ------------------------------------------------------

    def __enter__(self) -> GitHubServer:
        openapi_check.description()  # fail here, before serving, when the package is missing
        server = self

        class _Handler(_HttpHandler):
            emulator = server

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)

    @property
    def log(self) -> list[str]:
        """Every request, in order, as "METHOD /path" (query strings left out)."""
        return [str(r) for r in self.requests]

    # -- arranging state ------------------------------------------------

    def now(self) -> str:
        """The emulator's clock: one second later on every call."""
        moment = EPOCH + timedelta(seconds=next(self._clock))
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")

    def add_user(
        self, login: str, *, type: str = "User", token: str | None = None, app: bool = False
    ) -> User:
        """A user; with `token`, requests carrying it act as this user. `app`: the token
        is a GitHub App installation token (GET /user answers 403 for it)."""
        user = self.users.setdefault(login, User(login, next(self._ids), type))
        if token is not None:
            self.tokens[token] = (login, app)
        return user

    def add_repo(self, full_name: str, *, files: dict[str, str], fork: bool = False) -> Repo:
        owner, name = full_name.split("/")
        self.add_user(owner, type="Organization" if not fork else "User")
        repo = Repo(owner, name, next(self._ids), fork=fork)
        self.repos[full_name] = repo
        repo.refs["heads/main"] = self._commit(files, (), "Initial commit")
        return repo

    def push(self, full_name: str, branch: str, *, files: dict[str, str], message: str) -> str:
        """Commit `files` (path -> text) onto `branch` (created from main when new)."""
        repo = self.repos[full_name]
        parent = repo.refs.get(f"heads/{branch}", repo.refs["heads/main"])
        tree = dict(self.trees[self.commits[parent].tree])
        tree.update({path: self._blob(text) for path, text in files.items()})
        sha = self._commit_tree(self._tree(tree), (parent,), message)
        repo.refs[f"heads/{branch}"] = sha
        return sha

    def set_role(self, full_name: str, login: str, role: str, *, base: str = "read") -> None:
        """`role`: admin, maintain, write, triage, read, none, or a custom role's name,
        which GitHub reports with the legacy permission of its `base` role."""
        self.add_user(login)
        self.repos[full_name].collaborators[login] = role
        if role not in ROLES:
            self.custom_roles[role] = ROLES[base]

    def add_team(self, org: str, slug: str, members: dict[str, str]) -> None:
        """`members`: login -> "active" or "pending"."""
        for login in members:
            self.add_user(login)
        self.teams[(org, slug)] = dict(members)

    def mirror(self, full_name: str, branch: str, *, sha: str, parent: str | None = None) -> None:
        """Point `branch` at a commit made in a real git repository, under its real
        SHA, so that pull requests and statuses here name the commits the bot's
        own git checkout has. (Its tree is main's: the bot reads files from git.)"""
        repo = self.repos[full_name]
        tree = self.commits[repo.refs["heads/main"]].tree
        parents = (parent,) if parent else ()
        self.commits.setdefault(sha, Commit(sha, tree, parents, f"mirrored {sha[:7]}", self.now()))
        repo.refs[f"heads/{branch}"] = sha

    def add_pull(
        self,
        full_name: str,
        *,
        title: str,
        author: str,
        head_ref: str,
        base_ref: str = "main",
        head_repo: str | None = None,
        files: list[ChangedFile] | None = None,
        labels: tuple[str, ...] = (),
        state: str = "open",
        merged: bool = False,
    ) -> PullRecord:
        """A pull request from `head_ref` (of `head_repo` for a fork, which must exist)."""
        repo = self.repos[full_name]
        self.add_user(author)
        source = self.repos[head_repo or full_name]
        number = len(repo.pulls) + 1
        pull = PullRecord(
            number=number,
            title=title,
            author=author,
            base_ref=base_ref,
            base_sha=repo.refs[f"heads/{base_ref}"],
            head_ref=head_ref,
            head_sha=source.refs[f"heads/{head_ref}"],
            head_repo=source.full_name,
            state=state,
            merged=merged,
            labels=list(labels),
            files=list(files or []),
            created_at=self.now(),
        )
        repo.pulls[number] = pull
        return pull

    def add_comment(self, full_name: str, number: int, *, author: str, body: str) -> CommentRecord:
        self.add_user(author)
        return self._new_comment(self.repos[full_name], number, author, body)

    def add_review(
        self, full_name: str, number: int, *, author: str, state: str, commit_id: str
    ) -> ReviewRecord:
        self.add_user(author)
        moment = self.now()
        review = ReviewRecord(next(self._ids), full_name, number, author, state, commit_id, moment)
        self.reviews.append(review)
        return review

    def fail(
        self,
        status: int,
        *,
        times: int | None = 1,
        method: str | None = None,
        path: str | None = None,
        retry_after: int | None = None,
        reset_in: int | None = None,
        message: str = "",
    ) -> None:
        """Answer the next `times` matching requests with `status` (None: always).

        403 is a secondary rate limit, or with `reset_in` (seconds of real time)
        the primary one: no requests left until X-RateLimit-Reset.
        """
        primary = "API rate limit exceeded for user ID 1."
        text = message or {
            429: "API rate limit exceeded",
            403: SECONDARY_RATE_LIMIT if reset_in is None else primary,
        }.get(status, "Server Error")
        self.faults.append(Fault(status, times, method, path, retry_after, text, reset_in))

    # -- reading state --------------------------------------------------

    def comments_on(self, full_name: str, number: int) -> list[CommentRecord]:
        return [c for c in self.comments.values() if (c.repo, c.number) == (full_name, number)]

    def file_at(self, full_name: str, ref: str, path: str) -> str | None:
        sha = self.repos[full_name].refs.get(f"heads/{ref}", ref)
        blob = self.trees[self.commits[sha].tree].get(path)
        return None if blob is None else self.blobs[blob]

    # -- git objects ----------------------------------------------------

    def _blob(self, text: str) -> str:
        sha = _blob_sha(text)
        self.blobs[sha] = text
        return sha

    def _tree(self, entries: dict[str, str]) -> str:
        sha = _digest("tree", sorted(entries.items()))
        self.trees[sha] = dict(entries)
        return sha

    def _commit_tree(self, tree: str, parents: tuple[str, ...], message: str) -> str:
        date = self.now()
        sha = _digest("commit", tree, parents, message, date)
        self.commits[sha] = Commit(sha, tree, parents, message, date)
        return sha

    def _commit(self, files: dict[str, str], parents: tuple[str, ...], message: str) -> str:
        tree = self._tree({path: self._blob(text) for path, text in files.items()})
        return self._commit_tree(tree, parents, message)

    def _ancestors(self, sha: str) -> Iterator[str]:
        todo = [sha]
        while todo:
            current = todo.pop()
            yield current
            todo.extend(self.commits[current].parents)

    def _new_comment(self, repo: Repo, number: int, author: str, body: str) -> CommentRecord:
        if number not in repo.pulls:
            raise HttpError(404, "Not Found")
        moment = self.now()
        comment = CommentRecord(
            next(self._ids), repo.full_name, number, author, body, moment, moment
        )
        self.comments[comment.id] = comment
        return comment

    # -- one exchange ---------------------------------------------------

    def handle(
        self, method: str, target: str, headers: dict[str, str], raw: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        parts = urlsplit(target)
        path, query = parts.path, dict(parse_qsl(parts.query))
        with self._lock:
            self._check(
                openapi_check.request_violations,
                method=method,
                path=path,
                query=query,
                body=raw,
                content_type=headers.get("Content-Type", ""),
            )
            status, extra, payload = self._dispatch(method, path, query, headers, raw)
            out = {
                "Content-Type": "application/json; charset=utf-8",
                "X-GitHub-Request-Id": f"E{len(self.requests):04d}",
                "X-RateLimit-Limit": "5000",
                "X-RateLimit-Remaining": "4999",
                "X-RateLimit-Reset": str(int(EPOCH.timestamp()) + 3600),
                "X-RateLimit-Used": "1",
                "X-RateLimit-Resource": "core",
                **extra,
            }
            body = json.dumps(payload).encode()
            self._check(
                openapi_check.response_violations,
                method=method,
                path=path,
                query=query,
                status=status,
                headers=out,
                body=body,
            )
            try:
                data = json.loads(raw) if raw else None
            except ValueError:
                data = None
            self.requests.append(Request(method, path, query, data, status))
            return status, out, body

    def _check(self, check: Callable[..., list[str]], **exchange: Any) -> None:
        try:
            self.violations += check(**exchange)
        except Exception as err:  # a checker bug must fail the test, not drop the connection
            self.violations.append(f"checking {exchange['method']} {exchange['path']}: {err!r}")

    def _dispatch(
        self, method: str, path: str, query: dict[str, str], headers: dict[str, str], raw: bytes
    ) -> tuple[int, dict[str, str], Any]:
        for fault in self.faults:
            if fault.matches(method, path):
                if fault.times is not None:
                    fault.times -= 1
                    if fault.times == 0:
                        self.faults.remove(fault)
                extra = {} if fault.retry_after is None else {"Retry-After": str(fault.retry_after)}
                if fault.status == 429 or fault.reset_in is not None:
                    extra["X-RateLimit-Remaining"] = "0"
                if fault.reset_in is not None:
                    extra["X-RateLimit-Reset"] = str(int(time.time()) + fault.reset_in)
                return fault.status, extra, HttpError(fault.status, fault.message).body
        try:
            login, app = self._authenticate(headers)
            body = json.loads(raw) if raw else {}
            for verb, pattern, handler in ROUTES:
                found = pattern.match(path)
                if verb == method and found:
                    self.routes_hit.add(f"{verb} {pattern.pattern}")
                    params = {k: unquote(v) for k, v in found.groupdict().items()}
                    repo = None
                    if "owner" in params:
                        repo = self.repos.get(f"{params['owner']}/{params['repo']}")
                        if repo is None:
                            raise HttpError(404, "Not Found")
                    params["login"], params["app"] = login, "yes" if app else ""
                    result = handler(self, repo, params, query, body)
                    return result if isinstance(result, tuple) else (200, {}, result)
            self.violations.append(f"no emulated endpoint for {method} {path}")
            raise HttpError(404, "Not Found")
        except HttpError as err:
            return err.status, {}, err.body
        except Exception as err:
            self.violations.append(f"emulator crashed on {method} {path}: {err!r}")
            return 500, {}, HttpError(500, "Server Error").body

    def _authenticate(self, headers: dict[str, str]) -> tuple[str, bool]:
        scheme, _, token = headers.get("Authorization", "").partition(" ")
        if scheme.lower() not in ("token", "bearer") or token not in self.tokens:
            raise HttpError(401, "Bad credentials")
        return self.tokens[token]

    # -- payloads -------------------------------------------------------

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
            "closed_at": pull.created_at if closed else None,
            "merged_at": pull.created_at if pull.merged else None,
            "merge_commit_sha": _digest("merge", pull.head_sha) if pull.merged else None,
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
        number = int(_digest(name)[:6], 16)
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
            "sha": None if entry.status == "removed" else _blob_sha(entry.filename),
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
        return {
            "ref": f"refs/{ref}",
            "node_id": f"REF_{_digest(repo.full_name, ref)[:12]}",
            "url": f"{self.api(repo)}/git/refs/{ref}",
            "object": {"type": "commit", "sha": sha, "url": f"{self.api(repo)}/git/commits/{sha}"},
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


@contextlib.contextmanager
def checked() -> Iterator[GitHubServer]:
    """A running emulator that fails its user, on leaving, if any request or
    response broke GitHub's OpenAPI description (the base of a pytest fixture)."""
    with GitHubServer() as server:
        yield server
    assert not server.violations, "\n".join(server.violations)


class _HttpHandler(BaseHTTPRequestHandler):
    emulator: GitHubServer
    protocol_version = "HTTP/1.1"

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        status, headers, body = self.emulator.handle(
            self.command, self.path, dict(self.headers.items()), raw
        )
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve  # noqa: N815 - http.server's names

    def log_message(self, format: str, *args: Any) -> None:
        """The emulator keeps its own request log; stderr stays quiet."""


# -- endpoints ------------------------------------------------------------
# Each handler gets (server, repo, path params + "login", query, JSON body) and
# returns a payload (200) or (status, extra headers, payload).


def _pull(repo: Repo | None, params: dict[str, str], key: str = "number") -> PullRecord:
    assert repo is not None
    pull = repo.pulls.get(int(params[key]))
    if pull is None:
        raise HttpError(404, "Not Found")
    return pull


def _invalid(resource: str, field_name: str, message: str, code: str = "custom") -> HttpError:
    error = {"resource": resource, "code": code, "field": field_name, "message": message}
    return HttpError(422, "Validation Failed", errors=[error])


@route("GET", "/user")
def _get_user(s: GitHubServer, repo: Repo | None, p: dict[str, str], q: Any, b: Json) -> Any:
    if p["app"]:
        raise HttpError(403, "Resource not accessible by integration")
    login = p["login"]
    return s.user_json(login) | {
        "name": None,
        "company": None,
        "blog": "",
        "location": None,
        "email": None,
        "hireable": None,
        "bio": None,
        "twitter_username": None,
        "public_repos": 0,
        "public_gists": 0,
        "followers": 0,
        "following": 0,
        "created_at": EPOCH.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "updated_at": EPOCH.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


@route("GET", "{repo}")
def _get_repo(s: GitHubServer, repo: Repo | None, p: dict[str, str], q: Any, b: Json) -> Any:
    assert repo is not None
    return s.repo_json(repo) | {"network_count": 0, "subscribers_count": 0}


@route("GET", "{repo}/pulls/(?P<number>[0-9]+)")
def _get_pull(s: GitHubServer, repo: Repo | None, p: dict[str, str], q: Any, b: Json) -> Any:
    assert repo is not None
    return s.pull_json(repo, _pull(repo, p))


@route("GET", "{repo}/pulls/(?P<number>[0-9]+)/files")
def _list_files(s: GitHubServer, repo: Repo | None, p: dict[str, str], q: Any, b: Json) -> Any:
    assert repo is not None
    pull = _pull(repo, p)
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
        raise _invalid("PullRequest", "head", "head invalid", code="invalid")
    if f"heads/{base_ref}" not in repo.refs:
        raise _invalid("PullRequest", "base", "base invalid", code="invalid")
    head_sha, base_sha = source.refs[f"heads/{head_ref}"], repo.refs[f"heads/{base_ref}"]
    for other in repo.pulls.values():
        if (other.state, other.head_repo, other.head_ref) == ("open", source.full_name, head_ref):
            message = f"A pull request already exists for {source.owner}:{head_ref}."
            raise _invalid("PullRequest", "head", message)
    if head_sha in s._ancestors(base_sha):
        raise _invalid("PullRequest", "head", f"No commits between {base_ref} and {head_ref}")
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
    pull = _pull(repo, p)
    reviews = [
        s.review_json(repo, r)
        for r in s.reviews
        if (r.repo, r.number) == (repo.full_name, pull.number)
    ]
    link, chunk = s.page(reviews, f"/repos/{repo.full_name}/pulls/{pull.number}/reviews", q)
    return 200, link, chunk


@route("GET", "{repo}/issues/(?P<number>[0-9]+)/comments")
def _list_comments(s: GitHubServer, repo: Repo | None, p: dict[str, str], q: Any, b: Json) -> Any:
    assert repo is not None
    pull = _pull(repo, p)
    comments = [s.comment_json(repo, c) for c in s.comments_on(repo.full_name, pull.number)]
    link, chunk = s.page(comments, f"/repos/{repo.full_name}/issues/{pull.number}/comments", q)
    return 200, link, chunk


def _comment_body(b: Json) -> str:
    body = b.get("body")
    if not isinstance(body, str) or not body:
        raise _invalid("IssueComment", "body", "body cannot be blank", code="missing_field")
    if len(body) > COMMENT_LIMIT:
        raise _invalid(
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


@route("POST", "{repo}/issues/comments/(?P<id>[0-9]+)/reactions")
def _react(s: GitHubServer, repo: Repo | None, p: dict[str, str], q: Any, b: Json) -> Any:
    comment = _comment(s, repo, p)
    content = b.get("content")
    if content not in REACTIONS:
        raise _invalid("Reaction", "content", f"{content!r} is not a valid reaction", "invalid")
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


@route("POST", "{repo}/statuses/(?P<sha>[0-9a-f]{40})")
def _create_status(s: GitHubServer, repo: Repo | None, p: dict[str, str], q: Any, b: Json) -> Any:
    assert repo is not None
    if p["sha"] not in s.commits:
        raise _invalid("Status", "sha", f"No commit found for SHA: {p['sha']}")
    if b.get("state") not in ("error", "failure", "pending", "success"):
        raise _invalid("Status", "state", "state is not included in the list", "invalid")
    description = b.get("description")
    if description is not None and len(description) > STATUS_DESCRIPTION_LIMIT:
        limit = STATUS_DESCRIPTION_LIMIT
        raise _invalid("Status", "description", f"description is too long (maximum is {limit})")
    status = StatusRecord(
        id=next(s._ids),
        sha=p["sha"],
        context=str(b.get("context") or "default"),
        state=str(b["state"]),
        description=description,
        target_url=b.get("target_url"),
        creator=p["login"],
        created_at=s.now(),
    )
    repo.statuses.append(status)
    payload = s.status_json(repo, status)
    return 201, {"Location": payload["url"]}, payload


@route("GET", "{repo}/commits/(?P<ref>.+)/status")
def _combined_status(s: GitHubServer, repo: Repo | None, p: dict[str, str], q: Any, b: Json) -> Any:
    assert repo is not None
    sha = repo.refs.get(f"heads/{p['ref']}", p["ref"])
    if sha not in s.commits:
        raise HttpError(404, f"No commit found for SHA: {p['ref']}")
    latest: dict[str, StatusRecord] = {}
    for status in repo.statuses:
        if status.sha == sha:
            latest[status.context] = status
    states = {status.state for status in latest.values()}
    combined = (
        "failure"
        if states & {"failure", "error"}
        else "pending"
        if not states or "pending" in states
        else "success"
    )
    statuses = []
    for status in latest.values():
        full = s.status_json(repo, status)
        statuses.append({k: v for k, v in full.items() if k != "creator"})
    minimal = {k: v for k, v in s.repo_json(repo).items() if not k.startswith("has_")}
    return {
        "state": combined,
        "statuses": statuses,
        "sha": sha,
        "total_count": len(statuses),
        "repository": minimal,
        "commit_url": f"{s.api(repo)}/commits/{sha}",
        "url": f"{s.api(repo)}/commits/{sha}/status",
    }


@route("GET", "{repo}/collaborators/(?P<user>[^/]+)/permission")
def _permission(s: GitHubServer, repo: Repo | None, p: dict[str, str], q: Any, b: Json) -> Any:
    assert repo is not None
    user = p["user"]
    if user not in s.users:
        raise HttpError(404, "Not Found")
    role = repo.collaborators.get(user, "admin" if user == repo.owner else "none")
    return {
        "permission": ROLES.get(role) or s.custom_roles[role],
        "role_name": role,
        "user": s.user_json(user)
        | {
            "role_name": role,
            "permissions": {
                "admin": role == "admin",
                "maintain": role in ("admin", "maintain"),
                "push": (ROLES.get(role) or s.custom_roles[role]) in ("admin", "write"),
                "triage": role in ("admin", "maintain", "write", "triage"),
                "pull": role != "none",
            },
        },
    }


@route("GET", "/orgs/(?P<org>[^/]+)/teams/(?P<slug>[^/]+)/memberships/(?P<user>[^/]+)")
def _membership(s: GitHubServer, repo: Repo | None, p: dict[str, str], q: Any, b: Json) -> Any:
    state = s.teams.get((p["org"], p["slug"]), {}).get(p["user"])
    if state is None:
        raise HttpError(404, "Not Found")
    team = int(_digest(p["org"], p["slug"])[:6], 16)
    return {
        "url": f"{s.url}/organizations/1/team/{team}/memberships/{p['user']}",
        "role": "member",
        "state": state,
    }


@route("GET", "{repo}/git/ref/(?P<ref>.+)")
def _get_ref(s: GitHubServer, repo: Repo | None, p: dict[str, str], q: Any, b: Json) -> Any:
    assert repo is not None
    if p["ref"] not in repo.refs:
        raise HttpError(404, "Not Found")
    return s.ref_json(repo, p["ref"])


@route("POST", "{repo}/git/refs")
def _create_ref(s: GitHubServer, repo: Repo | None, p: dict[str, str], q: Any, b: Json) -> Any:
    assert repo is not None
    ref, sha = str(b.get("ref", "")), str(b.get("sha", ""))
    if not ref.startswith("refs/") or ref.count("/") < 2:
        raise _invalid("Reference", "ref", f"{ref} is not a valid ref name", "invalid")
    if sha not in s.commits:
        raise HttpError(422, "Object does not exist")
    name = ref.removeprefix("refs/")
    if name in repo.refs:
        raise HttpError(422, "Reference already exists")
    repo.refs[name] = sha
    payload = s.ref_json(repo, name)
    return 201, {"Location": payload["url"]}, payload


@route("PATCH", "{repo}/git/refs/(?P<ref>.+)")
def _update_ref(s: GitHubServer, repo: Repo | None, p: dict[str, str], q: Any, b: Json) -> Any:
    assert repo is not None
    name, sha = p["ref"], str(b.get("sha", ""))
    if name not in repo.refs:
        raise HttpError(422, "Reference does not exist")
    if sha not in s.commits:
        raise HttpError(422, "Object does not exist")
    if not b.get("force") and repo.refs[name] not in s._ancestors(sha):
        raise HttpError(422, "Update is not a fast forward")
    repo.refs[name] = sha
    return s.ref_json(repo, name)


@route("GET", "{repo}/git/commits/(?P<sha>[0-9a-f]{40})")
def _get_commit(s: GitHubServer, repo: Repo | None, p: dict[str, str], q: Any, b: Json) -> Any:
    assert repo is not None
    if p["sha"] not in s.commits:
        raise HttpError(404, "Not Found")
    return s.commit_json(repo, s.commits[p["sha"]])


@route("POST", "{repo}/git/trees")
def _create_tree(s: GitHubServer, repo: Repo | None, p: dict[str, str], q: Any, b: Json) -> Any:
    assert repo is not None
    base = b.get("base_tree")
    if base is not None and base not in s.trees:
        raise _invalid("Tree", "base_tree", "base_tree is not a valid tree oid", "invalid")
    entries = dict(s.trees[base]) if base else {}
    for entry in b.get("tree", []):
        if entry.get("type") != "blob" or ("content" in entry) == ("sha" in entry):
            raise _invalid("Tree", "tree", "tree entries need one of content or sha", "invalid")
        if "content" in entry:
            entries[entry["path"]] = s._blob(entry["content"])
        elif entry["sha"] is None:
            entries.pop(entry["path"], None)
        elif entry["sha"] in s.blobs:
            entries[entry["path"]] = entry["sha"]
        else:
            raise _invalid("Tree", "tree.sha", f"{entry['sha']} is not a valid blob", "invalid")
    payload = s.tree_json(repo, s._tree(entries))
    return 201, {"Location": payload["url"]}, payload


@route("POST", "{repo}/git/commits")
def _create_commit(s: GitHubServer, repo: Repo | None, p: dict[str, str], q: Any, b: Json) -> Any:
    assert repo is not None
    tree, parents = b.get("tree"), tuple(b.get("parents", ()))
    if tree not in s.trees or any(parent not in s.commits for parent in parents):
        raise _invalid("Commit", "tree", "tree or parents do not exist", "invalid")
    sha = s._commit_tree(str(tree), parents, str(b.get("message", "")))
    payload = s.commit_json(repo, s.commits[sha])
    return 201, {"Location": payload["url"]}, payload
