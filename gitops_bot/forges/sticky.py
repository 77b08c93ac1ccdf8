"""The sticky comment: one comment of the bot's per marker, edited in place.

Owns: finding the bot's own comment that carries the hidden marker (in the
comments the caller already listed, or else in the forge's listing, read
only as far as the first match) and then leaving it as it is, editing it,
or creating it once; the same on every forge. With `existing` nothing is
listed: unchanged costs no request, changed one edit, new one create.
Refuses: any forge's calls (the adapter hands in its list, create and edit
primitives), editing a comment someone else wrote even when it carries the
marker, and checking the body (the adapter does, with its own limit and
words).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from gitops_bot.core.pr.model import Comment


def upsert(
    marker: str,
    body: str,
    *,
    existing: Sequence[Comment] | None,
    listed: Callable[[], Iterable[Comment]],
    create: Callable[[str], Comment],
    edit: Callable[[Comment, str], Comment],
) -> Comment:
    """The bot's comment with `marker`, now saying `body`. `listed` is called only
    when `existing` is None and may be lazy (pages fetched as they are read)."""
    comments = existing if existing is not None else listed()
    mine = next((c for c in comments if c.is_bot and marker in c.body), None)
    if mine is None:
        return create(body)
    if mine.body == body:
        return mine
    return edit(mine, body)
