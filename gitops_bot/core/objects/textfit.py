"""Text made to fit a field the API server limits in bytes.

Owns: `size` (the UTF-8 length the server counts: Go's `len` of a string),
`cut` (the start of a text within a byte limit, cut on a character
boundary, with a marker saying how many characters were left out), `clip`
(the same without a marker, for short fields such as an Event's reason) and
`listing` (a head and a list of items within a limit: every item keeps a
fair share of the room, and items that do not fit at all are counted, "and
3 more objects"). A text that fits is returned as it is.
Refuses: dropping a text: whatever the limit, something of the start is
kept and what was left out is said.
"""

from __future__ import annotations

from collections.abc import Sequence

ELLIPSIS = "…"


def size(text: str) -> int:
    """Bytes of `text` in UTF-8: what the API server's length checks count."""
    return len(text.encode("utf-8"))


def clip(text: str, limit: int) -> str:
    """The longest start of `text` whose UTF-8 encoding has at most `limit` bytes."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    # A UTF-8 continuation byte is 0b10xxxxxx: back up to the start of a character.
    end = max(0, limit)
    while end > 0 and (data[end] & 0xC0) == 0x80:
        end -= 1
    return data[:end].decode("utf-8")


def _marker(left_out: int) -> str:
    return f"{ELLIPSIS} [{left_out} more character{'s' if left_out != 1 else ''}]"


def cut(text: str, limit: int) -> str:
    """`text` if it fits in `limit` bytes; else its start and a marker such as
    "… [1234 more characters]", together at most `limit` bytes."""
    if size(text) <= limit:
        return text
    # The marker's length depends on how much is left out; two rounds settle it.
    kept = text
    for _ in range(3):
        room = limit - size(_marker(len(text) - len(kept)))
        kept = clip(text, max(0, room))
    marked = kept + _marker(len(text) - len(kept))
    return marked if size(marked) <= limit else clip(marked, limit)


MIN_KEPT = 48  # bytes of an item's start worth showing (its name, at least)


def _shares(sizes: Sequence[int], room: int) -> list[int]:
    """Room for each item, shared fairly: a short item takes what it needs and
    leaves the rest to the long ones."""
    shares = [0] * len(sizes)
    remaining = room
    order = sorted(range(len(sizes)), key=lambda i: sizes[i])
    for n, i in enumerate(order):
        shares[i] = min(sizes[i], remaining // (len(sizes) - n))
        remaining -= shares[i]
    return shares


def listing(
    head: str, items: Sequence[str], limit: int, *, sep: str = "; ", noun: str = "objects"
) -> str:
    """`head` followed by `items` joined by `sep`, within `limit` bytes.

    Long items are shortened (with `cut`, keeping at least their first
    MIN_KEPT bytes) so that as many items as possible are named; the items
    for which no room is left are counted at the end ("; and 4 more
    objects"). The head keeps at most half the room.
    """
    whole = head + sep.join(items)
    if size(whole) <= limit:
        return whole
    head = cut(head, limit // 2)
    room = limit - size(head)
    sizes = [size(item) for item in items]
    for shown in range(len(items), 0, -1):
        tail = f"{sep}and {len(items) - shown} more {noun}" if shown < len(items) else ""
        free = room - size(tail) - size(sep) * (shown - 1)
        if free < shown * min(MIN_KEPT, *sizes[:shown]):
            continue  # not even each item's start fits: name fewer
        shares = _shares(sizes[:shown], free)
        parts = [
            item if share >= sizes[i] else cut(item, share)
            for i, (item, share) in enumerate(zip(items, shares, strict=False))
        ]
        if all(
            part == item or len(_common(part, item)) >= min(len(item), MIN_KEPT // 4)
            for part, item in zip(parts, items, strict=False)
        ):
            text = head + sep.join(parts) + tail
            if size(text) <= limit:
                return text
    return cut(head + f"{len(items)} {noun}", limit)


def _common(a: str, b: str) -> str:
    n = 0
    while n < min(len(a), len(b)) and a[n] == b[n]:
        n += 1
    return a[:n]
