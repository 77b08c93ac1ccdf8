"""A stateful GitLab REST API v4 emulator on 127.0.0.1 that python-gitlab talks to.

Owns: the state of a small GitLab (users and their tokens, groups and
projects with members and access levels, branches and commits with their
files, forks, merge requests with diff versions, notes and award emoji,
approvals, commit statuses), the endpoints the GitLab adapter uses with the
response shapes of GitLab's REST API documentation (pagination headers and
Link included), GitLab's errors for what the adapter can get wrong (a note
over 1,000,000 characters, a status set twice to `pending`, an emoji awarded
twice), queued faults (429 with Retry-After, 5xx), a log of readable request
lines ("GET /api/v4/projects/group/shop/merge_requests/7") for exact call
counts, and webhook payloads ("Merge Request Hook", "Note Hook") built from
the same state.

Refuses: to be GitLab. No Git, no pipelines, no rename detection beyond
identical content, no permissions finer than "a member with this access
level". The examples in tests/fakes/gitlab_examples/, written from GitLab's
documentation, are what its shapes are checked against.

Seed state with the methods (add_user, add_project, commit, open_merge_request,
add_note, approve, ...), then point `gitlab.Gitlab(url=server.url,
private_token=token)` at it inside `with GitLabServer() as server:`.
"""

from __future__ import annotations

import difflib
import hashlib
import itertools
import json
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

NOTE_LIMIT = 1_000_000
DESCRIPTION_LIMIT = 1_048_576
STATUS_TEXT_LIMIT = 255
GUEST, REPORTER, DEVELOPER, MAINTAINER, OWNER = 10, 20, 30, 40, 50
STATUS_STATES = ("pending", "running", "success", "failed", "canceled", "skipped")
_STATE_IDS = {"opened": 1, "closed": 2, "merged": 3, "locked": 4}
Json = dict[str, Any]


class ApiError(Exception):
    """An error answer: GitLab's {"message": ...} body with an HTTP status."""

    def __init__(self, status: int, message: object, *, key: str = "message") -> None:
        super().__init__(f"{status}: {message}")
        self.status, self.body = status, {key: message}


def _not_found(what: str) -> ApiError:
    return ApiError(404, f"404 {what} Not Found")


@dataclass
class User:
    id: int
    username: str
    token: str
    bot: bool = False
    state: str = "active"

    @property
    def name(self) -> str:
        return self.username.replace("_", " ").title()

    @property
    def email(self) -> str:
        return f"{self.username}@example.com"


@dataclass
class Group:
    id: int
    full_path: str
    parent: Group | None
    members: dict[int, int] = field(default_factory=dict)


@dataclass
class Commit:
    sha: str
    parents: tuple[str, ...]
    message: str
    tree: dict[str, str]
    author: User
    at: datetime


@dataclass
class Label:
    id: int
    title: str
    project_id: int
    at: datetime


@dataclass
class Project:
    id: int
    path: str
    namespace: Group | None
    default_branch: str
    reset_approvals_on_push: bool
    forked_from: Project | None = None
    members: dict[int, int] = field(default_factory=dict)
    known: set[str] = field(default_factory=set)
    branches: dict[str, str] = field(default_factory=dict)
    labels: dict[str, Label] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.path.rsplit("/", 1)[-1]


@dataclass
class Version:
    id: int
    head: str
    base: str
    start: str
    at: datetime


@dataclass
class Award:
    id: int
    name: str
    user: User
    at: datetime


@dataclass
class Note:
    id: int
    author: User
    body: str
    created: datetime
    updated: datetime
    system: bool = False
    awards: list[Award] = field(default_factory=list)


@dataclass
class Approval:
    user: User
    at: datetime


@dataclass
class MergeRequest:
    id: int
    iid: int
    project: Project
    source: Project
    title: str
    description: str
    author: User
    source_branch: str
    target_branch: str
    created: datetime
    updated: datetime
    state: str = "opened"
    labels: list[str] = field(default_factory=list)
    assignees: list[User] = field(default_factory=list)
    reviewers: list[User] = field(default_factory=list)
    versions: list[Version] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    approvals: list[Approval] = field(default_factory=list)
    merged_at: datetime | None = None
    closed_at: datetime | None = None


@dataclass
class CommitStatus:
    id: int
    project: Project
    sha: str
    ref: str
    name: str
    status: str
    description: str | None
    target_url: str | None
    author: User
    created: datetime
    retried: bool = False
    started: datetime | None = None
    finished: datetime | None = None


@dataclass
class Fault:
    status: int
    method: str | None
    path: str | None
    times: int
    headers: dict[str, str]
    message: str


@dataclass
class Request:
    """What a handler gets: who asks, the path's parts, and every parameter."""

    user: User
    parts: dict[str, str]
    params: dict[str, Any]


def iso(moment: datetime | None) -> str | None:
    """GitLab's REST timestamps: `2026-01-05T09:00:01.000Z`."""
    if moment is None:
        return None
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def hook_time(moment: datetime | None) -> str | None:
    """GitLab's webhook timestamps: `2026-01-05 09:00:01 UTC`."""
    return None if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _truthy(value: object) -> bool:
    return value is True or str(value).lower() in ("true", "1", "yes")


class GitLabServer:
    """The emulator; a context manager that serves on 127.0.0.1 at a free port."""

    def __init__(self, *, diff_max_files: int = 1000, per_page_max: int = 100) -> None:
        self.diff_max_files = diff_max_files
        self.per_page_max = per_page_max
        self.log: list[str] = []
        self._lock = threading.RLock()
        self._ids = itertools.count(1)
        self._clock = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
        self._users: dict[int, User] = {}
        self._groups: dict[str, Group] = {}
        self._projects: dict[str, Project] = {}
        self._commits: dict[str, Commit] = {}
        self._mrs: list[MergeRequest] = []
        self._statuses: list[CommitStatus] = []
        self._faults: list[Fault] = []
        self._http: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- serving ----------------------------------------------------------

    def __enter__(self) -> GitLabServer:
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._http.daemon_threads = True
        self._thread = threading.Thread(
            target=self._http.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._http is not None
        assert self._thread is not None
        self._http.shutdown()
        self._http.server_close()
        self._thread.join(timeout=10)

    @property
    def url(self) -> str:
        assert self._http is not None, "use the server inside `with`"
        host, port = self._http.server_address[:2]
        return f"http://{host!s}:{port}"

    def count(self, line: str) -> int:
        """How many requests the log has with exactly this readable line."""
        with self._lock:
            return self.log.count(line)

    def fail(
        self,
        status: int,
        *,
        times: int = 1,
        method: str | None = None,
        path: str | None = None,
        headers: dict[str, str] | None = None,
        message: str | None = None,
    ) -> None:
        """Answer the next `times` matching requests with `status` (readable path, no query)."""
        text = message or {
            429: "Retry later",
            500: "500 Internal Server Error",
            502: "502 Bad Gateway",
            503: "503 Service Unavailable",
        }.get(status, f"{status} Error")
        with self._lock:
            self._faults.append(Fault(status, method, path, times, dict(headers or {}), text))

    # -- seeding ----------------------------------------------------------

    def _tick(self) -> datetime:
        self._clock += timedelta(seconds=1)
        return self._clock

    def add_user(self, username: str, *, bot: bool = False, token: str | None = None) -> User:
        with self._lock:
            user = User(next(self._ids), username, token or f"glpat-{username}", bot)
            self._users[user.id] = user
            return user

    def user(self, username: str) -> User:
        found = [u for u in self._users.values() if u.username == username]
        if not found:
            raise KeyError(f"no user {username!r}")
        return found[0]

    def add_group(self, full_path: str) -> Group:
        with self._lock:
            if full_path in self._groups:
                return self._groups[full_path]
            parent = self.add_group(full_path.rsplit("/", 1)[0]) if "/" in full_path else None
            group = Group(next(self._ids), full_path, parent)
            self._groups[full_path] = group
            return group

    def add_member(self, where: str, username: str, access_level: int) -> None:
        """Make `username` a direct member of the group or project at path `where`."""
        with self._lock:
            target = self._projects.get(where) or self._groups.get(where)
            if target is None:
                raise KeyError(f"no group or project {where!r}")
            target.members[self.user(username).id] = access_level

    def add_project(
        self,
        path: str,
        *,
        files: dict[str, str] | None = None,
        default_branch: str = "main",
        forked_from: str | None = None,
        reset_approvals_on_push: bool = False,
    ) -> Project:
        """A project; its namespace becomes a group unless it is a user's name."""
        with self._lock:
            namespace_path = path.rsplit("/", 1)[0]
            users = {u.username for u in self._users.values()}
            namespace = None if namespace_path in users else self.add_group(namespace_path)
            origin = self._projects[forked_from] if forked_from else None
            project = Project(
                next(self._ids), path, namespace, default_branch, reset_approvals_on_push, origin
            )
            self._projects[path] = project
            if origin is not None:
                project.known |= origin.known
                project.branches.update(origin.branches)
            else:
                author = next(iter(self._users.values()), None) or self.add_user("root")
                sha = self._new_commit(
                    (), files or {"README.md": "# shop\n"}, "Initial commit", author
                )
                project.known.add(sha)
                project.branches[default_branch] = sha
            return project

    def project(self, path_or_id: str | int) -> Project:
        for project in self._projects.values():
            if str(project.id) == str(path_or_id) or project.path == path_or_id:
                return project
        raise _not_found("Project")

    def _new_commit(
        self, parents: tuple[str, ...], tree: dict[str, str], message: str, author: User
    ) -> str:
        seed = json.dumps([parents, sorted(tree.items()), message, next(self._ids)])
        sha = hashlib.sha1(seed.encode(), usedforsecurity=False).hexdigest()
        self._commits[sha] = Commit(sha, parents, message, dict(tree), author, self._tick())
        return sha

    def commit(
        self,
        project: str,
        branch: str,
        files: dict[str, str | None],
        *,
        message: str = "Change files",
        author: str | None = None,
    ) -> str:
        """Push one commit that writes (or, for None, deletes) `files` on `branch`."""
        with self._lock:
            proj = self.project(project)
            start = proj.branches.get(branch) or proj.branches[proj.default_branch]
            tree = dict(self._commits[start].tree)
            for path, text in files.items():
                if text is None:
                    tree.pop(path, None)
                else:
                    tree[path] = text
            who = self.user(author) if author else self._commits[start].author
            sha = self._new_commit((start,), tree, message, who)
            self._push(proj, branch, sha)
            return sha

    def mirror(self, project: str, branch: str, *, sha: str, parent: str | None = None) -> None:
        """Point `branch` at a commit made in a real git repository, under its real
        SHA, so that merge requests and statuses here name the commits the bot's
        own git checkout has. (Its tree is the default branch's.)"""
        with self._lock:
            proj = self.project(project)
            base = self._commits[proj.branches[proj.default_branch]]
            if sha not in self._commits:
                parents = (parent,) if parent else ()
                self._commits[sha] = Commit(
                    sha, parents, f"mirrored {sha[:7]}", dict(base.tree), base.author, self._tick()
                )
            self._push(proj, branch, sha)

    def create_branch(self, project: str, name: str, ref: str) -> str:
        with self._lock:
            proj = self.project(project)
            sha = self._resolve(proj, ref)
            if sha is None:
                raise KeyError(f"no ref {ref!r} in {project}")
            proj.branches[name] = sha
            return sha

    def _push(self, proj: Project, branch: str, sha: str) -> None:
        old = proj.branches.get(branch)
        proj.known |= self._ancestors(sha)
        proj.branches[branch] = sha
        for mr in self._mrs:
            if mr.state == "opened" and mr.source is proj and mr.source_branch == branch:
                self._add_version(mr)
                count = len(self._ancestors(sha) - self._ancestors(old)) if old else 1
                message = self._commits[sha].message.splitlines()[0]
                self._note(
                    mr,
                    mr.author,
                    f"added {count} commit{'s' if count != 1 else ''}\n\n"
                    f"<ul><li>{sha[:8]} - {message}</li></ul>",
                    system=True,
                )
                if mr.project.reset_approvals_on_push:
                    mr.approvals.clear()

    def _ancestors(self, sha: str | None) -> set[str]:
        seen: set[str] = set()
        todo = [sha] if sha else []
        while todo:
            current = todo.pop()
            if current not in seen:
                seen.add(current)
                todo.extend(self._commits[current].parents)
        return seen

    def _merge_base(self, left: str, right: str) -> str:
        ours = self._ancestors(left)
        queue = [right]
        while queue:
            current = queue.pop(0)
            if current in ours:
                return current
            queue.extend(self._commits[current].parents)
        raise ApiError(400, "the branches have no common ancestor")

    def _resolve(self, proj: Project, ref: str) -> str | None:
        if ref in proj.branches:
            return proj.branches[ref]
        return ref if ref in proj.known else None

    def _label(self, proj: Project, title: str) -> Label:
        if title not in proj.labels:
            proj.labels[title] = Label(next(self._ids), title, proj.id, self._clock)
        return proj.labels[title]

    def open_merge_request(
        self,
        project: str,
        *,
        source_branch: str,
        title: str,
        author: str,
        target_branch: str | None = None,
        source_project: str | None = None,
        description: str = "",
        labels: Iterable[str] = (),
        assignees: Iterable[str] = (),
        reviewers: Iterable[str] = (),
    ) -> MergeRequest:
        with self._lock:
            target = self.project(project)
            source = self.project(source_project) if source_project else target
            return self._open(
                target,
                source,
                source_branch=source_branch,
                target_branch=target_branch or target.default_branch,
                title=title,
                author=self.user(author),
                description=description,
                labels=list(labels),
                assignees=[self.user(u) for u in assignees],
                reviewers=[self.user(u) for u in reviewers],
            )

    def _open(
        self,
        target: Project,
        source: Project,
        *,
        source_branch: str,
        target_branch: str,
        title: str,
        author: User,
        description: str,
        labels: list[str],
        assignees: list[User] | None = None,
        reviewers: list[User] | None = None,
    ) -> MergeRequest:
        if source_branch not in source.branches or target_branch not in target.branches:
            raise ApiError(404, "404 Branch Not Found")
        for other in self._mrs:
            if other.state == "opened" and (
                other.project,
                other.source,
                other.source_branch,
                other.target_branch,
            ) == (target, source, source_branch, target_branch):
                raise ApiError(
                    409,
                    [
                        "Another open merge request already exists for this source branch: "
                        f"!{other.iid}"
                    ],
                )
        if len(description) > DESCRIPTION_LIMIT:
            raise ApiError(400, {"description": ["is too long (maximum is 1048576 characters)"]})
        now = self._tick()
        iid = 1 + max((m.iid for m in self._mrs if m.project is target), default=0)
        mr = MergeRequest(
            next(self._ids),
            iid,
            target,
            source,
            title,
            description,
            author,
            source_branch,
            target_branch,
            now,
            now,
            labels=[],
            assignees=assignees or [],
            reviewers=reviewers or [],
        )
        for title_ in labels:
            self._label(target, title_)
            mr.labels.append(title_)
        self._mrs.append(mr)
        self._add_version(mr)
        return mr

    def _add_version(self, mr: MergeRequest) -> None:
        head = mr.source.branches[mr.source_branch]
        start = mr.project.branches[mr.target_branch]
        mr.project.known |= self._ancestors(head)  # GitLab fetches refs/merge-requests/:iid/head
        base = self._merge_base(start, head)
        mr.versions.append(Version(next(self._ids), head, base, start, self._tick()))
        mr.updated = self._clock

    def merge_request(self, project: str, iid: int) -> MergeRequest:
        proj = self.project(project)
        for mr in self._mrs:
            if mr.project is proj and mr.iid == iid:
                return mr
        raise _not_found("Merge Request")

    def set_state(self, project: str, iid: int, state: str) -> None:
        """Close or merge a merge request (no Git happens on merge)."""
        with self._lock:
            mr = self.merge_request(project, iid)
            mr.state = state
            now = self._tick()
            if state == "merged":
                mr.merged_at = now
            elif state == "closed":
                mr.closed_at = now

    def _note(self, mr: MergeRequest, author: User, body: str, *, system: bool = False) -> Note:
        if len(body) > NOTE_LIMIT:
            raise ApiError(400, 'Note {:note=>["is too long (maximum is 1000000 characters)"]}')
        now = self._tick()
        note = Note(next(self._ids), author, body, now, now, system)
        mr.notes.append(note)
        return note

    def add_note(
        self, project: str, iid: int, *, author: str, body: str, system: bool = False
    ) -> Note:
        with self._lock:
            return self._note(
                self.merge_request(project, iid), self.user(author), body, system=system
            )

    def approve(self, project: str, iid: int, username: str) -> None:
        with self._lock:
            mr = self.merge_request(project, iid)
            user = self.user(username)
            if all(a.user is not user for a in mr.approvals):
                mr.approvals.append(Approval(user, self._tick()))
                self._note(mr, user, "approved this merge request", system=True)

    def unapprove(self, project: str, iid: int, username: str) -> None:
        with self._lock:
            mr = self.merge_request(project, iid)
            mr.approvals = [a for a in mr.approvals if a.user.username != username]
            self._note(mr, self.user(username), "unapproved this merge request", system=True)

    def file(self, project: str, ref: str, path: str) -> str | None:
        """The text of `path` at `ref`, or None."""
        with self._lock:
            sha = self._resolve(self.project(project), ref)
            return None if sha is None else self._commits[sha].tree.get(path)

    def statuses(self, project: str, sha: str) -> list[CommitStatus]:
        with self._lock:
            proj = self.project(project)
            return [s for s in self._statuses if s.project is proj and s.sha == sha]

    # -- shapes -----------------------------------------------------------

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
            "merge_commit_sha": None,
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

    # -- hooks ------------------------------------------------------------

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
                "state_id": _STATE_IDS[mr.state],
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

    # -- access -----------------------------------------------------------

    def _level(self, proj: Project, user: User) -> int:
        """members/all: the highest of the direct and every inherited membership."""
        levels = [proj.members.get(user.id, 0)]
        group = proj.namespace
        while group is not None:
            levels.append(group.members.get(user.id, 0))
            group = group.parent
        return max(levels)

    def _group_level(self, group: Group, user: User) -> int:
        levels = [0]
        current: Group | None = group
        while current is not None:
            levels.append(current.members.get(user.id, 0))
            current = current.parent
        return max(levels)

    def _readable(self, req: Request) -> Project:
        proj = self.project(req.parts["project"])
        if self._level(proj, req.user) < GUEST:
            raise _not_found("Project")
        return proj

    def _mr(self, req: Request) -> MergeRequest:
        proj = self._readable(req)
        return self.merge_request(proj.path, int(req.parts["iid"]))

    # -- endpoints --------------------------------------------------------

    def _get_user(self, req: Request) -> Json:
        return self._current_user(req.user)

    def _list_users(self, req: Request) -> list[Json]:
        wanted = req.params.get("username")
        return [
            self._user_basic(u)
            for u in self._users.values()
            if wanted is None or u.username.lower() == str(wanted).lower()
        ]

    def _get_project(self, req: Request) -> Json:
        return self._project_json(self._readable(req))

    def _get_mr(self, req: Request) -> Json:
        return self._mr_json(self._mr(req), req.user)

    def _list_diffs(self, req: Request) -> list[Json]:
        return self._changes(self._mr(req))

    def _list_versions(self, req: Request) -> list[Json]:
        mr = self._mr(req)
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

    def _list_notes(self, req: Request) -> list[Json]:
        mr = self._mr(req)
        notes = list(mr.notes)
        which = req.params.get("activity_filter", "all_notes")
        if which == "only_comments":
            notes = [n for n in notes if not n.system]
        elif which == "only_activity":
            notes = [n for n in notes if n.system]
        key = "updated" if req.params.get("order_by") == "updated_at" else "created"
        notes.sort(
            key=lambda n: (getattr(n, key), n.id), reverse=req.params.get("sort", "desc") == "desc"
        )
        return [self._note_json(mr, n) for n in notes]

    def _find_note(self, mr: MergeRequest, req: Request) -> Note:
        for note in mr.notes:
            if note.id == int(req.parts["note"]):
                return note
        raise ApiError(404, "404 Not found")

    def _get_note(self, req: Request) -> Json:
        mr = self._mr(req)
        return self._note_json(mr, self._find_note(mr, req))

    def _body(self, req: Request) -> str:
        body = req.params.get("body")
        if not isinstance(body, str) or not body:
            raise ApiError(400, "body is missing", key="error")
        return body

    def _create_note(self, req: Request) -> tuple[int, Json]:
        mr = self._mr(req)
        return 201, self._note_json(mr, self._note(mr, req.user, self._body(req)))

    def _update_note(self, req: Request) -> Json:
        mr = self._mr(req)
        note = self._find_note(mr, req)
        if note.author is not req.user or note.system:
            raise ApiError(403, "403 Forbidden")
        body = self._body(req)
        if len(body) > NOTE_LIMIT:
            raise ApiError(400, 'Note {:note=>["is too long (maximum is 1000000 characters)"]}')
        note.body, note.updated = body, self._tick()
        return self._note_json(mr, note)

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

    def _create_award(self, req: Request) -> tuple[int, Json]:
        note = self._find_note(self._mr(req), req)
        name = str(req.params.get("name", ""))
        if any(a.name == name and a.user is req.user for a in note.awards):
            raise _not_found('Award Emoji ["User has already been taken"]')
        award = Award(next(self._ids), name, req.user, self._tick())
        note.awards.append(award)
        return 201, self._award_json(note, award)

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

    def _contains(self, proj: Project, sha: str) -> list[str]:
        return sorted(b for b, head in proj.branches.items() if sha in self._ancestors(head))

    def _create_status(self, req: Request) -> tuple[int, Json]:
        proj = self._readable(req)
        if self._level(proj, req.user) < DEVELOPER:
            raise ApiError(403, "403 Forbidden")
        sha = req.parts["sha"]
        state = req.params.get("state")
        if state not in STATUS_STATES:
            raise ApiError(400, "state does not have a valid value", key="error")
        if sha not in proj.known:
            raise _not_found("Commit")
        for name in ("description", "target_url", "ref"):
            if len(str(req.params.get(name) or "")) > STATUS_TEXT_LIMIT:
                raise ApiError(400, {name: ["is too long (maximum is 255 characters)"]})
        name = str(req.params.get("name") or req.params.get("context") or "default")
        same_sha = [s for s in self._statuses if s.project is proj and s.sha == sha]
        branches = self._contains(proj, sha)
        ref = (
            req.params.get("ref")
            or (same_sha[-1].ref if same_sha else None)
            or (branches[0] if branches else None)
        )
        if not ref:
            raise _not_found("References for commit")
        live = [
            s
            for s in same_sha
            if (s.name, s.ref, s.author) == (name, ref, req.user)
            and s.status in ("pending", "running")
        ]
        now = self._tick()
        status = live[-1] if live else None
        if status is None:
            status = CommitStatus(
                next(self._ids), proj, sha, str(ref), name, "created", None, None, req.user, now
            )
        self._transition(status, str(state))
        status.description = req.params.get("description") or status.description
        status.target_url = req.params.get("target_url") or status.target_url
        if status.status == "running":
            status.started = status.started or now
        if status.status in ("success", "failed", "canceled", "skipped"):
            status.finished = now
        if not live:
            for older in same_sha:
                if (older.name, older.ref) == (name, ref):
                    older.retried = True
            self._statuses.append(status)
        return 201, self._status_json(status)

    @staticmethod
    def _transition(status: CommitStatus, state: str) -> None:
        """GitLab's state machine of a commit status, for the events the API fires."""
        allowed = {
            "enqueue": ("created", "pending"),
            "run": ("pending", "running"),
            "success": ("created", "pending", "running", "success"),
            "drop": ("created", "pending", "running", "failed"),
            "cancel": ("created", "pending", "running", "canceled"),
            "skip": ("created", "pending", "skipped"),
        }

        def fire(event: str, *, bang: bool = True) -> None:
            sources, target = allowed[event][:-1], allowed[event][-1]
            if status.status in sources:
                status.status = target
            elif bang:
                raise ApiError(
                    400,
                    f"Cannot transition status via :{event} from :{status.status} "
                    f'(Reason(s): Status cannot transition via "{event}")',
                )

        if state == "pending":
            fire("enqueue")
        elif state == "running":
            fire("enqueue", bang=False)
            fire("run")
        else:
            fire(
                {"success": "success", "failed": "drop", "canceled": "cancel", "skipped": "skip"}[
                    state
                ]
            )

    def _list_statuses(self, req: Request) -> list[Json]:
        proj = self._readable(req)
        sha = req.parts["sha"]
        if sha not in proj.known:
            raise _not_found("Commit")
        found = [s for s in self._statuses if s.project is proj and s.sha == sha]
        if not _truthy(req.params.get("all", False)):
            found = [s for s in found if not s.retried]
        for key in ("ref", "name"):
            if req.params.get(key):
                found = [s for s in found if getattr(s, key) == req.params[key]]
        return [self._status_json(s) for s in found]

    def _branch_json(self, proj: Project, name: str) -> Json:
        return {
            "name": name,
            "merged": False,
            "protected": name == proj.default_branch,
            "default": name == proj.default_branch,
            "developers_can_push": False,
            "developers_can_merge": False,
            "can_push": True,
            "web_url": f"{self.url}/{proj.path}/-/tree/{name}",
            "commit": self._commit_json(proj, proj.branches[name]),
        }

    def _writable(self, req: Request) -> Project:
        proj = self._readable(req)
        if self._level(proj, req.user) < DEVELOPER:
            raise ApiError(403, "403 Forbidden")
        return proj

    def _create_branch(self, req: Request) -> tuple[int, Json]:
        proj = self._writable(req)
        name, ref = str(req.params.get("branch", "")), str(req.params.get("ref", ""))
        if name in proj.branches:
            raise ApiError(400, "Branch already exists")
        sha = self._resolve(proj, ref)
        if sha is None or not re.fullmatch(r"[\w./-]+", name):
            raise ApiError(400, f"Invalid reference name: {ref if sha is None else name}")
        self._push(proj, name, sha)
        return 201, self._branch_json(proj, name)

    def _file_meta(self, req: Request) -> tuple[int, Json, dict[str, str]]:
        proj = self._readable(req)
        ref = str(req.params.get("ref", ""))
        sha = self._resolve(proj, ref)
        path = req.parts["path"]
        if sha is None or path not in self._commits[sha].tree:
            raise _not_found("File")
        text = self._commits[sha].tree[path]
        blob = hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()
        headers = {
            "X-Gitlab-File-Name": path.rsplit("/", 1)[-1],
            "X-Gitlab-File-Path": path,
            "X-Gitlab-Size": str(len(text.encode())),
            "X-Gitlab-Encoding": "base64",
            "X-Gitlab-Blob-Id": blob,
            "X-Gitlab-Commit-Id": sha,
            "X-Gitlab-Last-Commit-Id": sha,
            "X-Gitlab-Ref": ref,
            "X-Gitlab-Content-Sha256": hashlib.sha256(text.encode()).hexdigest(),
        }
        return 200, {}, headers

    def _create_commit(self, req: Request) -> tuple[int, Json]:
        proj = self._writable(req)
        branch = str(req.params.get("branch", ""))
        start_ref = req.params.get("start_branch") or req.params.get("start_sha") or branch
        start = self._resolve(proj, str(start_ref))
        if start is None:
            raise ApiError(400, "You can only create or edit files when you are on a branch")
        tree = dict(self._commits[start].tree)
        actions = req.params.get("actions")
        if not isinstance(actions, list) or not actions:
            raise ApiError(400, "actions is missing", key="error")
        for action in actions:
            path, kind = action.get("file_path", ""), action.get("action")
            if kind == "create" and path in tree:
                raise ApiError(400, "A file with this name already exists")
            if kind in ("update", "delete") and path not in tree:
                raise ApiError(400, "A file with this name doesn't exist")
            if kind in ("create", "update"):
                tree[path] = str(action.get("content", ""))
            elif kind == "delete":
                del tree[path]
            else:
                raise ApiError(400, f"Unknown action {kind!r}")
        sha = self._new_commit((start,), tree, str(req.params.get("commit_message", "")), req.user)
        self._push(proj, branch, sha)
        body = self._commit_json(proj, sha)
        body.update(
            {
                "stats": {"additions": len(actions), "deletions": 0, "total": len(actions)},
                "status": None,
            }
        )
        return 201, body

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

    def _member(self, req: Request) -> Json:
        proj = self._readable(req)
        user = self._users.get(int(req.parts["user"]))
        level = self._level(proj, user) if user else 0
        if user is None or level == 0:
            raise ApiError(404, "404 Not found")  # find_by! in GitLab's members API
        return self._member_json(user, level)

    def _group_member(self, req: Request) -> Json:
        group = self._groups.get(req.parts["group"]) or next(
            (g for g in self._groups.values() if str(g.id) == req.parts["group"]), None
        )
        if group is None or self._group_level(group, req.user) == 0:
            raise _not_found("Group")
        user = self._users.get(int(req.parts["user"]))
        level = self._group_level(group, user) if user else 0
        if user is None or level == 0:
            raise ApiError(404, "404 Not found")  # find_by! in GitLab's members API
        return self._member_json(user, level)

    # -- HTTP -------------------------------------------------------------

    def _routes(self) -> list[tuple[str, re.Pattern[str], Callable[[Request], Any], bool]]:
        p = "/projects/(?P<project>[^/]+)"
        mr = p + r"/merge_requests/(?P<iid>\d+)"
        note = mr + r"/notes/(?P<note>\d+)"
        table: list[tuple[str, str, Callable[[Request], Any], bool]] = [
            ("GET", "/user", self._get_user, False),
            ("GET", "/users", self._list_users, True),
            ("GET", p, self._get_project, False),
            ("POST", p + "/merge_requests", self._create_mr, False),
            ("GET", mr, self._get_mr, False),
            ("GET", mr + "/diffs", self._list_diffs, True),
            ("GET", mr + "/versions", self._list_versions, True),
            ("GET", mr + "/approvals", self._approvals, False),
            ("GET", mr + "/notes", self._list_notes, True),
            ("POST", mr + "/notes", self._create_note, False),
            ("GET", note, self._get_note, False),
            ("PUT", note, self._update_note, False),
            ("POST", note + "/award_emoji", self._create_award, False),
            ("POST", p + "/statuses/(?P<sha>[^/]+)", self._create_status, False),
            ("GET", p + "/repository/commits/(?P<sha>[^/]+)/statuses", self._list_statuses, True),
            ("POST", p + "/repository/commits", self._create_commit, False),
            ("POST", p + "/repository/branches", self._create_branch, False),
            ("HEAD", p + "/repository/files/(?P<path>[^/]+)", self._file_meta, False),
            ("GET", p + r"/members/all/(?P<user>\d+)", self._member, False),
            (
                "GET",
                r"/groups/(?P<group>[^/]+)/members/all/(?P<user>\d+)",
                self._group_member,
                False,
            ),
        ]
        return [(m, re.compile(f"/api/v4{pattern}"), fn, paged) for m, pattern, fn, paged in table]

    def handle(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        """One exchange: (status, headers, body)."""
        split = urlsplit(target)
        readable = f"{method} {unquote(split.path)}"
        with self._lock:
            self.log.append(readable)
            for fault in self._faults:
                if (
                    fault.times > 0
                    and fault.method in (None, method)
                    and fault.path in (None, unquote(split.path))
                ):
                    fault.times -= 1
                    return self._json(fault.status, {"message": fault.message}, fault.headers)
            try:
                return self._dispatch(method, split.path, split.query, headers, body)
            except ApiError as err:
                return self._json(err.status, err.body)

    def _dispatch(
        self, method: str, path: str, query: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        token = headers.get("private-token") or headers.get("authorization", "").removeprefix(
            "Bearer "
        )
        user = next((u for u in self._users.values() if token and u.token == token), None)
        if user is None:
            raise ApiError(401, "401 Unauthorized")
        params: dict[str, Any] = dict(parse_qsl(query))
        if body:
            try:
                params.update(json.loads(body))
            except ValueError:
                params.update(parse_qsl(body.decode()))
        for verb, pattern, handler, paged in self._routes():
            found = pattern.fullmatch(path)
            if found is None or verb != method:
                continue
            parts = {k: unquote(v) for k, v in found.groupdict().items()}
            result = handler(Request(user, parts, params))
            status, extra = 200, {}
            if isinstance(result, tuple):
                status, result, *rest = result
                extra = rest[0] if rest else {}
            if paged:
                result, extra = self._paginate(result, path, params)
            return self._json(status, result, extra, head=method == "HEAD")
        raise ApiError(404, "404 Not Found", key="error")

    def _paginate(
        self, items: list[Json], path: str, params: dict[str, Any]
    ) -> tuple[Any, dict[str, str]]:
        per_page = max(1, min(int(params.get("per_page", 20)), self.per_page_max))
        page = max(1, int(params.get("page", 1)))
        pages = max(1, -(-len(items) // per_page))

        def link(number: int) -> str:
            query = {k: v for k, v in params.items() if not isinstance(v, (list, dict))}
            return f"{self.url}{path}?{urlencode({**query, 'page': number, 'per_page': per_page})}"

        links = [f'<{link(page + 1)}>; rel="next"'] if page < pages else []
        links += [f'<{link(page - 1)}>; rel="prev"'] if page > 1 else []
        links += [f'<{link(1)}>; rel="first"', f'<{link(pages)}>; rel="last"']
        headers = {
            "X-Page": str(page),
            "X-Per-Page": str(per_page),
            "X-Total": str(len(items)),
            "X-Total-Pages": str(pages),
            "X-Next-Page": str(page + 1) if page < pages else "",
            "X-Prev-Page": str(page - 1) if page > 1 else "",
            "Link": ", ".join(links),
        }
        return items[(page - 1) * per_page : page * per_page], headers

    @staticmethod
    def _json(
        status: int, body: object, headers: dict[str, str] | None = None, *, head: bool = False
    ) -> tuple[int, dict[str, str], bytes]:
        data = b"" if head else json.dumps(body).encode()
        return status, {"Content-Type": "application/json", **(headers or {})}, data


def _handler(server: GitLabServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, out_headers, data = server.handle(self.command, self.path, headers, body)
            self.send_response(status)
            for key, value in out_headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _serve  # noqa: N815

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: the server keeps its own log."""

    return Handler
