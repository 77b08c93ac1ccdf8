"""GitHub's side of the Reviews and Members ports: who approved what, and who may.

Owns: submitted reviews with the commit each reviewer saw, a user's role on
the repository (custom roles count as their base permission) and active
team membership. Refuses: deciding whether an approval counts (policy's).
"""

from __future__ import annotations

from github import GithubException

from gitops_bot.core.pr.model import Permission, Review, ReviewState
from gitops_bot.errors import ForgeError
from gitops_bot.forges.github.client import Client, when

_ROLES = {  # role_name first: it tells maintain and triage apart
    "admin": Permission.ADMIN,
    "maintain": Permission.MAINTAIN,
    "write": Permission.WRITE,
    "triage": Permission.TRIAGE,
    "read": Permission.READ,
    "none": Permission.NONE,
}
_REVIEW_STATES = {
    "APPROVED": ReviewState.APPROVED,
    "CHANGES_REQUESTED": ReviewState.CHANGES_REQUESTED,
    "COMMENTED": ReviewState.COMMENTED,
    "DISMISSED": ReviewState.DISMISSED,
}
_NOT_FOUND = 404
_REFUSED = 403  # "Resource not accessible by integration": the token lacks a permission


def _message(err: GithubException) -> str:
    return str(err.data.get("message") or "") if isinstance(err.data, dict) else ""


def _refused(err: GithubException) -> bool:
    """A 403 for a permission the token lacks (not a rate limit, also a 403)."""
    return err.status == _REFUSED and "rate limit" not in _message(err).lower()


class PeoplePart(Client):
    def reviews(self, number: int) -> tuple[Review, ...]:
        """Submitted reviews, oldest first; a pending (unsubmitted) review is left out."""
        with self._doing(f"listing the reviews of {self._name}#{number}"):
            return tuple(
                Review(
                    user=review.user.login if review.user is not None else "ghost",
                    state=_REVIEW_STATES[review.state],
                    commit_sha=review.commit_id or "",
                    submitted_at=when(review.submitted_at),
                )
                for review in self._repo.get_pull(number).get_reviews()
                if review.state in _REVIEW_STATES
            )

    def permission(self, user: str) -> Permission:
        """The user's role; a custom role counts as the base permission GitHub reports."""
        with self._doing(f"reading the permission of {user} on {self._name}"):
            try:
                role = self._repo.get_collaborator_role_name(user)
                if role in _ROLES:
                    return _ROLES[role]
                return _ROLES.get(self._repo.get_collaborator_permission(user), Permission.NONE)
            except GithubException as err:
                if err.status == _NOT_FOUND:  # no such user: no permission
                    return Permission.NONE
                if _refused(err):
                    raise ForgeError(
                        f"reading the permission of {user} on {self._name}: GitHub answered "
                        f"403: {_message(err)}; "
                        "the token needs read access to the repository's collaborators "
                        "(Metadata: read)"
                    ) from err
                raise

    def in_team(self, user: str, team: str) -> bool:
        """An active member of `org/team-slug`; an invitation still pending does not count.

        A 403 (a token without the organization's Members permission, such as
        Actions' GITHUB_TOKEN) is a ForgeError that says what the token needs,
        never "not a member". A 404 is "not a member": GitHub gives the same
        answer for a team that does not exist."""
        doing = f"checking whether {user} is in team {team}"
        org, _, slug = team.partition("/")
        if not org or not slug or "/" in slug:
            raise ForgeError(f"{doing}: a GitHub team is written org/team-slug")
        with self._doing(doing):
            try:
                found = self._gh.get_organization(org).get_team_by_slug(slug)
                return found.get_team_membership(user).state == "active"
            except GithubException as err:
                if err.status == _NOT_FOUND:  # not a member, or no such team
                    return False
                if _refused(err):
                    raise ForgeError(
                        f"reading the members of team {team}: GitHub answered 403: "
                        f"{_message(err)}; "
                        "the token needs the organization permission Members: read (a GitHub "
                        "App) or read:org (a personal token); GITHUB_TOKEN has neither"
                    ) from err
                raise
