"""GitLab's side of the Comments port: the sticky note, replies and award emoji.

Owns: listing a merge request's notes (oldest first, system notes left
out), the calls of the sticky note (forges.sticky finds the bot's own by
its hidden marker, then edits it in place or creates it once: with
`existing`, unchanged costs no request, changed one PUT, new one POST),
replies, and award emoji for reactions, each telling whether it was new
(the atomic claim of a command, app.chatops).
Refuses: to edit a note someone else wrote, to send a note over
COMMENT_LIMIT, and to retry a create after a 5xx.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from gitlab.exceptions import GitlabError

from gitops_bot.core.pr.model import Comment, Reaction, check_length
from gitops_bot.forges import sticky
from gitops_bot.forges.gitlab.client import Client, text_of
from gitops_bot.forges.gitlab.facts import COMMENT_LIMIT

_EMOJI = {
    Reaction.SEEN: "eyes",
    Reaction.DONE: "thumbsup",
    Reaction.REFUSED: "thumbsdown",
    Reaction.CONFUSED: "confused",
}


def _comment(attrs: Mapping[str, Any], me: int) -> Comment:
    return Comment(
        id=int(attrs["id"]),
        author=str(attrs["author"]["username"]),
        body=str(attrs["body"]),
        created_at=str(attrs["created_at"]),
        updated_at=str(attrs.get("updated_at") or ""),
        is_bot=attrs["author"]["id"] == me,
    )


class CommentsPart(Client):
    def _notes(self, number: int) -> Iterator[Any]:
        """The merge request's notes, oldest first, without system notes, page by page."""
        notes = self._mr(number).notes.list(
            iterator=True,
            sort="asc",
            order_by="created_at",
            activity_filter="only_comments",
            **self._retry,
        )
        return (note for note in notes if not note.system)

    def comments(self, number: int) -> tuple[Comment, ...]:
        what = f"reading the notes of {self._ref(number)}"
        me, _ = self._whoami(what)
        with self._doing(what):
            return tuple(_comment(note.asdict(), me) for note in self._notes(number))

    def upsert_comment(
        self,
        number: int,
        *,
        marker: str,
        body: str,
        existing: Sequence[Comment] | None = None,
    ) -> Comment:
        if marker not in body:
            raise ValueError("the comment body must contain its marker")
        what = f"updating the bot's note on {self._ref(number)}"
        check_length(body, limit=COMMENT_LIMIT, forge="GitLab", doing=what, what="note")
        return sticky.upsert(
            marker,
            body,
            existing=existing,
            listed=lambda: self._listed(number, what),
            create=lambda text: self._create(number, text, what),
            edit=lambda mine, text: self._edit(number, mine, text, what),
        )

    def _listed(self, number: int, what: str) -> Iterator[Comment]:
        """The notes, page by page as they are read (the bot's user first, once)."""
        me, _ = self._whoami(what)
        with self._doing(what):
            for note in self._notes(number):
                yield _comment(note.asdict(), me)

    def _edit(self, number: int, mine: Comment, body: str, what: str) -> Comment:
        with self._doing(what):
            edited = self._mr(number).notes.update(mine.id, {"body": body}, **self._retry)
            return _comment(edited, edited["author"]["id"])

    def _create(self, number: int, body: str, what: str) -> Comment:
        """POST a note; it is the bot's own (whoever the token is)."""
        with self._doing(what, retried=False):
            created = self._mr(number).notes.create({"body": body}, **self._once).asdict()
            return _comment(created, created["author"]["id"])

    def reply(self, number: int, body: str) -> Comment:
        what = f"replying on {self._ref(number)}"
        check_length(body, limit=COMMENT_LIMIT, forge="GitLab", doing=what, what="note")
        return self._create(number, body, what)

    def delete_comment(self, number: int, comment_id: int) -> None:
        """DELETE one note; one that is gone already is no error."""
        with self._doing(f"deleting note {comment_id} on {self._ref(number)}"):
            try:
                self._mr(number).notes.delete(comment_id, **self._retry)
            except GitlabError as err:
                if err.response_code != 404:
                    raise

    def react(self, number: int, comment_id: int, reaction: Reaction) -> bool:
        """POST the award; GitLab answers a second award of the same emoji by the
        same user with 404 "... has already been taken": False then."""
        name = _EMOJI[reaction]
        note = self._mr(number).notes.get(comment_id, lazy=True)
        with self._doing(
            f"awarding :{name}: to note {comment_id} on {self._ref(number)}", retried=False
        ):
            try:
                note.awardemojis.create({"name": name}, **self._once)
            except GitlabError as err:
                # A second award of the same emoji is a 404 "... has already been taken".
                if err.response_code != 404 or "already been taken" not in text_of(err):
                    raise
                return False
            return True
