"""The promotion history: which commit reached which environment, when,
through which pull request, approved by whom, promoted from where.

Owns: the history entry value, reading the facts core.promotion.change writes into
a promotion or rollback pull request's hidden marker (`facts`), and the
table and JSON the `history` command prints. Refuses: I/O (app.history
reads the forge's deployments, pull requests and reviews).
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass

from tabulate import tabulate

_MARKER = re.compile(r"<!-- gitops-bot:(?P<kind>promotion|rollback) (?P<facts>[^>]*?) -->")
SHORT = 12


@dataclass(frozen=True)
class Entry:
    env: str
    sha: str
    state: str  # the deployment's: success, failure, in_progress, ...
    since: str  # ISO 8601
    pull: int | None = None  # the merged pull request that brought `sha`, if any
    title: str = ""
    author: str = ""
    approved_by: tuple[str, ...] = ()
    kind: str = "change"  # change, promotion or rollback
    origin: str = ""  # promotion: "dev@<sha>"; rollback: "<sha>"


def facts(body: str) -> tuple[str, dict[str, str]] | None:
    """The kind and facts of the bot's marker in a pull request body, if any."""
    match = _MARKER.search(body or "")
    if match is None:
        return None
    pairs = (item.split("=", 1) for item in match["facts"].split() if "=" in item)
    return match["kind"], dict(pairs)


def origin(body: str) -> tuple[str, str]:
    """(kind, where it came from) of a pull request, by its marker."""
    found = facts(body)
    if found is None:
        return "change", ""
    kind, said = found
    if kind == "promotion":
        return kind, f"{said.get('source', '?')}@{said.get('sha', '')[:SHORT]}"
    return kind, said.get("sha", "")[:SHORT]


def table(entries: tuple[Entry, ...]) -> str:
    rows = [
        (
            e.env,
            e.sha[:SHORT],
            e.state,
            e.since,
            f"#{e.pull} {e.title}" if e.pull is not None else "(no pull request)",
            e.kind + (f" from {e.origin}" if e.origin else ""),
            ", ".join(e.approved_by) or "-",
        )
        for e in entries
    ]
    headers = ("env", "commit", "state", "since", "pull request", "kind", "approved by")
    return tabulate(rows, headers=headers, tablefmt="simple")


def to_json(entries: tuple[Entry, ...]) -> str:
    return json.dumps([asdict(e) for e in entries], indent=2)
