from __future__ import annotations

import hashlib
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gitops_bot.core.pr.deliveries import Deliveries, WebhookError, verify_github, verify_gitlab

SECRET = b"It's a Secret to Everybody"
BODY = b"Hello, World!"
# The example GitHub documents for validating webhook deliveries.
DOCUMENTED = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


def test_githubs_documented_example_verifies() -> None:
    verify_github(BODY, DOCUMENTED, secret=SECRET)


@pytest.mark.parametrize(
    ("body", "signature", "secret", "error"),
    [
        (BODY, None, SECRET, "X-Hub-Signature-256 is missing"),
        (BODY, "", SECRET, "X-Hub-Signature-256 is missing"),
        (BODY, "sha1=" + "0" * 40, SECRET, "is not sha256=..."),
        (BODY + b" ", DOCUMENTED, SECRET, "it does not match the body"),
        (BODY, DOCUMENTED, b"another secret", "it does not match the body"),
        (
            BODY,
            DOCUMENTED.upper().replace("SHA256", "sha256"),
            SECRET,
            "it does not match the body",
        ),
        (BODY, DOCUMENTED, b"", "no webhook secret is configured"),
    ],
)
def test_github_refusals(body: bytes, signature: str | None, secret: bytes, error: str) -> None:
    with pytest.raises(WebhookError, match=error):
        verify_github(body, signature, secret=secret)


@given(body=st.binary(), secret=st.binary(min_size=1), other=st.binary(min_size=1))
def test_only_the_right_secret_signs(body: bytes, secret: bytes, other: bytes) -> None:
    signature = "sha256=" + hmac.new(other, body, hashlib.sha256).hexdigest()
    if (
        hmac.new(other, body, hashlib.sha256).digest()
        == hmac.new(secret, body, hashlib.sha256).digest()
    ):
        verify_github(body, signature, secret=secret)
    else:
        with pytest.raises(WebhookError):
            verify_github(body, signature, secret=secret)


@pytest.mark.parametrize(
    ("token", "secret", "error"),
    [
        (None, "s3cret", "X-Gitlab-Token is missing"),
        ("wrong", "s3cret", "it does not match"),
        ("s3cret", "", "no webhook secret is configured"),
    ],
)
def test_gitlab_refusals(token: str | None, secret: str, error: str) -> None:
    with pytest.raises(WebhookError, match=error):
        verify_gitlab(token, secret=secret)
    verify_gitlab("s3cret", secret="s3cret")


def test_a_delivery_is_processed_once_and_memory_is_bounded() -> None:
    seen = Deliveries(capacity=2)
    assert seen.first_time("a") is True
    assert seen.first_time("a") is False
    assert seen.first_time("b") is True
    assert seen.first_time("c") is True  # forgets "a", the oldest
    assert seen.first_time("a") is True
    assert seen.first_time("c") is False
