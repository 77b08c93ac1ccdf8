"""GitLab emulator endpoints of merge request notes and their award emoji.

Owns: listing notes (activity_filter, order and sort as GitLab takes
them), reading, creating and editing a note (GitLab's 403 for someone
else's or a system note, 400 past 1,000,000 characters), and awarding an
emoji (GitLab's 404 "User has already been taken" for a second one).
Refuses: discussions, threads and resolvable notes.
"""

from __future__ import annotations

from tests.fakes.gitlab_server.state import (
    NOTE_LIMIT,
    ApiError,
    Award,
    Json,
    MergeRequest,
    Note,
    Request,
    not_found,
)


class NoteEndpoints:
    """A part of GitLabServer (it uses the Store's records and Shapes)."""

    def _list_notes(self, req: Request) -> list[Json]:
        mr = self._mr(req)
        notes = list(mr.notes)
        which = req.params.get("activity_filter", "all_notes")
        if which == "only_comments":
            notes = [n for n in notes if not n.system]
        elif which == "only_activity":
            notes = [n for n in notes if n.system]
        key = "updated" if req.params.get("order_by") == "updated_at" else "created"
        notes.sort(
            key=lambda n: (getattr(n, key), n.id), reverse=req.params.get("sort", "desc") == "desc"
        )
        return [self._note_json(mr, n) for n in notes]

    def _find_note(self, mr: MergeRequest, req: Request) -> Note:
        for note in mr.notes:
            if note.id == int(req.parts["note"]):
                return note
        raise ApiError(404, "404 Not found")

    def _get_note(self, req: Request) -> Json:
        mr = self._mr(req)
        return self._note_json(mr, self._find_note(mr, req))

    def _body(self, req: Request) -> str:
        body = req.params.get("body")
        if not isinstance(body, str) or not body:
            raise ApiError(400, "body is missing", key="error")
        return body

    def _create_note(self, req: Request) -> tuple[int, Json]:
        mr = self._mr(req)
        return 201, self._note_json(mr, self._note(mr, req.user, self._body(req)))

    def _update_note(self, req: Request) -> Json:
        mr = self._mr(req)
        note = self._find_note(mr, req)
        if note.author is not req.user or note.system:
            raise ApiError(403, "403 Forbidden")
        body = self._body(req)
        if len(body) > NOTE_LIMIT:
            raise ApiError(400, 'Note {:note=>["is too long (maximum is 1000000 characters)"]}')
        note.body, note.updated = body, self._tick()
        return self._note_json(mr, note)

    def _delete_note(self, req: Request) -> tuple[int, None]:
        """Its author (or a Maintainer) may delete a note; a system note no one may."""
        mr = self._mr(req)
        note = self._find_note(mr, req)
        if note.system or (note.author is not req.user and self._level(mr.project, req.user) < 40):
            raise ApiError(403, "403 Forbidden")
        mr.notes.remove(note)
        return 204, None

    def _create_award(self, req: Request) -> tuple[int, Json]:
        note = self._find_note(self._mr(req), req)
        name = str(req.params.get("name", ""))
        if any(a.name == name and a.user is req.user for a in note.awards):
            raise not_found('Award Emoji ["User has already been taken"]')
        award = Award(next(self._ids), name, req.user, self._tick())
        note.awards.append(award)
        return 201, self._award_json(note, award)
