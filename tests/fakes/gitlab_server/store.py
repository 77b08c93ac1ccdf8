"""The GitLab emulator's state, and how tests seed users, projects and commits.

Owns: the records of a small GitLab (users and their tokens, nested groups,
projects with members, branches and what commits they know, commits as
whole trees), queued faults and the request log, the emulator's clock, and
the seeding methods tests call (add_user, add_group, add_member,
add_project, commit, mirror, attach_git, create_branch); pushing to a
branch adds a diff version and a system note to its open merge requests,
as GitLab does. In a project that mirrors a real git repository
(attach_git), the commits the repository has carry their real files.
Refuses: merge requests (store_mrs.py) and HTTP.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.fakes import realgit
from tests.fakes.gitlab_server.state import (
    ApiError,
    Commit,
    CommitStatus,
    Fault,
    Group,
    Label,
    MergeRequest,
    Project,
    User,
    not_found,
)


@dataclass
class Meeting:
    line: str
    barrier: threading.Barrier
    left: int  # requests still to be held


class Store:
    """The state; GitLabServer is this plus merge requests, shapes, endpoints and HTTP."""

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
        self._meetings: list[Meeting] = []
        self._environments: dict[tuple[int, str], int] = {}  # (project id, name) -> id
        self.routes_hit: set[str] = set()  # "METHOD pattern" of every endpoint that answered

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

    def meet(self, parties: int, line: str, *, timeout: float = 60.0) -> None:
        """Hold the next `parties` requests whose readable line is `line` ("GET
        /api/v4/projects/acme/shop/merge_requests/1/notes") until all have come,
        then answer them: two clients that race are made to race for sure."""
        with self._lock:
            self._meetings.append(
                Meeting(line, threading.Barrier(parties, timeout=timeout), parties)
            )

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

    def add_group(self, full_path: str, *, visibility: str | None = None) -> Group:
        """A group (and its parents, private); `visibility` is private (GitLab's
        default for a new group), internal or public; given, it changes an existing group's."""
        if visibility not in (None, "private", "internal", "public"):
            raise ValueError(f"visibility {visibility!r}: private, internal or public")
        with self._lock:
            if full_path in self._groups:
                if visibility is not None:
                    self._groups[full_path].visibility = visibility
                return self._groups[full_path]
            parent = self.add_group(full_path.rsplit("/", 1)[0]) if "/" in full_path else None
            group = Group(next(self._ids), full_path, parent, visibility=visibility or "private")
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
        raise not_found("Project")

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
        own git checkout has. Its files are the real ones when the project is
        attached (attach_git), else the default branch's."""
        with self._lock:
            proj = self.project(project)
            base = self._commits[proj.branches[proj.default_branch]]
            if sha not in self._commits:
                parents = (parent,) if parent else ()
                git_dir = proj.git_dir
                real = git_dir is not None and bool(realgit.known(git_dir, [sha]))
                tree = self.real_files(git_dir, sha) if real and git_dir else dict(base.tree)
                self._commits[sha] = Commit(
                    sha, parents, f"mirrored {sha[:7]}", tree, base.author, self._tick()
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

    def parents(self, sha: str) -> tuple[str, ...]:
        """The parents of a commit the emulator knows."""
        with self._lock:
            return self._commits[sha].parents

    def attach_git(self, project: str, git_dir: Path) -> None:
        """Mirror a real (bare) git repository: the commits it has get their real
        files here; commits made through the API on its commits, the branches
        the API sets to its commits, and merges of its commits are made there
        too, with real SHAs, so a puller fetching from it sees them."""
        with self._lock:
            self.project(project).git_dir = git_dir
            for sha in realgit.known(git_dir, self._commits):
                self._commits[sha].tree = self.real_files(git_dir, sha)

    @staticmethod
    def real_files(git_dir: Path, sha: str) -> dict[str, str]:
        """A commit's files in the real repository: path -> text."""
        return {path: text for path, (_, text) in realgit.files(git_dir, sha).items()}
