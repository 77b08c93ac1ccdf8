"""Which reviews count as approvals of one environment's render.

Owns: the tally of a pull request's reviews for one environment (`tally`):
the latest decision of each reviewer wins, the author's approval never
counts, neither does one from a user without write permission, and an
approval counts only if the environment's render at the approved commit is
the render at the head; and who is an owner (`is_owner`). Refuses: fetching
reviews, permissions or team memberships (the caller does, for the users and
teams core.policy.needed_lookups names).

Why approvals are bound to renders, not commits: a push that leaves prod's
render unchanged (a README, another environment's overlay) must not make
prod's reviewers approve again, and a push that changes it must, even if
the file they looked at did not change (a shared base, a chart default).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from gitops_bot.core.policy import codeowners
from gitops_bot.core.pr.model import Permission, Review, ReviewState


def login(user: str) -> str:
    """One spelling per account: forges compare logins without case."""
    return user.removeprefix("@").lower()


def show(user: str) -> str:
    return f"@{user.removeprefix('@')}"


@dataclass(frozen=True)
class Tally:
    counted: tuple[str, ...] = ()  # logins whose approval counts, in review order
    changes_requested: tuple[str, ...] = ()  # writers whose latest review asks for changes
    notes: tuple[str, ...] = ()  # approvals that do not count, and why


def permission_of(user: str, permissions: Mapping[str, Permission]) -> Permission:
    wanted = login(user)
    for name, permission in permissions.items():
        if login(name) == wanted:
            return permission
    return Permission.NONE


def is_owner(user: str, owners: Iterable[str], memberships: Mapping[tuple[str, str], bool]) -> bool:
    """Whether `user` is one of `owners` (a user, or a member of a team or group).
    Team membership is what the caller looked up; e-mail owners never match."""
    wanted = login(user)
    for owner in owners:
        if codeowners.is_team(owner):
            if any(
                login(u) == wanted and t.lower() == owner.lower() and member
                for (u, t), member in memberships.items()
            ):
                return True
        elif owner.startswith("@") and login(owner) == wanted:
            return True
    return False


def _ordered(reviews: Iterable[Review]) -> list[Review]:
    # ISO 8601 times in one zone sort as text; reviews without a time keep
    # the forge's order (which is chronological on both forges).
    indexed = list(enumerate(reviews))
    indexed.sort(key=lambda pair: (pair[1].submitted_at or "", pair[0]))
    return [review for _, review in indexed]


def tally(
    reviews: Iterable[Review],
    *,
    env: str,
    author: str,
    head_sha: str,
    render_hash: str | None,
    render_hashes: Mapping[str, str],
    permissions: Mapping[str, Permission],
) -> Tally:
    """The approvals of `env` that count at the head whose render is `render_hash`.

    Per reviewer, the approvals since their last "changes requested" or
    dismissal are what they stand by; one of them on a commit whose render
    of `env` equals the head's is enough. A comment-only review changes
    nothing, as on GitHub."""
    standing: dict[str, list[Review]] = {}
    blocked: dict[str, bool] = {}
    for review in _ordered(reviews):
        who = login(review.user)
        if review.state is ReviewState.APPROVED:
            standing.setdefault(who, []).append(review)
            blocked[who] = False
        elif review.state in (ReviewState.CHANGES_REQUESTED, ReviewState.DISMISSED):
            standing[who] = []
            blocked[who] = review.state is ReviewState.CHANGES_REQUESTED

    def hash_at(sha: str) -> str | None:
        return render_hash if sha == head_sha else render_hashes.get(sha)

    counted, notes = [], []
    for who, approvals in standing.items():
        if not approvals:
            continue
        permission = permission_of(who, permissions)
        if who == login(author):
            notes.append(
                f"approval by {show(who)} does not count: authors cannot approve their own change"
            )
        elif permission < Permission.WRITE:
            notes.append(
                f"approval by {show(who)} does not count: {show(who)} has "
                f"{permission.name.lower()} permission, write is needed"
            )
        elif render_hash is None:
            # A failed render is not an empty one: no approval can be bound to it.
            notes.append(
                f"approval by {show(who)} cannot be checked: {env} did not render at this head"
            )
        elif any(hash_at(r.commit_sha) == render_hash for r in approvals):
            counted.append(who)
        else:
            notes.append(
                f"approval by {show(who)} was for a different render of {env} "
                f"(at {approvals[-1].commit_sha[:7]}); it needs a new approval"
            )
    changes_requested = tuple(
        who
        for who, is_blocked in blocked.items()
        if is_blocked and permission_of(who, permissions) >= Permission.WRITE
    )
    return Tally(counted=tuple(counted), changes_requested=changes_requested, notes=tuple(notes))
