"""The hook that decides whether a rendered commit may be applied at all.

Owns: the `Guard` protocol the loop asks before every apply, with the
render hash in hand, and `AllowAll`, the default. The merge-skew guard
(only a render hash that an approved policy status on the forge covers)
plugs in here; it is built with the policy work. Refuses: any policy of
its own.
"""

from __future__ import annotations

from typing import Protocol


class Guard(Protocol):
    def allows(self, env: str, commit: str, render_hash: str) -> str | None:
        """None if `env` may be applied at `commit` with this render; else why not."""
        ...


class AllowAll:
    def allows(self, env: str, commit: str, render_hash: str) -> str | None:
        return None
