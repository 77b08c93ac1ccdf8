"""The plan as text: a PR comment (markdown), a terminal (text), tools (json).

Owns: what the three formats share: counting actions, short commit names,
and which live changes a report shows besides the change itself.
Refuses: masking (a Plan is masked before it gets here) and talking to a
forge; the markdown module only keeps within the size it is given.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from gitops_bot.core.objects.model import SourcePin
from gitops_bot.core.report.plan import Action, EnvPlan, ResourceChange, SecretKeys, SourceChange

# The order actions are listed in everywhere, so every format reads alike.
ACTIONS = (Action.CREATE, Action.UPDATE, Action.DELETE, Action.UNCHANGED)
SYMBOLS = {Action.CREATE: "+", Action.UPDATE: "~", Action.DELETE: "-", Action.UNCHANGED: " "}


@dataclass(frozen=True)
class Counts:
    create: int = 0
    update: int = 0
    delete: int = 0
    unchanged: int = 0

    @classmethod
    def of(cls, changes: Iterable[ResourceChange]) -> Counts:
        tally = dict.fromkeys(ACTIONS, 0)
        for change in changes:
            tally[change.action] += 1
        return cls(*(tally[a] for a in ACTIONS))

    def get(self, action: Action) -> int:
        count: int = getattr(self, action.value)
        return count


def short(sha: str) -> str:
    """The 7-character abbreviation git and the forges show."""
    return sha[:7]


def changed(changes: Iterable[ResourceChange]) -> tuple[ResourceChange, ...]:
    return tuple(c for c in changes if c.action is not Action.UNCHANGED)


def live_only(env: EnvPlan) -> tuple[ResourceChange, ...]:
    """Live changes of objects this change leaves alone: what applying would
    also do (revert drift, catch up with a base that was never applied).
    Live changes of objects the change touches are not repeated: their diff
    is the change's diff plus the drift, which the drift table shows."""
    if env.live is None:
        return ()
    touched = {c.key for c in changed(env.changes)}
    # A renamed generated object's old name is part of the change too: its
    # removal (what the puller prunes) is said in the rename's note.
    touched |= {c.renamed_from for c in changed(env.changes) if c.renamed_from is not None}
    return tuple(c for c in changed(env.live) if c.key not in touched)


def renamed(change: ResourceChange) -> str:
    """` (renamed from app-config-5f8k2m9t4h)` after a renamed object's key; "" otherwise."""
    old = change.renamed_from
    if old is None:
        return ""
    return f" (renamed from {old.name})"


def secret_key_phrase(keys: SecretKeys, quote: Callable[[str], str] = str) -> str:
    """`changed: password; added: token`: which keys, never which values."""
    said = [
        f"{label}: " + ", ".join(quote(k) for k in names)
        for label, names in (
            ("changed", keys.changed),
            ("added", keys.added),
            ("removed", keys.removed),
        )
        if names
    ]
    return "; ".join(said) if said else "unchanged"


MAX_SOURCES_SHOWN = 20  # rows of remote sources in a report; the rest are counted


def pin_text(pin: SourcePin | None) -> str:
    """A resolved source in a few words: `1.1.0 (sha256:0123456789ab)`, or `none`."""
    if pin is None:
        return "none"
    return f"{pin.version} ({pin.digest[:19]})"


def source_text(change: SourceChange) -> tuple[str, str]:
    """(what the source is, what it resolved to) for every format: `redis of
    deploy/app from URL`, and `1.0.0 (sha256:…) -> 1.1.0 (sha256:…)` when it
    changed, else the one pin."""
    pin = change.after or change.before
    where = f" from {pin.repository}" if pin is not None else ""
    what = f"{change.name} of {change.chart}{where}"
    if not change.changed:
        return what, pin_text(change.after)
    return what, f"{pin_text(change.before)} -> {pin_text(change.after)}"
