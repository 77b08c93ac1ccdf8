"""Use case: find the work a lost delivery left undone, from the forge alone.

Owns: for one repository, which events `serve` queues again, as the
deliveries would have: a review for each open pull request whose head lacks
the bot's plan (no comment of the bot's shows that head, core.pr.memory,
and no summary status `gitops` a review judged, success or failure, is on
it: a pending one may be a review cut short, an error a handler that
failed), and each command
comment that is fresh, i.e. written by a person since the bot showed the
current head's plan (the ChatOps freshness rule: an older one would be
refused, or is about an older head). The forge is the only record; nothing
is kept between sweeps. Whether a command was already handled is not
decided here: the handler claims it with the bot's `seen` reaction (the
forge adds it atomically and says whether it was new, app.chatops), so a
command swept twice, or by two replicas, is carried out once.
Refuses: acting on anything itself (the events go through the same queue
and handlers as the deliveries) and reading a pull request it does not
list (closed ones have nothing waiting: their cleanup is idempotent and
done at the next event).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from gitops_bot.app import chatops, review
from gitops_bot.core.pr import commands, events, memory
from gitops_bot.core.pr.model import Comment, Pull, StatusState
from gitops_bot.core.pr.ports import Comments, PullQueries, Statuses

SENDER = "gitops-bot sweep"  # the sender of a review the sweep queues


class SweepForge(PullQueries, Comments, Statuses, Protocol):
    """What a sweep reads: the open pull requests, their comments, a head's statuses."""


def sweep(forge: SweepForge, repo: str) -> Iterator[events.PullEvent | events.CommentEvent]:
    """The events to queue for `repo`: 1 request for the open pull requests, then per
    pull request 1 for its comments (a page per 100), and 1 for its head's
    statuses only when no comment of the bot's shows that head."""
    for pull in forge.open_pulls():
        comments = forge.comments(pull.number)
        shown = memory.shown_since(review.own_comments(comments), pull.head_sha)
        if shown is None:
            if not _summarized(forge, pull):
                yield events.PullEvent(
                    repo, pull.number, events.PullAction.PUSHED, pull.head_sha, SENDER
                )
            # A command before the head's plan is shown cannot be about it.
            continue
        for comment in comments:
            created = review.forge_time(comment.created_at)
            if created is not None and created >= shown and _command(comment):
                yield events.CommentEvent(
                    repo,
                    pull.number,
                    events.CommentAction.CREATED,
                    comment.id,
                    comment.author,
                    comment.body,
                    author_is_bot=False,
                )


_JUDGED = (StatusState.SUCCESS, StatusState.FAILURE)


def _summarized(forge: SweepForge, pull: Pull) -> bool:
    """A summary status a review judged on the head: reviewed, with no comment to
    show (comments off, or nothing changed). A pending one may be a review cut
    short; an error is a handler's failure (app.dispatch.answer_failure), which
    promises that the next event retries: the sweep is that event."""
    return any(
        s.context == review.SUMMARY_CONTEXT and s.state in _JUDGED
        for s in forge.statuses(pull.head_sha)
    )


def _command(comment: Comment) -> bool:
    if comment.is_bot or chatops.MARKER in comment.body:
        return False
    return not isinstance(commands.parse(comment.body), commands.NoCommand)
