"""The bot's own work on one environment, bounded like the renderers' work.

Owns: `Bounds` (the settings: objects per render, seconds per environment,
lines per object diff; with the names of the flags that change them, for
messages) and `Meter` (one environment's running count and deadline, which
core.objects.manifests checks while it parses and core.objects.diff while it diffs).
Refuses: reading flags or the environment (the CLI does) and reading the
clock itself: the clock is a parameter, so tests move time by hand.

Why: a renderer's output is capped (32 MiB) and so is its time, but 25 MiB
of YAML within that cap still cost the bot minutes and gigabytes to parse
and diff. A pull request must not be able to hold a CI runner or the
`serve` process that long; past a bound, the environment's plan is an error
that says which bound, how to raise it, and how far the work got.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from gitops_bot.errors import BotError

# The flags (and variables) that change each bound; messages name them.
MAX_OBJECTS_SETTING = "--max-objects (GITOPS_BOT_MAX_OBJECTS)"
TIMEOUT_SETTING = "--plan-timeout (GITOPS_BOT_PLAN_TIMEOUT)"


class BoundsError(BotError):
    """The bot's own work on an environment went past one of its bounds."""


@dataclass(frozen=True)
class Bounds:
    # 10,000 objects is a real environment (docs/benchmarks.md); a render five
    # times that is 25 MiB of small objects, the renderers' output cap.
    max_objects: int = 50_000
    # Seconds for one environment's plan, from its first render to its last
    # diff; each renderer run has its own 60 s within this.
    timeout_s: float = 300.0
    # Lines of one object's YAML (before and after together, once the lines
    # they share at both ends are off) that get a line diff. difflib is
    # quadratic when lines repeat: 10,000 a side of 150 distinct lines took
    # 1.5 s, 20,000 a side 11.5 s; past this, a summary of what changed.
    max_diff_lines: int = 20_000
    clock: Callable[[], float] = field(default=time.monotonic, compare=False)

    def meter(self, env: str) -> Meter:
        """A fresh count and deadline for planning (or applying) `env`."""
        return Meter(self, env)


class Meter:
    """One environment's objects so far (in the current render) and its deadline."""

    def __init__(self, bounds: Bounds, env: str) -> None:
        self.bounds = bounds
        self.env = env
        self.started = bounds.clock()
        self.objects = 0

    def new_render(self) -> None:
        """Start counting the objects of another render of the environment."""
        self.objects = 0

    def count(self, n: int, *, doing: str) -> None:
        """`n` more objects; past the limit, a BoundsError that says where."""
        self.objects += n
        if self.objects > self.bounds.max_objects:
            raise BoundsError(
                f"environment {self.env}: more than {self.bounds.max_objects:,} objects "
                f"in one render (the bot's limit per environment; "
                f"{MAX_OBJECTS_SETTING} changes it); stopped {doing}"
            )

    def check(self, doing: str | Callable[[], str]) -> None:
        """Raise a BoundsError if the environment's time is up; `doing` says
        how far the work got (a callable, so the text is made only then)."""
        spent = self.bounds.clock() - self.started
        if spent >= self.bounds.timeout_s:
            said = doing() if callable(doing) else doing
            raise BoundsError(
                f"environment {self.env}: took longer than {self.bounds.timeout_s:g} s "
                f"(the bot's time limit per environment; {TIMEOUT_SETTING} changes it); "
                f"stopped {said}"
            )


def default_meter(env: str = "") -> Meter:
    """A meter with the default bounds, for callers that bring none."""
    return Bounds().meter(env)
