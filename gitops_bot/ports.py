"""The small interfaces the use cases need from a forge, named for what the bot does.

Owns: typing.Protocols that the GitHub and GitLab adapters (and the test
fakes) implement structurally. Each is a handful of methods; a port that
grows is split, not proxied. Refuses: any vendor type: every argument and
result is a core value or a builtin.

Every method raises gitops_bot.errors.ForgeError (wrapping the vendor's
exception as its cause) with a message that says what was happening.
"""

from __future__ import annotations

from typing import Protocol

from gitops_bot.core.forge import Comment, Permission, Pull, Reaction, Review, Status


class PullRequests(Protocol):
    def pull(self, number: int) -> Pull: ...

    def changed_files(self, number: int) -> tuple[str, ...]: ...


class Comments(Protocol):
    def comments(self, number: int) -> tuple[Comment, ...]:
        """Every comment of the pull request, oldest first."""
        ...

    def upsert_comment(self, number: int, *, marker: str, body: str) -> Comment:
        """Edit the bot's own comment that contains `marker`, or create it.

        `body` must contain `marker`. Creates at most one comment; does not
        write when the body is already the same.
        """
        ...

    def reply(self, number: int, body: str) -> Comment: ...

    def react(self, number: int, comment_id: int, reaction: Reaction) -> None: ...


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

    def commit_files(self, branch: str, *, files: dict[str, str], message: str) -> str:
        """Commit these repository paths with these texts on top of `branch`; the new SHA."""
        ...

    def open_pull(self, *, head: str, base: str, title: str, body: str) -> Pull: ...
