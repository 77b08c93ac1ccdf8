"""GitLab's side of the Reviews and Members ports: approvals, access levels, groups.

Owns: approvals as reviews bound to the head GitLab showed when each was
given (the newest diff version before `approved_at`; GitLab does not
record it, docs/forges-gitlab.md says why this is the right head), a
user's access level through members/all (inherited memberships count),
and group membership. Refuses: deciding whether an approval counts, and
reading "no such group" as "not a member" (a typo in a policy's owners
must not quietly deny everyone).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from gitlab.exceptions import GitlabError

from gitops_bot.core.pr.model import Permission, Review, ReviewState
from gitops_bot.forges.gitlab.client import Client, text_of, when

_ACCESS = ((50, Permission.ADMIN), (40, Permission.MAINTAIN), (30, Permission.WRITE))
_GUEST = 10


def _review(entry: Mapping[str, Any], versions: list[tuple[datetime, str]]) -> Review:
    at = str(entry.get("approved_at") or "")
    sha = ""
    if at:
        earlier = [(moment, head) for moment, head in versions if moment < when(at)]
        if earlier and not any(moment == when(at) for moment, _ in versions):
            sha = max(earlier)[1]
    return Review(
        user=str(entry["user"]["username"]),
        state=ReviewState.APPROVED,
        commit_sha=sha,
        submitted_at=at,
    )


class PeoplePart(Client):
    def reviews(self, number: int) -> tuple[Review, ...]:
        """Current approvals, each bound to the head GitLab showed when it was given.

        GitLab does not record the commit an approval was for; the head is the
        newest diff version created before the approval (docs/forges-gitlab.md).
        """
        what = f"reading the approvals of {self._ref(number)}"
        with self._doing(what, needs="the token needs read_api"):
            mr = self._mr(number)
            approved_by = mr.approvals.get(**self._retry).approved_by
            if not approved_by:
                return ()
            versions = [
                (when(v.created_at), str(v.head_commit_sha))
                for v in mr.diffs.list(iterator=True, **self._retry)
            ]
            reviews = [_review(entry, versions) for entry in approved_by]
            return tuple(sorted(reviews, key=lambda r: r.submitted_at))

    def _user_id(self, user: str, what: str) -> int | None:
        if user not in self._user_ids:
            with self._doing(what):
                found = self._gl.users.list(username=user, get_all=False, **self._retry)
                ids = [int(u.id) for u in found if str(u.username).lower() == user.lower()]
            self._user_ids[user] = ids[0] if ids else None
        return self._user_ids[user]

    def _membership(self, manager: Any, user: str, what: str, needs: str) -> int:
        """The user's access level in `manager` (members/all: inherited too), 0 for none."""
        user_id = self._user_id(user, what)
        if user_id is None:
            return 0
        with self._doing(what, needs=needs):
            try:
                member = manager.get(user_id, **self._retry).asdict()
            except GitlabError as err:
                # "404 Not found" is no member; "404 Group Not Found" is a wrong path.
                wrong_path = any(
                    f"{kind} Not Found" in text_of(err) for kind in ("Group", "Project")
                )
                if err.response_code != 404 or wrong_path:
                    raise
                return 0
        if member.get("state", "active") != "active":
            return 0
        if member.get("membership_state", "active") != "active":
            return 0
        return int(member["access_level"])

    def permission(self, user: str) -> Permission:
        what = f"reading {user}'s access to {self._name}"
        needs = f"the token needs read_api and membership of {self._name}"
        level = self._membership(self._project.members_all, user, what, needs)
        for floor, permission in _ACCESS:
            if level >= floor:
                return permission
        return Permission.READ if level >= _GUEST else Permission.NONE

    def in_team(self, user: str, team: str) -> bool:
        """404 Group Not Found (a private group the token cannot see, or no such
        group) is a ForgeError that says what the token needs, never "not a member"."""
        what = f"reading the members of group {team} (is {user} one?)"
        # GitLab hides a private group from a token that is no member of it (nor of
        # a group above it, a group below it or a project in it); a project access
        # token is a member of its project only.
        needs = f"the token needs read_api and to see {team} (membership of it or a group above it)"
        group = self._gl.groups.get(team, lazy=True)
        return self._membership(group.members_all, user, what, needs) >= _GUEST
