"""GitLab's side of the Changes port: a branch, one commit of whole files, a merge request.

Owns: creating a branch, committing files with the commits API (one
request for all files; each file is first looked up with a HEAD request so
the action is `create` or `update`, or, for a deleted file, `delete`),
either on top of the branch or, with `parent`, on `parent` with `force`
(GitLab's commits API then sets the branch to the new commit, creating it
when missing), and opening a merge request. Refuses: deleting a file the
start does not have (GitLab would answer 400 "A file with this name
doesn't exist"; the ForgeError says so before any commit is sent), and
retrying any of these creates after a 5xx (GitLab may have done it).
"""

from __future__ import annotations

from collections.abc import Mapping

from gitlab.exceptions import GitlabError

from gitops_bot.core.pr.model import Pull, check_length
from gitops_bot.errors import ForgeError
from gitops_bot.forges.gitlab.client import DESCRIPTION_LIMIT, Client


class ChangesPart(Client):
    def create_branch(self, name: str, *, from_sha: str) -> None:
        what = f"creating the branch {name!r} at {from_sha[:12]} in {self._name}"
        with self._doing(what, retried=False):
            self._project.branches.create({"branch": name, "ref": from_sha}, **self._once)

    def _exists(self, path: str, ref: str, what: str) -> bool:
        with self._doing(what):
            try:
                self._project.files.head(path, ref=ref, **self._retry)
            except GitlabError as err:
                if err.response_code != 404:
                    raise
                return False
        return True

    def commit_files(
        self,
        branch: str,
        *,
        files: Mapping[str, str | None],
        message: str,
        parent: str | None = None,
    ) -> str:
        """One commit with these paths set to these texts (None: deleted); see ports.Changes."""
        if not files:
            raise ValueError("commit_files needs at least one file")
        what = f"committing {len(files)} files to {branch!r} in {self._name}"
        start = parent or branch
        actions: list[dict[str, str]] = []
        for path, text in sorted(files.items()):
            exists = self._exists(path, start, what)
            if text is not None:
                action = "update" if exists else "create"
                actions.append({"action": action, "file_path": path, "content": text})
            elif exists:
                actions.append({"action": "delete", "file_path": path})
            else:
                at = parent[:12] if parent else repr(branch)
                raise ForgeError(f"{what}: deleting {path!r}: {at} has no such file")
        data: dict[str, object] = {"branch": branch, "commit_message": message, "actions": actions}
        if parent is not None:
            data.update(start_sha=parent, force=True)
        with self._doing(what, retried=False):
            commit = self._project.commits.create(data, **self._once)
            return str(commit.id)

    def open_pull(self, *, head: str, base: str, title: str, body: str) -> Pull:
        what = f"opening a merge request from {head!r} into {base!r} in {self._name}"
        check_length(body, limit=DESCRIPTION_LIMIT, forge="GitLab", doing=what, what="description")
        with self._doing(what, retried=False):
            mr = self._project.mergerequests.create(
                {"source_branch": head, "target_branch": base, "title": title, "description": body},
                **self._once,
            )
            return self._pull(mr.asdict())
