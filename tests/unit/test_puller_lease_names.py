"""The names of the puller's Leases: one per environment, one per replica, never the same."""

from __future__ import annotations

import re

import pytest

from gitops_bot.puller.leases import env_lease, member_lease

# What the API server accepts as an object name (DNS-1123 subdomain).
_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


def test_an_environment_lease_is_the_prefix_and_the_environment() -> None:
    assert env_lease("gitops-bot-puller", "prod") == "gitops-bot-puller-prod"


@pytest.mark.parametrize(
    ("identity", "name"),
    [
        ("gitops-bot-puller-7d9f-x2k4q", "gitops-bot-puller.member.gitops-bot-puller-7d9f-x2k4q"),
        ("Laptop_Of.Someone", "gitops-bot-puller.member.laptop-of.someone"),
        ("--", "gitops-bot-puller.member.replica"),
        ("a" * 300, "gitops-bot-puller.member." + "a" * 228),
    ],
)
def test_a_member_lease_is_a_valid_name_from_any_identity(identity: str, name: str) -> None:
    made = member_lease("gitops-bot-puller", identity)
    assert made == name
    assert _SUBDOMAIN.fullmatch(made)
    assert len(made) <= 253


def test_no_environment_lease_can_be_a_member_lease() -> None:
    """Environment names are DNS labels (no dot): `<prefix>-<env>` never starts
    with `<prefix>.member.`, whatever the environment or the replica is called."""
    for env in ("member", "member-a", "a"):
        assert not env_lease("p", env).startswith("p.member.")
    assert member_lease("p", "a") != env_lease("p", "member-a")
