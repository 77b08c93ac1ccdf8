"""GitHub's side of the Changes port: a branch, one commit of whole files, a pull request.

Owns: creating a branch, committing files through the Git database API
(one tree, one commit, one ref update: a fast-forward on top of the branch,
or, with `parent`, a commit on `parent` that the branch is forced to,
created when missing), deleting files in that commit (a tree entry with
`sha: null`), and opening a pull request. Refuses: partial edits (a
promotion writes whole files), and deleting a path the starting commit
does not have: GitHub refuses the whole tree (422 GitRPC::BadObjectState),
and the ForgeError names the paths.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import quote

from github import GithubException, InputGitTreeElement
from github.GitRef import GitRef

from gitops_bot.core.pr.model import Pull, check_length
from gitops_bot.errors import ForgeError
from gitops_bot.forges.github.client import Client, why
from gitops_bot.forges.github.facts import COMMENT_LIMIT

_NO_SUCH_REF = 422  # GitHub: "Reference does not exist"
_BAD_TREE = 422  # GitHub: "GitRPC::BadObjectState", e.g. deleting a path that is not there


class ChangesPart(Client):
    def create_branch(self, name: str, *, from_sha: str) -> None:
        with self._doing(f"creating branch {name} at {from_sha[:12]} in {self._name}"):
            self._repo.create_git_ref(f"refs/heads/{name}", from_sha)

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
        doing = f"committing {len(files)} file(s) to {branch} in {self._name}"
        with self._doing(doing):
            ref, start = None, parent
            if start is None:
                ref = self._repo.get_git_ref(f"heads/{branch}")
                start = ref.object.sha
            base = self._repo.get_git_commit(start)
            entries = [
                InputGitTreeElement(path, "100644", "blob", content=text)
                if text is not None
                else InputGitTreeElement(path, "100644", "blob", sha=None)
                for path, text in sorted(files.items())
            ]
            deleted = sorted(path for path, text in files.items() if text is None)
            try:
                tree = self._repo.create_git_tree(entries, base_tree=base.tree)
            except GithubException as err:
                if err.status != _BAD_TREE or not deleted:
                    raise
                said = why(err, self._max_wait)
                raise ForgeError(
                    self._scrub(
                        f"{doing}: deleting {', '.join(deleted)}: {said} "
                        f"(GitHub refuses to delete a path that {start[:12]} does not have)"
                    )
                ) from err
            commit = self._repo.create_git_commit(message, tree, [base])
            if ref is not None:
                ref.edit(commit.sha)  # a fast-forward only: a concurrent push makes this fail
                return str(commit.sha)
            try:
                self._branch_ref(branch).edit(commit.sha, force=True)
            except GithubException as err:
                if err.status != _NO_SUCH_REF:
                    raise
                self._repo.create_git_ref(f"refs/heads/{branch}", commit.sha)
            return str(commit.sha)

    def _branch_ref(self, branch: str) -> GitRef:
        """The branch's ref, to PATCH without reading it first (PyGithub would GET it)."""
        url = f"{self._repo.url}/git/refs/heads/{quote(branch)}"
        return GitRef(self._repo.requester, url=url, attributes={"ref": f"refs/heads/{branch}"})

    def open_pull(self, *, head: str, base: str, title: str, body: str) -> Pull:
        doing = f"opening a pull request from {head} to {base} in {self._name}"
        check_length(body, limit=COMMENT_LIMIT, forge="GitHub", doing=doing)
        with self._doing(doing):
            created = self._repo.create_pull(base=base, head=head, title=title, body=body)
            return self._to_pull(created)
