"""What the bot remembers about a pull request, kept in its own comment.

Owns: the state (`State`: each planned commit's render hash per environment,
the last `MAX_COMMITS` of them; `/gitops approve-destroy` confirmations per
environment; holds), its encoding as a hidden block in the bot's sticky
comment (`<!-- gitops-bot:state v1 BASE64(JSON) -->`: `encode`, `decode`),
and the pure updates a run makes (`with_plan`, `with_seen`,
`with_confirmation`, `with_hold`, `without_hold`, `merge`); and since when
the bot's comments have shown a head (`shown_since`, by the forge's clock: a
command counts only if it was written after that, chatops.md).
Refuses: reading or writing comments, and trusting a block found anywhere
but in a comment the bot's own account wrote: anyone can type this block
into a comment of theirs, so the caller decodes only the bot's comment.

`decode` never raises: a missing block is an empty state; a malformed,
oversized or unknown-version block is an empty state and a reason, which the
caller logs. Losing the state costs re-approvals and re-confirmations, never
a wrong pass: approvals on commits whose render is unknown do not count.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from gitops_bot.core.policy.destructive import Confirmation

VERSION = 1
MAX_COMMITS = 50
MAX_ENVS = 200
MAX_ENCODED = 64 * 1024  # characters of base64; far above 50 commits x a few environments
ALL = "*"  # the key of a hold on every environment
_BLOCK = re.compile(r"<!-- gitops-bot:state v(\d+) ([^\s>]*) -->")
_SHA = re.compile(r"[0-9a-f]{7,40}")
_HASH = re.compile(r"[0-9a-f]{64}")
_ENV = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_LOGIN = re.compile(r"[A-Za-z0-9_.\-\[\]]{1,100}")


@dataclass(frozen=True)
class Planned:
    sha: str
    at: datetime
    hashes: Mapping[str, str] = field(default_factory=dict)  # env -> Render.hash
    # Since when the bot's comments have shown this commit as the planned head, by
    # the forge's clock (the time the forge gave the comment's first write of it;
    # learned by the next run, see `shown_since`). None: not learned yet.
    seen: datetime | None = None


@dataclass(frozen=True)
class Hold:
    by: str
    at: datetime


@dataclass(frozen=True)
class State:
    planned: tuple[Planned, ...] = ()  # oldest first
    confirmations: Mapping[str, Confirmation] = field(default_factory=dict)  # env -> latest
    holds: Mapping[str, Hold] = field(default_factory=dict)  # env or ALL -> hold

    def hashes(self, env: str) -> dict[str, str]:
        """Commit -> env's render hash there, for core.policy.Inputs.render_hashes."""
        return {p.sha: p.hashes[env] for p in self.planned if env in p.hashes}

    def hold_on(self, env: str) -> Hold | None:
        return self.holds.get(env) or self.holds.get(ALL)

    def planned_at(self, env: str) -> datetime | None:
        times = [p.at for p in self.planned if env in p.hashes]
        return max(times) if times else None


@dataclass(frozen=True)
class Decoded:
    state: State
    problem: str | None = None  # why a block found was ignored


def with_plan(state: State, sha: str, hashes: Mapping[str, str], at: datetime) -> State:
    """`state` after planning `sha`: its hashes added to what is known of it.
    A commit planned again while it is still the latest keeps its `seen` and,
    if the plan adds nothing (these very hashes), the time it was first
    planned, so a second planner of the same head (an approval, a CI job next
    to the webhook server) writes the same text: nothing. One that comes back
    after another head (a force-push back) is shown anew."""
    known = {p.sha: p for p in state.planned}
    before = known.get(sha)
    merged = {**(before.hashes if before else {}), **hashes}
    latest = state.planned[-1].sha if state.planned else None
    again = before is not None and latest == sha  # still the head the comments show
    seen = before.seen if before is not None and again else None
    # Keeping the time only for the latest head keeps the order: a head that
    # comes back must sort after the one it replaced (latest() is the last).
    first = before.at if before is not None and again and merged == before.hashes else at
    known[sha] = Planned(sha=sha, at=first, hashes=merged, seen=seen)
    return replace(state, planned=_trim(known.values()))


def with_seen(state: State, sha: str, seen: datetime) -> State:
    """`state` knowing that its comments have shown `sha` since `seen` (forge clock)."""
    planned = tuple(
        replace(p, seen=min(seen, p.seen or seen)) if p.sha == sha else p for p in state.planned
    )
    return replace(state, planned=planned)


def without_seen(state: State, sha: str) -> State:
    """`state` as it was before it learned since when `sha` has been shown:
    what a comment written before that says, so that learning alone need not
    rewrite it (its updated_at keeps telling the same time)."""
    planned = tuple(replace(p, seen=None) if p.sha == sha else p for p in state.planned)
    return replace(state, planned=planned)


def latest(state: State) -> Planned | None:
    """The commit planned last: the head the bot's comments show."""
    return state.planned[-1] if state.planned else None


def shown_since(comments: Iterable[tuple[str, datetime | None]], head: str) -> datetime | None:
    """Since when, by the forge's clock, the bot's comments have shown `head` as
    the planned head; None if none shows it. `comments`: (body, updated_at) of
    each comment the bot's own account wrote.

    A comment that shows `head` as its latest plan but has no `seen` for it was
    written once with it since (every later write of the review records it), so
    the forge's updated_at of that comment is the time the plan became visible."""
    times = []
    for body, updated in comments:
        planned = latest(decode(body).state)
        if planned is None or planned.sha != head:
            continue
        when = planned.seen or updated
        if when is not None:
            times.append(when)
    return min(times) if times else None


def with_confirmation(state: State, env: str, confirmation: Confirmation) -> State:
    return replace(state, confirmations={**state.confirmations, env: confirmation})


def with_hold(state: State, env: str | None, hold: Hold) -> State:
    return replace(state, holds={**state.holds, env or ALL: hold})


def without_hold(state: State, env: str | None) -> State:
    """No hold on `env`; with None, no hold at all."""
    if env is None:
        return replace(state, holds={})
    return replace(state, holds={k: v for k, v in state.holds.items() if k != env})


def _trim(planned: Any) -> tuple[Planned, ...]:
    ordered = sorted(planned, key=lambda p: (p.at, p.sha))
    return tuple(ordered[-MAX_COMMITS:])


def merge(old: State, new: State) -> State:
    """`new`, made from `old` by one run, with what `old` knew that `new` lacks.

    Planned commits and confirmations are facts that only accumulate, so
    both sides' are kept (the later confirmation per environment wins);
    holds are taken from `new`, so that a release sticks."""
    state = old
    for planned in new.planned:
        state = with_plan(state, planned.sha, planned.hashes, planned.at)
        if planned.seen is not None:
            state = with_seen(state, planned.sha, planned.seen)
    confirmations = dict(old.confirmations)
    for env, confirmation in new.confirmations.items():
        mine = confirmations.get(env)
        if mine is None or _when(confirmation) >= _when(mine):
            confirmations[env] = confirmation
    return State(planned=state.planned, confirmations=confirmations, holds=dict(new.holds))


def _when(confirmation: Confirmation) -> float:
    return confirmation.at.timestamp() if confirmation.at else float("-inf")


def _time(value: datetime) -> str:
    return value.isoformat()


def encode(state: State) -> str:
    """The hidden block that carries `state`."""
    doc = {
        "planned": [
            {
                "sha": p.sha,
                "at": _time(p.at),
                "hashes": dict(sorted(p.hashes.items())),
                **({"seen": _time(p.seen)} if p.seen else {}),
            }
            for p in state.planned
        ],
        "confirmations": {
            env: {
                "by": c.by,
                "render_hash": c.render_hash,
                **({"at": _time(c.at)} if c.at else {}),
            }
            for env, c in sorted(state.confirmations.items())
        },
        "holds": {k: {"by": h.by, "at": _time(h.at)} for k, h in sorted(state.holds.items())},
    }
    payload = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
    return f"<!-- gitops-bot:state v{VERSION} {base64.b64encode(payload).decode()} -->"


class _InvalidError(ValueError):
    pass


def _need(ok: bool, what: str) -> None:
    if not ok:
        raise _InvalidError(what)


def _obj(value: Any, keys: set[str], where: str, *, optional: frozenset[str] = frozenset()) -> Any:
    _need(isinstance(value, dict), f"{where} is not an object")
    _need(keys - optional <= value.keys() <= keys, f"{where} has keys {sorted(value)}")
    return value


def _text(value: Any, pattern: re.Pattern[str], where: str) -> str:
    _need(isinstance(value, str) and pattern.fullmatch(value) is not None, f"{where} is invalid")
    return str(value)


def _at(value: Any, where: str) -> datetime:
    _need(isinstance(value, str) and len(value) <= 40, f"{where} is not a time")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as err:
        raise _InvalidError(f"{where} is not a time") from err
    _need(parsed.tzinfo is not None, f"{where} has no time zone")
    return parsed


def _env_key(value: str, where: str, *, all_ok: bool = False) -> str:
    ok = (all_ok and value == ALL) or (_ENV.fullmatch(value) is not None and len(value) <= 63)
    _need(ok, f"{where} {value[:70]!r} is not an environment")
    return value


def _dict(value: Any, where: str) -> dict[str, Any]:
    _need(isinstance(value, dict), f"{where} is not an object")
    _need(len(value) <= MAX_ENVS, f"{where} has more than {MAX_ENVS} entries")
    return dict(value)


def _planned(item: Any, where: str) -> Planned:
    item = _obj(item, {"sha", "at", "hashes", "seen"}, where, optional=frozenset({"seen"}))
    return Planned(
        seen=_at(item["seen"], f"{where}.seen") if "seen" in item else None,
        sha=_text(item["sha"], _SHA, f"{where}.sha"),
        at=_at(item["at"], f"{where}.at"),
        hashes={
            _env_key(env, f"{where}.hashes"): _text(h, _HASH, f"{where}.hashes")
            for env, h in _dict(item["hashes"], f"{where}.hashes").items()
        },
    )


def _confirmation(item: Any, where: str) -> Confirmation:
    item = _obj(item, {"by", "render_hash", "at"}, where, optional=frozenset({"at"}))
    return Confirmation(
        by=_text(item["by"], _LOGIN, f"{where}.by"),
        render_hash=_text(item["render_hash"], _HASH, f"{where}.render_hash"),
        at=_at(item["at"], f"{where}.at") if "at" in item else None,
    )


def _hold(item: Any, where: str) -> Hold:
    item = _obj(item, {"by", "at"}, where)
    return Hold(by=_text(item["by"], _LOGIN, f"{where}.by"), at=_at(item["at"], f"{where}.at"))


def _from_json(doc: Any) -> State:
    doc = _obj(doc, {"planned", "confirmations", "holds"}, "the state")
    _need(isinstance(doc["planned"], list), "planned is not a list")
    _need(len(doc["planned"]) <= MAX_COMMITS, f"more than {MAX_COMMITS} planned commits")
    planned = [_planned(item, f"planned[{i}]") for i, item in enumerate(doc["planned"])]
    confirmations = {
        _env_key(env, "confirmations"): _confirmation(item, f"confirmations.{env[:70]}")
        for env, item in _dict(doc["confirmations"], "confirmations").items()
    }
    holds = {
        _env_key(env, "holds", all_ok=True): _hold(item, f"holds.{env[:70]}")
        for env, item in _dict(doc["holds"], "holds").items()
    }
    return State(planned=_trim(planned), confirmations=confirmations, holds=holds)


def decode(body: str) -> Decoded:
    """The state in the bot's comment `body`; never raises."""
    blocks = _BLOCK.findall(body)
    if not blocks:
        return Decoded(State())
    if len(blocks) > 1:
        return Decoded(State(), f"{len(blocks)} state blocks in one comment; all ignored")
    version, data = blocks[0]
    if version != str(VERSION):
        return Decoded(State(), f"state block version {version[:10]} is unknown; ignored")
    if len(data) > MAX_ENCODED:
        return Decoded(State(), f"state block of {len(data):,} characters is over the limit")
    try:
        doc = json.loads(base64.b64decode(data, validate=True), parse_constant=_no_constant)
        return Decoded(_from_json(doc))
    except (ValueError, binascii.Error, RecursionError) as err:
        reason = str(err) if isinstance(err, _InvalidError) else type(err).__name__
        return Decoded(State(), f"state block is malformed ({reason[:120]}); ignored")


def _no_constant(name: str) -> Any:
    raise _InvalidError(f"{name} is not JSON")
