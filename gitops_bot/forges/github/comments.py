"""GitHub's side of the Comments port: the sticky comment, replies and reactions.

Owns: listing a pull request's comments, the calls of the sticky comment
(forges.sticky finds the bot's own by its hidden marker, then edits it in
place or creates it once: with `existing`, unchanged costs no request,
changed one PATCH, new one POST), replies, and reactions as GitHub's
reaction contents, each telling whether it was new (GitHub's 201 against
200: the atomic claim of a command, app.chatops). Refuses: to edit a comment
someone else wrote, even one carrying the marker, and to send a body over
COMMENT_LIMIT (the report layer splits).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence

from github import GithubException
from github.IssueComment import IssueComment

from gitops_bot.core.pr.model import Comment, Reaction, check_length
from gitops_bot.forges import sticky
from gitops_bot.forges.github.client import Client, when
from gitops_bot.forges.github.facts import COMMENT_LIMIT

_REACTIONS = {
    Reaction.SEEN: "eyes",
    Reaction.DONE: "+1",
    Reaction.REFUSED: "-1",
    Reaction.CONFUSED: "confused",
}


def _to_comment(comment: IssueComment, me: str) -> Comment:
    author = comment.user.login if comment.user is not None else "ghost"
    return Comment(
        id=comment.id,
        author=author,
        body=comment.body or "",
        created_at=when(comment.created_at),
        updated_at=when(comment.updated_at),
        is_bot=author == me,
    )


_MISSING = 404
_CREATED = 201  # 200: the bot had reacted so already
_ERROR = 400


class CommentsPart(Client):
    def comments(self, number: int) -> tuple[Comment, ...]:
        me = self._me()
        with self._doing(f"listing the comments of {self._name}#{number}"):
            listed = self._repo.get_issue(number).get_comments()
            return tuple(_to_comment(comment, me) for comment in listed)

    def upsert_comment(
        self,
        number: int,
        *,
        marker: str,
        body: str,
        existing: Sequence[Comment] | None = None,
    ) -> Comment:
        if marker not in body:
            raise ValueError(f"the comment body does not contain its marker {marker!r}")
        doing = f"updating the comment {marker} on {self._name}#{number}"
        check_length(body, limit=COMMENT_LIMIT, forge="GitHub", doing=doing)
        return sticky.upsert(
            marker,
            body,
            existing=existing,
            listed=lambda: self._listed(number, doing),
            create=lambda text: self._create(number, text, doing),
            edit=lambda mine, text: self._edit(number, mine, text, doing),
        )

    def _listed(self, number: int, doing: str) -> Iterator[Comment]:
        """The comments, page by page as they are read (GET /user first, unless
        the bot's login is known)."""
        me = self._me()
        with self._doing(doing):
            for comment in self._repo.get_issue(number).get_comments():
                yield _to_comment(comment, me)

    def _create(self, number: int, body: str, doing: str) -> Comment:
        with self._doing(doing):
            created = self._repo.get_issue(number).create_comment(body)
        return _to_comment(created, self._login or _author(created))

    def _edit(self, number: int, mine: Comment, body: str, doing: str) -> Comment:
        with self._doing(doing):
            comment = self._repo.get_issue(number).get_comment(mine.id)  # lazy: no request
            comment.edit(body)
        return _to_comment(comment, mine.author)

    def reply(self, number: int, body: str) -> Comment:
        doing = f"replying on {self._name}#{number}"
        check_length(body, limit=COMMENT_LIMIT, forge="GitHub", doing=doing)
        with self._doing(doing):
            created = self._repo.get_issue(number).create_comment(body)
        return _to_comment(created, self._login or _author(created))

    def delete_comment(self, number: int, comment_id: int) -> None:
        """DELETE one comment; one that is gone already is no error."""
        with self._doing(f"deleting comment {comment_id} on {self._name}#{number}"):
            try:
                self._repo.get_issue(number).get_comment(comment_id).delete()  # lazy GET
            except GithubException as err:
                if err.status != _MISSING:
                    raise

    def react(self, number: int, comment_id: int, reaction: Reaction) -> bool:
        """POST the reaction: GitHub answers 201 when it adds it and 200 when the
        bot's account has that reaction there already (PyGithub hides which, so
        the request is sent through its requester)."""
        content = _REACTIONS[reaction]
        with self._doing(f"reacting {content} to comment {comment_id} on {self._name}#{number}"):
            comment = self._repo.get_issue(number).get_comment(comment_id)  # lazy: no request
            requester = self._repo.requester
            status, headers, output = requester.requestJson(
                "POST", f"{comment.url}/reactions", input={"content": content}
            )
            if status >= _ERROR:
                data = json.loads(output) if output else {}
                raise requester.createException(status, headers, data)
            return status == _CREATED


def _author(comment: IssueComment) -> str:
    """Who wrote a comment the bot just created: the bot itself."""
    return comment.user.login if comment.user is not None else ""
