"""The emulator's state and the methods tests arrange it with.

Owns: every record the emulator keeps (users and tokens, repositories,
teams, git commits, trees, blobs and tags shared by forks as on GitHub,
comments, reviews, faults, the request log and contract violations), the
`add_*`/`push`/`mirror`/`attach_git` methods tests call before talking to
the server, the emulator's clock, and git objects (blob SHAs are git's;
tree and commit SHAs are digests, except in a repository that mirrors a
real one: there the commits it has carry their real files, under git's
own tree SHAs, and the API writes its trees and commits into it).
Refuses: HTTP (server.py) and payload shapes (payloads.py, git_payloads.py).
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

from tests.fakes import realgit
from tests.fakes.github_server.state import (
    EPOCH,
    ROLES,
    SECONDARY_RATE_LIMIT,
    AppRecord,
    ChangedFile,
    CommentRecord,
    Commit,
    Fault,
    HttpError,
    InstallationRecord,
    InstallationToken,
    PullRecord,
    Repo,
    Request,
    ReviewRecord,
    TagRecord,
    User,
    blob_sha,
    digest,
)


class Store:
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
        # permissions an App installation token lacks (Actions' GITHUB_TOKEN has no
        # organization `members`): its requests that need one get 403
        self.apps_lack: set[str] = set()
        self.routes_hit: set[str] = set()  # "METHOD pattern" of every endpoint that answered
        self._ids = itertools.count(1001)
        self._clock = itertools.count()
        self.tags: dict[str, TagRecord] = {}  # annotated tag objects by SHA
        self._ids = itertools.count(1001)
        self._clock = itertools.count()
        self._lock = threading.Lock()  # one exchange at a time: every check-and-create is atomic
        self.url = ""
        # GitHub Apps: their installations and the installation tokens handed out
        self.apps: dict[int, AppRecord] = {}
        self.installations: dict[int, InstallationRecord] = {}
        self.installation_tokens: dict[str, InstallationToken] = {}
        self.token_lifetime = 3600.0  # seconds an installation token lives, as on GitHub
        # The clock JWTs and installation tokens are judged by; a test moves it.
        self.clock: Callable[[], float] = time.time

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

    def add_app(self, app_id: int, *, slug: str, public_key: str, owner: str = "acme") -> AppRecord:
        """A GitHub App whose JWTs are signed with the private half of `public_key` (PEM);
        its installation tokens act as the Bot account "SLUG[bot]"."""
        self.add_user(owner, type="Organization")
        self.add_user(f"{slug}[bot]", type="Bot")
        app = AppRecord(app_id, slug, owner, public_key, self.now())
        self.apps[app_id] = app
        return app

    def install(
        self,
        app_id: int,
        repos: list[str],
        *,
        account: str = "acme",
        permissions: dict[str, str] | None = None,
    ) -> InstallationRecord:
        """Install the App on `account`, for `repos` (full names) only."""
        self.add_user(account, type="Organization")
        granted = permissions or {
            "contents": "read",
            "pull_requests": "write",
            "issues": "write",
            "statuses": "write",
            "deployments": "write",
            "members": "read",
            "metadata": "read",
        }
        record = InstallationRecord(
            self.next_id(), app_id, account, list(repos), dict(granted), self.now()
        )
        self.installations[record.id] = record
        return record

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
        own git checkout has. Its files are the real ones when the repository
        is attached (attach_git), else main's (the bot reads files from git)."""
        repo = self.repos[full_name]
        git_dir = repo.git_dir
        if git_dir is not None and realgit.known(git_dir, [sha]):
            tree = self._real_tree(git_dir, sha)
        else:
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
        sha = blob_sha(text)
        self.blobs[sha] = text
        return sha

    def _tree(self, entries: dict[str, str]) -> str:
        sha = digest("tree", sorted(entries.items()))
        self.trees[sha] = dict(entries)
        return sha

    def _commit_tree(self, tree: str, parents: tuple[str, ...], message: str) -> str:
        date = self.now()
        sha = digest("commit", tree, parents, message, date)
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

    def attach_git(self, full_name: str, git_dir: Path) -> None:
        """Mirror a real (bare) git repository: the commits it has get their real
        files here; trees and commits written through the API over them, refs
        set to its commits, and merges of its commits are made there too, with
        real SHAs, so a puller fetching from it sees them."""
        self.repos[full_name].git_dir = git_dir
        for sha in realgit.known(git_dir, self.commits):
            self.commits[sha].tree = self._real_tree(git_dir, sha)

    def _real_tree(self, git_dir: Path, treeish: str) -> str:
        """The real tree of a commit (or tree) git has, kept here flat under its SHA."""
        sha = realgit.tree_of(git_dir, treeish)
        if sha not in self.trees:
            entries = {}
            for path, (blob, text) in realgit.files(git_dir, sha).items():
                self.blobs[blob] = text
                entries[path] = blob
            self.trees[sha] = entries
        return sha

    def next_id(self) -> int:
        return next(self._ids)
