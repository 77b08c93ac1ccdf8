"""The GitLab emulator's merge requests, notes, approvals and merges.

Owns: opening merge requests (GitLab's 404 for a missing branch and 409
for a second open one), their diff versions, notes (GitLab's limit of
1,000,000 characters), approvals, closing, and merging: a merge commit
(parents: the target's head, then the source's), made with git itself in
the mirrored bare repository when there is one (tests.fakes.merges), so
its SHA and files are real. Refuses: squash, fast-forward-only projects, merge trains
and pipelines.
"""

from __future__ import annotations

from collections.abc import Iterable

from tests.fakes import merges
from tests.fakes.gitlab_server.state import (
    DESCRIPTION_LIMIT,
    NOTE_LIMIT,
    ApiError,
    Approval,
    Commit,
    CommitStatus,
    MergeRequest,
    Note,
    Project,
    User,
    Version,
    not_found,
)


class MergeRequests:
    """A part of GitLabServer (it uses the Store's records and lock)."""

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
        raise not_found("Merge Request")

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

    def merge(self, mr: MergeRequest, user: User, *, sha: str | None, message: str | None) -> str:
        """Merge `mr` as PUT .../merge does; the merge commit's SHA."""
        if mr.state != "opened":
            raise ApiError(405, "405 Method Not Allowed")
        head = mr.source.branches[mr.source_branch]
        if sha and sha != head:
            raise ApiError(409, f"SHA does not match HEAD of source branch: {head}")
        target = mr.project
        base = target.branches[mr.target_branch]
        text = message or (
            f"Merge branch '{mr.source_branch}' into '{mr.target_branch}'\n\n{mr.title}\n\n"
            f"See merge request {target.path}!{mr.iid}"
        )
        git_dir = target.git_dir
        if git_dir is not None and merges.has(git_dir, base) and merges.has(git_dir, head):
            made = merges.git_merge(git_dir, mr.target_branch, base=base, head=head, message=text)
            if made is None:
                raise ApiError(406, "Branch cannot be merged")
            tree = self.real_files(git_dir, made)
            self._commits[made] = Commit(made, (base, head), text, tree, user, self._tick())
        else:
            fork = self._merge_base(base, head)
            merged = merges.merge_trees(
                self._commits[fork].tree, self._commits[base].tree, self._commits[head].tree
            )
            if merged is None:
                raise ApiError(406, "Branch cannot be merged")
            made = self._new_commit((base, head), merged, text, user)
        self._push(target, mr.target_branch, made)
        mr.state, mr.merged_at, mr.merge_commit_sha = "merged", self._tick(), made
        mr.updated = mr.merged_at
        return made
