"""The small interfaces the use cases need from a forge, named for what the bot does.

Owns: typing.Protocols that the GitHub and GitLab adapters (and the test
fakes) implement structurally. Each is a handful of methods; a port that
grows is split, not proxied. Refuses: any vendor type: every argument and
result is a core value or a builtin.

Every method raises gitops_bot.errors.ForgeError (wrapping the vendor's
exception as its cause) with a message that says what was happening.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from gitops_bot.core.pr.model import (
    Comment,
    Deployment,
    DeploymentState,
    Lock,
    Permission,
    Pull,
    Reaction,
    Review,
    Status,
)


class PullRequests(Protocol):
    def pull(self, number: int) -> Pull: ...

    def changed_files(self, number: int) -> tuple[str, ...]: ...


class Comments(Protocol):
    def comments(self, number: int) -> tuple[Comment, ...]:
        """Every comment of the pull request, oldest first."""
        ...

    def upsert_comment(
        self,
        number: int,
        *,
        marker: str,
        body: str,
        existing: Sequence[Comment] | None = None,
    ) -> Comment:
        """Edit the bot's own comment that contains `marker`, or create it.

        `body` must contain `marker`. Creates at most one comment; does not
        write when the body is already the same. `existing`: the comments
        the caller already listed (comments()); then nothing is listed again.
        """
        ...

    def reply(self, number: int, body: str) -> Comment: ...

    def delete_comment(self, number: int, comment_id: int) -> None:
        """Delete one comment (one already gone is no error)."""
        ...

    def react(self, number: int, comment_id: int, reaction: Reaction) -> bool:
        """Add the bot's reaction; True if this call added it, False if the bot's
        account had it there already. The forge decides atomically, so of two
        runs reacting the same, exactly one gets True (the claim of a command)."""
        ...


class Statuses(Protocol):
    def set_status(self, status: Status) -> None: ...

    def statuses(self, sha: str) -> tuple[Status, ...]:
        """The latest status of each context on the commit."""
        ...


class Reviews(Protocol):
    def reviews(self, number: int) -> tuple[Review, ...]:
        """Every review/approval, oldest first (the latest per user counts)."""
        ...


class Members(Protocol):
    def permission(self, user: str) -> Permission: ...

    def in_team(self, user: str, team: str) -> bool:
        """GitHub `org/team-slug`, GitLab group path."""
        ...


class Changes(Protocol):
    """What promotion needs: a branch with a commit, and a pull request for it."""

    def create_branch(self, name: str, *, from_sha: str) -> None: ...

    def commit_files(
        self,
        branch: str,
        *,
        files: Mapping[str, str | None],
        message: str,
        parent: str | None = None,
    ) -> str:
        """Commit these repository paths with these texts; the new SHA.

        A text of None deletes that path; deleting a path the starting commit
        does not have is refused (ForgeError), as both forges refuse it.
        Without `parent` the commit goes on top of `branch` (a fast-forward).
        With it, the commit's parent is `parent` and `branch` is set to the
        commit whatever it held before (created if missing): a promotion
        branch is rebuilt on the newest base, not piled on.
        """
        ...

    def open_pull(self, *, head: str, base: str, title: str, body: str) -> Pull: ...


class PullQueries(Protocol):
    """Finding, editing and merging pull requests: promotion and the merge-skew guard."""

    def pulls_for_commit(self, sha: str) -> tuple[Pull, ...]:
        """The pull requests that carry `sha`: the merged one that brought it to
        the default branch, or, for a commit not there yet, the open ones."""
        ...

    def open_pulls(self, *, head_prefix: str = "") -> tuple[Pull, ...]:
        """Open pull requests, oldest first, whose head branch starts with `head_prefix`."""
        ...

    def update_pull(self, number: int, *, title: str, body: str) -> Pull: ...

    def close_pull(self, number: int) -> None: ...

    def own_login(self) -> str:
        """The bot's own account: who opens promotion pull requests."""
        ...

    def merge_pull(self, number: int, *, sha: str = "") -> str:
        """Merge now; the merge commit's SHA. `sha`: merge only if the head still is it."""
        ...


class Locks(Protocol):
    """One holder per environment, stored where two concurrent runs cannot both take it."""

    def acquire_lock(self, env: str, *, pull: int, sha: str) -> Lock:
        """The lock now: ours if we took it or already held it, else the other holder's."""
        ...

    def release_lock(self, env: str, *, pull: int) -> bool:
        """Release it if `pull` holds it; False if `pull` does not."""
        ...

    def lock_holder(self, env: str) -> Lock | None: ...


class Deployments(Protocol):
    def record_deployment(
        self,
        env: str,
        sha: str,
        state: DeploymentState,
        description: str,
        url: str = "",
        *,
        ref: str = "",
    ) -> None:
        """Record that `sha` reached `env` (or is on its way): one deployment per
        (env, sha), its state updated on later calls. `ref`: the branch it came
        from (GitLab needs one; default: the default branch)."""
        ...

    def deployments(self, env: str, *, limit: int = 1) -> tuple[Deployment, ...]:
        """The newest `limit` deployments to `env`, newest first, each with its
        latest state and since when it holds (what the puller recorded)."""
        ...


class Forge(
    PullRequests,
    PullQueries,
    Comments,
    Statuses,
    Reviews,
    Members,
    Changes,
    Locks,
    Deployments,
    Protocol,
):
    """Every port, for one repository: what a forge's `connect` returns and
    what the use cases of a change are given."""
