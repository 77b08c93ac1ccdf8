"""GitLab emulator endpoints about who: users, the project, access and membership.

Owns: GET /user and /users, GET a project, members/all of a project and of
a group (the highest of the direct and every inherited membership, as
GitLab computes it; a group the caller may not see, by its visibility and
the caller's memberships, is a 404 "Group Not Found" like one that does not
exist), and the access checks every endpoint uses (a project
you cannot read is a 404, writing needs Developer). Refuses: finer
permissions, protected branches and tags.
"""

from __future__ import annotations

from tests.fakes.gitlab_server.state import (
    DEVELOPER,
    GUEST,
    ApiError,
    Group,
    Json,
    MergeRequest,
    Project,
    Request,
    User,
    not_found,
)


class PeopleEndpoints:
    """A part of GitLabServer (it uses the Store's records and Shapes)."""

    def _level(self, proj: Project, user: User) -> int:
        """members/all: the highest of the direct and every inherited membership."""
        levels = [proj.members.get(user.id, 0)]
        group = proj.namespace
        while group is not None:
            levels.append(group.members.get(user.id, 0))
            group = group.parent
        return max(levels)

    def _group_level(self, group: Group, user: User) -> int:
        levels = [0]
        current: Group | None = group
        while current is not None:
            levels.append(current.members.get(user.id, 0))
            current = current.parent
        return max(levels)

    def _sees_group(self, group: Group, user: User) -> bool:
        """GitLab's read_group: a public group to anyone, an internal one to any
        signed-in user, a private one to its members (inherited from groups above
        too), to members of a group below it, and to members of a project in it or
        below it (GroupPolicy's has_projects). Anyone else gets 404 Group Not Found,
        as for a group that does not exist."""
        if group.visibility == "public" or (group.visibility == "internal" and user.id):
            return True
        if self._group_level(group, user) > 0:
            return True
        below = [g for g in self._groups.values() if self._within(g, group)]
        if any(user.id in g.members for g in below):
            return True
        return any(
            user.id in p.members
            for p in self._projects.values()
            if p.namespace is not None and self._within(p.namespace, group)
        )

    @staticmethod
    def _within(group: Group, ancestor: Group) -> bool:
        current: Group | None = group
        while current is not None:
            if current is ancestor:
                return True
            current = current.parent
        return False

    def _readable(self, req: Request) -> Project:
        proj = self.project(req.parts["project"])
        if self._level(proj, req.user) < GUEST:
            raise not_found("Project")
        return proj

    def _mr(self, req: Request) -> MergeRequest:
        proj = self._readable(req)
        return self.merge_request(proj.path, int(req.parts["iid"]))

    def _writable(self, req: Request) -> Project:
        proj = self._readable(req)
        if self._level(proj, req.user) < DEVELOPER:
            raise ApiError(403, "403 Forbidden")
        return proj

    def _get_user(self, req: Request) -> Json:
        return self._current_user(req.user)

    def _list_users(self, req: Request) -> list[Json]:
        wanted = req.params.get("username")
        return [
            self._user_basic(u)
            for u in self._users.values()
            if wanted is None or u.username.lower() == str(wanted).lower()
        ]

    def _get_project(self, req: Request) -> Json:
        return self._project_json(self._readable(req))

    def _member(self, req: Request) -> Json:
        proj = self._readable(req)
        user = self._users.get(int(req.parts["user"]))
        level = self._level(proj, user) if user else 0
        if user is None or level == 0:
            raise ApiError(404, "404 Not found")  # find_by! in GitLab's members API
        return self._member_json(user, level)

    def _group_member(self, req: Request) -> Json:
        group = self._groups.get(req.parts["group"]) or next(
            (g for g in self._groups.values() if str(g.id) == req.parts["group"]), None
        )
        if group is None or not self._sees_group(group, req.user):
            raise not_found("Group")
        user = self._users.get(int(req.parts["user"]))
        level = self._group_level(group, user) if user else 0
        if user is None or level == 0:
            raise ApiError(404, "404 Not found")  # find_by! in GitLab's members API
        return self._member_json(user, level)
