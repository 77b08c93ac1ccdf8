"""The plan request's wire form: made, read back, and every bad body refused by key."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gitops_bot.web import planwire
from gitops_bot.web.planwire import AskError, PlanAsk

BASE, HEAD = "b" * 40, "c" * 40


def body(**changes: object) -> bytes:
    document: dict[str, object] = json.loads(PlanAsk(BASE, HEAD, ("prod",), "n" * 16, 1).body())
    for key, value in changes.items():
        if value is ...:
            del document[key]
        else:
            document[key] = value
    return json.dumps(document).encode()


_envs = st.lists(
    st.from_regex(r"[a-z0-9]([-a-z0-9]{0,10}[a-z0-9])?", fullmatch=True),
    min_size=1,
    max_size=5,
    unique=True,
)


@given(
    base=st.from_regex(r"[0-9a-f]{40}", fullmatch=True),
    head=st.from_regex(r"[0-9a-f]{64}", fullmatch=True),
    envs=_envs,
    issued_at=st.integers(min_value=0, max_value=2**40),
)
def test_a_request_reads_back_as_it_was_made(
    base: str, head: str, envs: list[str], issued_at: int
) -> None:
    ask = PlanAsk.new(base, head, tuple(envs), clock=lambda: issued_at + 0.7)
    assert ask.issued_at == issued_at
    assert planwire.parse(ask.body()) == ask


def test_two_requests_never_share_a_nonce() -> None:
    nonces = {PlanAsk.new(BASE, HEAD, ("dev",)).nonce for _ in range(200)}
    assert len(nonces) == 200


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"base": "B" * 40}, "base: expected a full commit SHA"),
        ({"head": "main"}, "head: expected a full commit SHA"),
        ({"head": "c" * 39}, "head: expected a full commit SHA"),
        ({"envs": []}, "envs: expected a list of 1 to 100"),
        ({"envs": "prod"}, "envs: expected a list"),
        ({"envs": ["prod", "Prod"]}, "envs[1]: expected an environment name"),
        ({"envs": ["../etc"]}, "envs[0]: expected an environment name"),
        ({"envs": ["a", "a"]}, "envs: a name is listed twice"),
        ({"nonce": "short"}, "nonce: expected 16 to 64"),
        ({"nonce": "x" * 16 + "/"}, "nonce: expected 16 to 64"),
        ({"issued_at": "1"}, "issued_at: expected Unix seconds"),
        ({"issued_at": True}, "issued_at: expected Unix seconds"),
        ({"issued_at": 1.5}, "issued_at: expected Unix seconds"),
        ({"schema": "gitops-bot/plan-request/v2"}, "schema: expected"),
        ({"nonce": ...}, "the plan request lacks nonce"),
        ({"apply": True}, "unknown keys: 'apply'"),
    ],
)
def test_a_bad_request_is_refused_naming_the_key(changes: dict[str, object], says: str) -> None:
    with pytest.raises(AskError, match=None) as caught:
        planwire.parse(body(**changes))
    assert says in str(caught.value)


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        (b"\xff\xfe", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b"{" + b" " * (planwire.MAX_BODY_BYTES + 1) + b"}", "over"),
    ],
)
def test_a_body_that_is_not_a_request_is_refused(raw: bytes, says: str) -> None:
    with pytest.raises(AskError) as caught:
        planwire.parse(raw)
    assert says in str(caught.value)
