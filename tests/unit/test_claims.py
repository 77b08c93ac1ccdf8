"""The ref allow-list and the claims that bind an OIDC token to our repository (core.pr.claims)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gitops_bot.core.pr import claims
from gitops_bot.errors import ConfigError

BINDING = claims.Binding(
    repository="octo-org/octo-repo", refs=("refs/pull/*/merge", "refs/heads/main")
)
GOOD = {
    "repository": "octo-org/octo-repo",
    "repository_id": "74",
    "ref": "refs/pull/7/merge",
    "sha": "a" * 40,
    "run_id": "5001",
    "event_name": "pull_request",
    "actor": "octocat",
    "jti": "j1",
}


@pytest.mark.parametrize(
    ("pattern", "ref", "matches"),
    [
        ("refs/heads/main", "refs/heads/main", True),
        ("refs/heads/main", "refs/heads/main2", False),
        ("refs/heads/main", "refs/heads/mai", False),
        ("refs/pull/*/merge", "refs/pull/12/merge", True),
        ("refs/pull/*/merge", "refs/pull//merge", False),
        ("refs/pull/*/merge", "refs/pull/1/2/merge", False),
        ("refs/pull/*/merge", "refs/pull/12/head", False),
        ("refs/tags/v*", "refs/tags/v1.2.3", True),
        ("refs/tags/v*", "refs/tags/1.2.3", False),
        ("refs/tags/v*", "refs/tags/v", False),
        ("refs/heads/release/**", "refs/heads/release/2026/12", True),
        ("refs/heads/release/**", "refs/heads/release", False),
        ("refs/heads/*", "refs/heads/feature/x", False),
        ("refs/heads/ma.n", "refs/heads/main", False),  # a dot is a dot
        ("refs/heads/(a|b)", "refs/heads/a", False),
    ],
)
def test_ref_patterns(pattern: str, ref: str, matches: bool) -> None:
    assert claims.ref_matches(pattern, ref) is matches


@pytest.mark.parametrize(
    ("pattern", "why"),
    [
        ("main", "not a full ref"),
        ("heads/main", "not a full ref"),
        ("refs/heads//main", "empty path segment"),
        ("refs/heads/", "empty path segment"),
        ("refs/heads/a**", "whole path segment"),
    ],
)
def test_malformed_patterns_are_configuration_errors(pattern: str, why: str) -> None:
    with pytest.raises(ConfigError, match=why):
        claims.check_pattern(pattern)


_SEGMENT = st.text(
    alphabet=st.characters(blacklist_characters="/*", blacklist_categories=("Cs",)), min_size=1
)
_REF = st.lists(_SEGMENT, min_size=1, max_size=5).map(lambda parts: "/".join(["refs", *parts]))


@given(_REF)
def test_a_pattern_without_wildcards_matches_exactly_itself(ref: str) -> None:
    assert claims.ref_matches(ref, ref)
    assert not claims.ref_matches(ref, ref + "x")
    assert not claims.ref_matches(ref, ref + "/x")


@given(st.lists(_SEGMENT, min_size=2, max_size=5), st.data())
def test_a_star_stands_for_one_whole_segment_and_never_a_slash(
    parts: list[str], data: st.DataObject
) -> None:
    index = data.draw(st.integers(min_value=0, max_value=len(parts) - 1))
    pattern = "/".join(["refs", *parts[:index], "*", *parts[index + 1 :]])
    assert claims.ref_matches(pattern, "/".join(["refs", *parts]))
    split = [*parts[:index], "a/b", *parts[index + 1 :]]
    assert not claims.ref_matches(pattern, "/".join(["refs", *split]))


@given(st.lists(_SEGMENT, min_size=1, max_size=3), st.lists(_SEGMENT, max_size=3))
def test_a_double_star_stands_for_one_segment_or_more(head: list[str], tail: list[str]) -> None:
    pattern = "/".join(["refs", *head, "**"])
    assert claims.ref_matches(pattern, "/".join(["refs", *head, *tail])) is bool(tail)


@given(_REF, _REF)
def test_without_wildcards_a_pattern_is_literal_whatever_regex_syntax_it_holds(
    pattern: str, ref: str
) -> None:
    assert claims.ref_matches(pattern, ref) is (pattern == ref)


def test_good_claims_are_bound() -> None:
    bound = claims.bind(GOOD, BINDING)
    assert bound == claims.Bound(
        repository="octo-org/octo-repo",
        ref="refs/pull/7/merge",
        sha="a" * 40,
        run_id="5001",
        event_name="pull_request",
        actor="octocat",
        jti="j1",
    )
    assert isinstance(bound, claims.Bound)
    assert bound.who == "github-oidc octo-org/octo-repo@refs/pull/7/merge aaaaaaaaaaaa"


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"repository": "octo-org/other"}, "for the repository 'octo-org/other'"),
        ({"repository": "OCTO-ORG/octo-repo"}, "for the repository 'OCTO-ORG/octo-repo'"),
        ({"repository": None}, "for the repository None"),
        ({"repository": ["octo-org/octo-repo"]}, "for the repository None"),
        ({"ref": "refs/heads/dev"}, "the ref 'refs/heads/dev' is not one of"),
        ({"ref": None}, "the ref '' is not one of"),
        ({"sha": "abc"}, "no commit sha"),
        ({"sha": None}, "no commit sha"),
        ({"repository_id": "75"}, "repository_id is not 74"),
        ({"repository_id": None}, "repository_id is not 74"),
        ({"repository_id": True}, "repository_id is not 74"),
    ],
)
def test_claims_that_do_not_bind(change: dict[str, object], why: str) -> None:
    binding = claims.Binding(repository="octo-org/octo-repo", refs=BINDING.refs, repository_id="74")
    found = claims.bind({**GOOD, **change}, binding)
    assert isinstance(found, claims.NotBound)
    assert why in found.reason


def test_a_numeric_repository_id_claim_is_read_as_text() -> None:
    binding = claims.Binding(repository="octo-org/octo-repo", refs=BINDING.refs, repository_id="74")
    assert isinstance(claims.bind({**GOOD, "repository_id": 74}, binding), claims.Bound)


@pytest.mark.parametrize(
    ("repository", "refs", "why"),
    [
        ("octo-repo", ("refs/heads/main",), "not owner/name"),
        ("a/b/c", ("refs/heads/main",), "not owner/name"),
        ("octo-org/octo-repo", (), "allow-list is empty"),
        ("octo-org/octo-repo", ("main",), "not a full ref"),
    ],
)
def test_a_binding_is_checked_when_made(repository: str, refs: tuple[str, ...], why: str) -> None:
    with pytest.raises(ConfigError, match=why):
        claims.Binding(repository=repository, refs=refs)
