"""GitHub's side of the PullRequests and PullQueries ports.

Owns: reading a pull request and its changed files (an error, not a short
list, past GitHub's 3,000), the pull requests a commit belongs to, the
open ones under a head-branch prefix, and editing, closing and merging one
(a merge commit; with `sha`, only if the head still is that commit).
Refuses: to choose what to merge or when (promotion and policy decide).
"""

from __future__ import annotations

from github.GithubObject import NotSet

from gitops_bot.core.pr.model import Pull, check_length
from gitops_bot.errors import ForgeError
from gitops_bot.forges.github.client import FILES_LIMIT, Client
from gitops_bot.forges.github.facts import COMMENT_LIMIT


class PullsPart(Client):
    def pull(self, number: int) -> Pull:
        with self._doing(f"reading pull request {self._name}#{number}"):
            return self._to_pull(self._repo.get_pull(number))

    def changed_files(self, number: int) -> tuple[str, ...]:
        """Paths the pull request touches; a rename counts both its old and new path.

        GitHub lists at most FILES_LIMIT files; a longer list would hide
        affected environments, so it is an error rather than a short answer.
        """
        doing = f"listing the changed files of {self._name}#{number}"
        with self._doing(doing):
            pull = self._repo.get_pull(number)
            paths: list[str] = []
            entries = 0
            for entry in pull.get_files():
                entries += 1
                paths.append(entry.filename)
                if entry.previous_filename:
                    paths.append(entry.previous_filename)
            if entries >= FILES_LIMIT and pull.changed_files > entries:
                raise ForgeError(
                    f"{doing}: it changes {pull.changed_files:,} files and GitHub lists only "
                    f"the first {FILES_LIMIT:,}; split the pull request"
                )
            return tuple(dict.fromkeys(paths))

    def pulls_for_commit(self, sha: str) -> tuple[Pull, ...]:
        """GET .../commits/{sha}/pulls: the merged pull request that brought `sha`
        to the default branch, or the open ones that carry it."""
        with self._doing(f"listing the pull requests of {self._name}@{sha[:12]}"):
            return tuple(self._to_pull(pr) for pr in self._repo.get_commit(sha).get_pulls())

    def open_pulls(self, *, head_prefix: str = "") -> tuple[Pull, ...]:
        """Open pull requests, oldest first; GitHub filters heads only by exact name,
        so the prefix is matched here."""
        with self._doing(f"listing the open pull requests of {self._name}"):
            listed = self._repo.get_pulls(state="open", sort="created", direction="asc")
            return tuple(self._to_pull(pr) for pr in listed if pr.head.ref.startswith(head_prefix))

    def update_pull(self, number: int, *, title: str, body: str) -> Pull:
        doing = f"updating pull request {self._name}#{number}"
        check_length(body, limit=COMMENT_LIMIT, forge="GitHub", doing=doing)
        with self._doing(doing):
            pr = self._repo.get_pull(number)  # lazy: the PATCH answers with it
            pr.edit(title=title, body=body)
            return self._to_pull(pr)

    def close_pull(self, number: int) -> None:
        with self._doing(f"closing pull request {self._name}#{number}"):
            self._repo.get_pull(number).edit(state="closed")

    def merge_pull(self, number: int, *, sha: str = "") -> str:
        """A merge commit (GitHub's `merge` method); its SHA. With `sha`, GitHub
        refuses (409) if the head moved since."""
        doing = f"merging pull request {self._name}#{number}"
        with self._doing(doing):
            result = self._repo.get_pull(number).merge(
                merge_method="merge", sha=sha if sha else NotSet
            )
            if not result.merged:
                raise ForgeError(f"{doing}: GitHub did not merge it: {result.message}")
            return str(result.sha)
