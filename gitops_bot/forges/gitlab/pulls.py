"""GitLab's side of the PullRequests and PullQueries ports (merge requests).

Owns: reading a merge request and its changed files (an error, not a
partial list, past the instance's diff limits), the merge requests a
commit belongs to, the open ones under a source-branch prefix, and
editing, closing and merging one (with `sha`, GitLab refuses with 409 if
the head moved). Merge requests GitLab lists carry no diff_refs, so a
listed Pull has no base_sha; pull(n) has it. Refuses: to choose what to
merge or when, and to retry a merge after a 5xx (it may have happened).
"""

from __future__ import annotations

from gitops_bot.core.pr.model import Pull, check_length
from gitops_bot.errors import ForgeError
from gitops_bot.forges.gitlab.client import DESCRIPTION_LIMIT, PER_PAGE, Client


class PullsPart(Client):
    def pull(self, number: int) -> Pull:
        with self._doing(f"reading merge request {self._ref(number)}"):
            mr = self._project.mergerequests.get(number, **self._retry)
            return self._pull(mr.asdict())

    def changed_files(self, number: int) -> tuple[str, ...]:
        """Every path the merge request touches: both paths of a rename."""
        what = f"listing the changed files of {self._ref(number)}"
        with self._doing(what):
            count = self._project.mergerequests.get(number, **self._retry).changes_count
            if isinstance(count, str) and count.endswith("+"):
                raise ForgeError(
                    f"{what}: it changes more files than GitLab lists ({count}); "
                    "split the merge request or raise the instance's diff limits"
                )
            path = f"{self._project.mergerequests.path}/{number}/diffs"
            paths: dict[str, None] = {}
            for diff in self._gl.http_list(path, iterator=True, per_page=PER_PAGE, **self._retry):
                paths[str(diff["old_path"])] = None
                paths[str(diff["new_path"])] = None
            return tuple(paths)

    def pulls_for_commit(self, sha: str) -> tuple[Pull, ...]:
        """GET .../repository/commits/:sha/merge_requests, oldest first."""
        with self._doing(f"listing the merge requests of {sha[:12]} in {self._name}"):
            path = f"{self._project.commits.path}/{sha}/merge_requests"
            listed = self._gl.http_list(path, iterator=True, per_page=PER_PAGE, **self._retry)
            pulls = [self._pull(attrs) for attrs in listed]
            return tuple(sorted(pulls, key=lambda pull: pull.number))

    def open_pulls(self, *, head_prefix: str = "") -> tuple[Pull, ...]:
        """Open merge requests into this project, oldest first; the prefix is matched
        here (GitLab filters source branches only by exact name)."""
        with self._doing(f"listing the open merge requests of {self._name}"):
            listed = self._project.mergerequests.list(
                state="opened", order_by="created_at", sort="asc", iterator=True, **self._retry
            )
            pulls = (self._pull(mr.asdict()) for mr in listed)
            return tuple(pull for pull in pulls if pull.head_ref.startswith(head_prefix))

    def update_pull(self, number: int, *, title: str, body: str) -> Pull:
        what = f"updating merge request {self._ref(number)}"
        check_length(body, limit=DESCRIPTION_LIMIT, forge="GitLab", doing=what, what="description")
        with self._doing(what):
            updated = self._project.mergerequests.update(
                number, {"title": title, "description": body}, **self._retry
            )
            return self._pull(updated)

    def close_pull(self, number: int) -> None:
        with self._doing(f"closing merge request {self._ref(number)}"):
            self._project.mergerequests.update(number, {"state_event": "close"}, **self._retry)

    def merge_pull(self, number: int, *, sha: str = "") -> str:
        """PUT .../merge (a merge commit, or what the project's merge method makes)."""
        what = f"merging merge request {self._ref(number)}"
        extra = {"sha": sha} if sha else {}
        with self._doing(what, retried=False):
            merged = self._mr(number).merge(**extra, **self._once)
            pull = self._pull(merged)
        if pull.state != "merged" or not pull.merged_sha:
            reason = merged.get("merge_error") or f"it is {merged.get('state')}"
            raise ForgeError(f"{what}: GitLab did not merge it: {reason}")
        return pull.merged_sha
