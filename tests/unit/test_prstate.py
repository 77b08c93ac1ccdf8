"""The state block in the bot's comment: round trips, bounds, strict and
crash-free decoding (fuzzed), and merging."""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gitops_bot.core.policy.destructive import Confirmation
from gitops_bot.core.pr import memory
from gitops_bot.core.pr.memory import ALL, Hold, State

T0 = dt.datetime(2024, 3, 4, 9, 0, tzinfo=dt.UTC)
H1, H2, H3 = "1" * 64, "2" * 64, "3" * 64


def t(minutes: int) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


def sha(n: int) -> str:
    return f"{n:040x}"


FULL = State(
    planned=(
        memory.Planned(sha(1), t(0), {"dev": H1, "prod": H2}),
        memory.Planned(sha(2), t(5), {"prod": H3}),
    ),
    confirmations={"prod": Confirmation("alice", H3, t(6))},
    holds={ALL: Hold("bob", t(7)), "prod": Hold("carol", t(8))},
)


def _block(doc: Any, version: int = 1) -> str:
    data = base64.b64encode(json.dumps(doc).encode()).decode()
    return f"<!-- gitops-bot:state v{version} {data} -->"


def test_round_trip_inside_a_comment() -> None:
    body = f"## prod\n\nSome plan text.\n\n{memory.encode(FULL)}\n"
    decoded = memory.decode(body)
    assert decoded.problem is None
    assert decoded.state == FULL


def test_the_block_is_one_hidden_line() -> None:
    block = memory.encode(FULL)
    assert block.startswith("<!-- gitops-bot:state v1 ")
    assert block.endswith(" -->")
    assert "\n" not in block


def test_queries() -> None:
    assert FULL.hashes("prod") == {sha(1): H2, sha(2): H3}
    assert FULL.hashes("dev") == {sha(1): H1}
    assert FULL.hashes("qa") == {}
    assert FULL.planned_at("dev") == t(0)
    assert FULL.planned_at("prod") == t(5)
    assert FULL.planned_at("qa") is None
    assert FULL.hold_on("prod") == Hold("carol", t(8))
    assert FULL.hold_on("dev") == Hold("bob", t(7))  # the hold on every environment
    assert State().hold_on("dev") is None


def test_no_block_is_an_empty_state_without_a_problem() -> None:
    assert memory.decode("just a comment") == memory.Decoded(State())


def test_updates() -> None:
    state = memory.with_plan(State(), sha(1), {"prod": H1}, t(0))
    state = memory.with_plan(state, sha(1), {"dev": H2}, t(1))  # a second plan of one commit
    assert state.planned == (memory.Planned(sha(1), t(1), {"prod": H1, "dev": H2}),)
    # planned again with nothing new: when it was first shown stays, so the text does
    again = memory.with_plan(state, sha(1), {"dev": H2}, t(9))
    assert again == state
    assert memory.encode(again) == memory.encode(state)
    state = memory.with_confirmation(state, "prod", Confirmation("alice", H1, t(2)))
    state = memory.with_hold(state, None, Hold("bob", t(3)))
    state = memory.with_hold(state, "prod", Hold("carol", t(4)))
    assert set(state.holds) == {ALL, "prod"}
    assert set(memory.without_hold(state, "prod").holds) == {ALL}
    assert memory.without_hold(state, None).holds == {}


def test_only_the_last_fifty_commits_are_kept() -> None:
    state = State()
    for n in range(memory.MAX_COMMITS + 10):
        state = memory.with_plan(state, sha(n), {"prod": H1}, t(n))
    assert len(state.planned) == memory.MAX_COMMITS
    assert state.planned[0].sha == sha(10)
    assert state.planned[-1].sha == sha(memory.MAX_COMMITS + 9)
    assert memory.decode(memory.encode(state)).state == state


def test_merge_keeps_accumulated_facts_and_takes_holds_from_the_newer_state() -> None:
    old = State(
        planned=(memory.Planned(sha(1), t(0), {"prod": H1}),),
        confirmations={"prod": Confirmation("alice", H1, t(1)), "dev": Confirmation("d", H1, t(9))},
        holds={"prod": Hold("bob", t(2))},
    )
    new = State(
        planned=(memory.Planned(sha(2), t(3), {"prod": H2}),),
        confirmations={"prod": Confirmation("carol", H2, t(4)), "dev": Confirmation("e", H2, t(5))},
        holds={},
    )
    merged = memory.merge(old, new)
    assert merged.hashes("prod") == {sha(1): H1, sha(2): H2}
    assert merged.confirmations == {
        "prod": Confirmation("carol", H2, t(4)),
        "dev": Confirmation("d", H1, t(9)),  # the later one, wherever it was
    }
    assert merged.holds == {}  # released in the newer state: the release sticks


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (
            _block({"planned": [], "confirmations": {}, "holds": {}}, version=2),
            "version 2 is unknown",
        ),
        ("<!-- gitops-bot:state v1 not-base64! -->", "malformed"),
        ("<!-- gitops-bot:state v1 " + base64.b64encode(b"[1,").decode() + " -->", "malformed"),
        (_block([]), "the state is not an object"),
        (_block({"planned": []}), "the state has keys ['planned']"),
        (_block({"planned": {}, "confirmations": {}, "holds": {}}), "planned is not a list"),
        (
            _block(
                {
                    "planned": [{"sha": "xyz", "at": T0.isoformat(), "hashes": {}}],
                    "confirmations": {},
                    "holds": {},
                }
            ),
            "planned[0].sha is invalid",
        ),
        (
            _block(
                {
                    "planned": [{"sha": sha(1), "at": "yesterday", "hashes": {}}],
                    "confirmations": {},
                    "holds": {},
                }
            ),
            "planned[0].at is not a time",
        ),
        (
            _block(
                {
                    "planned": [{"sha": sha(1), "at": "2024-03-04T09:00:00", "hashes": {}}],
                    "confirmations": {},
                    "holds": {},
                }
            ),
            "planned[0].at has no time zone",
        ),
        (
            _block(
                {
                    "planned": [{"sha": sha(1), "at": T0.isoformat(), "hashes": {"Prod": H1}}],
                    "confirmations": {},
                    "holds": {},
                }
            ),
            "'Prod' is not an environment",
        ),
        (
            _block(
                {
                    "planned": [{"sha": sha(1), "at": T0.isoformat(), "hashes": {"prod": "abc"}}],
                    "confirmations": {},
                    "holds": {},
                }
            ),
            "planned[0].hashes is invalid",
        ),
        (
            _block(
                {
                    "planned": [],
                    "confirmations": {"prod": {"by": "a b", "render_hash": H1}},
                    "holds": {},
                }
            ),
            "confirmations.prod.by is invalid",
        ),
        (
            _block({"planned": [], "confirmations": {}, "holds": {"prod": {"by": "a"}}}),
            "holds.prod has keys ['by']",
        ),
        (
            _block(
                {"planned": [], "confirmations": {ALL: {"by": "a", "render_hash": H1}}, "holds": {}}
            ),
            "'*' is not an environment",
        ),
        (
            _block(
                {
                    "planned": [
                        {"sha": sha(n), "at": T0.isoformat(), "hashes": {}} for n in range(51)
                    ],
                    "confirmations": {},
                    "holds": {},
                }
            ),
            "more than 50 planned commits",
        ),
        (
            _block({"planned": [], "confirmations": {}, "holds": {}, "extra": 1}),
            "the state has keys ['confirmations', 'extra', 'holds', 'planned']",
        ),
        (
            "<!-- gitops-bot:state v1 "
            + base64.b64encode(b'{"planned": [], "confirmations": {}, "holds": NaN}').decode()
            + " -->",
            "NaN is not JSON",
        ),
        (memory.encode(FULL) + "\n" + memory.encode(State()), "2 state blocks in one comment"),
        (
            "<!-- gitops-bot:state v1 " + "A" * (memory.MAX_ENCODED + 4) + " -->",
            "over the limit",
        ),
        (
            "<!-- gitops-bot:state v1 " + base64.b64encode(b"[" * 100000).decode() + " -->",
            "over the limit",
        ),
    ],
)
def test_bad_blocks_are_ignored_with_a_reason(body: str, problem: str) -> None:
    decoded = memory.decode(body)
    assert decoded.state == State()
    assert decoded.problem is not None
    assert problem in decoded.problem


def test_deep_nesting_is_a_problem_not_a_crash() -> None:
    data = base64.b64encode(b"[" * 40000).decode()
    assert len(data) < memory.MAX_ENCODED
    decoded = memory.decode(f"<!-- gitops-bot:state v1 {data} -->")
    assert decoded.state == State()
    assert decoded.problem is not None


# -- fuzz ---------------------------------------------------------------------

_envs = st.sampled_from(["dev", "prod", "staging", "eu-west-1", "a", "0"])
_hashes = st.binary(min_size=32, max_size=32).map(bytes.hex)
_times = st.datetimes(
    min_value=dt.datetime(2020, 1, 1), max_value=dt.datetime(2040, 1, 1), timezones=st.just(dt.UTC)
)
_logins = st.sampled_from(["alice", "Bob-2", "github-actions[bot]", "a.b_c"])
_states = st.builds(
    State,
    planned=st.lists(
        st.builds(
            memory.Planned,
            sha=st.binary(min_size=20, max_size=20).map(bytes.hex),
            at=_times,
            hashes=st.dictionaries(_envs, _hashes, max_size=4),
        ),
        max_size=6,
        unique_by=lambda p: p.sha,
    ).map(lambda ps: tuple(sorted(ps, key=lambda p: (p.at, p.sha)))),
    confirmations=st.dictionaries(
        _envs, st.builds(Confirmation, by=_logins, render_hash=_hashes, at=st.none() | _times)
    ),
    holds=st.dictionaries(_envs | st.just(ALL), st.builds(Hold, by=_logins, at=_times)),
)


@settings(max_examples=300, deadline=None)
@given(_states)
def test_any_state_round_trips(state: State) -> None:
    assert memory.decode(memory.encode(state)) == memory.Decoded(state)


_json: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20) | _hashes | _envs,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=10) | _envs, inner, max_size=4)
    ),
    max_leaves=30,
)


@settings(max_examples=500, deadline=None)
@given(
    st.one_of(
        st.text(max_size=300),
        st.binary(max_size=300).map(
            lambda b: f"<!-- gitops-bot:state v1 {base64.b64encode(b).decode()} -->"
        ),
        _json.map(_block),
        st.fixed_dictionaries({"planned": _json, "confirmations": _json, "holds": _json}).map(
            _block
        ),
    )
)
def test_decode_never_raises(body: str) -> None:
    decoded = memory.decode(body)
    assert isinstance(decoded.state, State)
    if decoded.state != State():
        assert decoded.problem is None
        assert memory.decode(memory.encode(decoded.state)).state == decoded.state


@settings(max_examples=200, deadline=None)
@given(_states, _states)
def test_merge_loses_no_planned_commit_that_fits(old: State, new: State) -> None:
    merged = memory.merge(old, new)
    shas = {p.sha for p in (*old.planned, *new.planned)}
    assert {p.sha for p in merged.planned} == shas  # at most 12 here, under the bound
    assert merged.holds == new.holds
    assert merged.confirmations.keys() == old.confirmations.keys() | new.confirmations.keys()


# -- since when a head has been shown (commands are bound to it) -----------------

F0 = dt.datetime(2026, 1, 5, 9, 0, tzinfo=dt.UTC)  # the forge's clock


def test_seen_round_trips_and_old_blocks_without_it_still_decode() -> None:
    seen = memory.with_seen(FULL, sha(2), F0)
    assert memory.decode(memory.encode(seen)).state == seen
    assert memory.decode(memory.encode(FULL)).state.planned[-1].seen is None


def test_planning_the_shown_head_again_keeps_seen_and_a_head_that_comes_back_loses_it() -> None:
    state = memory.with_seen(memory.with_plan(State(), sha(1), {"dev": H1}, t(0)), sha(1), F0)
    again = memory.with_plan(state, sha(1), {"dev": H1}, t(1))  # an approval re-plans it
    assert again.planned[-1].seen == F0
    pushed = memory.with_plan(again, sha(2), {"dev": H2}, t(2))
    back = memory.with_plan(pushed, sha(1), {"dev": H1}, t(3))  # force-pushed back
    assert memory.latest(back) == memory.Planned(sha(1), t(3), {"dev": H1}, seen=None)


def _comment(state: State) -> str:
    return f"plan\n{memory.encode(state)}"


@pytest.mark.parametrize(
    ("comments", "expected"),
    [
        ([], None),
        ([("no state here", F0)], None),
        # Written once with sha(2) as its head: its updated_at is when it was shown.
        ([(_comment(FULL), F0)], F0),
        # Another head shown: nothing shows sha(2).
        ([(_comment(memory.with_plan(FULL, sha(3), {}, t(9))), F0)], None),
        # A recorded seen wins over the comment's later writes.
        (
            [(_comment(memory.with_seen(FULL, sha(2), F0)), F0 + dt.timedelta(hours=1))],
            F0,
        ),
        # Two environments' comments: the earlier one showed it first.
        ([(_comment(FULL), F0 + dt.timedelta(seconds=5)), (_comment(FULL), F0)], F0),
    ],
)
def test_shown_since(comments: list[tuple[str, dt.datetime]], expected: dt.datetime | None) -> None:
    assert memory.shown_since(comments, sha(2)) == expected


def test_merge_keeps_what_either_side_saw() -> None:
    seen = memory.with_seen(FULL, sha(2), F0)
    assert memory.latest(memory.merge(FULL, seen)) == memory.latest(seen)


def test_without_seen_is_the_state_before_it_learned_when_the_head_was_shown() -> None:
    state = memory.with_plan(State(), sha(1), {"dev": H1}, t(0))
    learned = memory.with_seen(state, sha(1), F0)
    assert learned != state
    assert memory.without_seen(learned, sha(1)) == state
    assert memory.without_seen(learned, sha(2)) == learned  # another head: nothing to forget
