"""CODEOWNERS: GitHub's documented example, the pattern language, bad lines,
and a property test of the matcher against a slow reference."""

from __future__ import annotations

import fnmatch

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gitops_bot.core.policy import codeowners

# The example file of GitHub's "About code owners" page, abridged, with what
# the page says about each rule.
GITHUB_EXAMPLE = """\
# These owners will be the default owners for everything in
# the repo. Unless a later match takes precedence,
*       @global-owner1 @global-owner2

# Order is important; the last matching pattern takes the most
# precedence.
*.js    @js-owner #This is an inline comment.

*.go docs@example.com

*.txt @octo-org/octocats

/build/logs/ @doctocat

docs/* docs@example.com

apps/ @octocat

/docs/ @doctocat

/scripts/ @doctocat @octocat

**/logs @octocat

/apps/ @octocat
/apps/github
"""


@pytest.mark.parametrize(
    ("path", "owners"),
    [
        ("README.md", ("@global-owner1", "@global-owner2")),
        ("src/index.js", ("@js-owner",)),  # the later *.js wins; the inline comment is no owner
        ("main.go", ("docs@example.com",)),
        ("notes/todo.txt", ("@octo-org/octocats",)),
        # /build/logs/ owns build/logs, but the later **/logs takes precedence
        ("build/logs/today.log", ("@octocat",)),
        ("build/logs/old/yesterday.log", ("@octocat",)),
        # docs/* owns files directly in docs/, but a later /docs/ rule wins for them
        ("docs/getting-started.md", ("@doctocat",)),
        ("docs/build-app/troubleshooting.md", ("@doctocat",)),
        ("src/apps/web/main.py", ("@octocat",)),  # apps/ anywhere
        ("scripts/deploy.sh", ("@doctocat", "@octocat")),
        ("deeply/nested/logs/x.log", ("@octocat",)),  # **/logs
        ("scripts/logs/x.log", ("@octocat",)),  # **/logs is later than /scripts/
        ("apps/web/main.py", ("@octocat",)),
        ("apps/github/main.py", ()),  # a rule without owners: nobody owns it
    ],
)
def test_githubs_documented_example(path: str, owners: tuple[str, ...]) -> None:
    parsed = codeowners.parse(GITHUB_EXAMPLE)
    assert parsed.problems == ()
    assert parsed.owners_of(path) == owners


def test_docs_star_owns_only_direct_children() -> None:
    # GitHub: "docs/*" owns docs/getting-started.md, not docs/build-app/troubleshooting.md.
    parsed = codeowners.parse("* @all\ndocs/* @docs\n")
    assert parsed.owners_of("docs/getting-started.md") == ("@docs",)
    assert parsed.owners_of("docs/build-app/troubleshooting.md") == ("@all",)


@pytest.mark.parametrize(
    ("pattern", "path", "matches"),
    [
        # A name without slashes: at any depth, as a file or a folder.
        ("web", "web", True),
        ("web", "deploy/web", True),
        ("web", "deploy/web/app.yaml", True),
        ("web", "web.yaml", False),
        ("web", "deploy/webapp/x", False),
        # A leading slash anchors at the root.
        ("/web", "web/app.yaml", True),
        ("/web", "deploy/web/app.yaml", False),
        # A trailing slash: only what is below a folder of that name.
        ("web/", "web", False),
        ("web/", "web/app.yaml", True),
        ("web/", "deploy/web/app.yaml", True),
        ("/web/", "deploy/web/app.yaml", False),
        # A slash in the middle anchors too.
        ("deploy/web", "deploy/web/app.yaml", True),
        ("deploy/web", "x/deploy/web/app.yaml", False),
        ("deploy/web/", "deploy/web", False),
        ("deploy/web/", "deploy/web/a/b", True),
        # Wildcards.
        ("*", "anything/at/all", True),
        ("*.yaml", "a/b/c.yaml", True),
        ("*.yaml", "a/b/c.yml", False),
        ("/*", "top.txt", True),
        ("/*", "dir/file.txt", False),
        ("/*/", "dir/file.txt", True),
        ("/*/", "top.txt", False),
        ("d*", "deploy/x", True),
        ("d*/", "deploy", False),
        ("d*/", "x/deploy/y", True),
        ("deploy/*", "deploy/a.yaml", True),
        ("deploy/*", "deploy/a/b.yaml", False),
        ("deploy/*.yaml", "deploy/a.yaml", True),
        ("deploy/*.yaml", "deploy/a/b.yaml", False),
        ("deploy/*/kustomization.yaml", "deploy/prod/kustomization.yaml", True),
        ("deploy/*/kustomization.yaml", "deploy/kustomization.yaml", False),
        ("f?o", "foo", True),
        ("f?o", "fo", False),
        ("f?o", "f/o", False),
        # Double asterisks.
        ("**/logs", "logs", True),
        ("**/logs", "a/b/logs/x", True),
        ("**/logs", "a/blogs/x", False),
        ("deploy/**/values.yaml", "deploy/values.yaml", True),
        ("deploy/**/values.yaml", "deploy/a/b/values.yaml", True),
        ("deploy/**/values.yaml", "x/deploy/values.yaml", False),
        ("deploy/**", "deploy", False),
        ("deploy/**", "deploy/a/b", True),
        ("deploy/**/", "deploy/a", True),
        # Escapes.
        ("f\\*o", "f*o", True),
        ("f\\*o", "foo", False),
        ("my\\ file", "my file", True),
        # Leading slashes in paths are ignored.
        ("/web", "/web/app.yaml", True),
    ],
)
def test_patterns(pattern: str, path: str, matches: bool) -> None:
    assert codeowners.matches(pattern, path) is matches


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("!docs/ @a", "negation ('!') is not supported in CODEOWNERS; the line is skipped"),
        ("[abc].txt @a", "GitLab sections are not supported"),
        ("docs/[ab].md @a", "character ranges ('[...]') are not supported in CODEOWNERS"),
        ("a/***/b @a", "three asterisks in a row mean nothing"),
        ("/ @a", "the pattern '/' matches nothing"),
        ("docs/ alice", "'alice' is not an owner; write @user, @org/team or an e-mail address"),
        ("docs/ @a @", "'@' is not an owner"),
        ("^[Optional] @a", "GitLab sections are not supported"),
    ],
)
def test_bad_lines_are_skipped_with_a_reason(line: str, problem: str) -> None:
    parsed = codeowners.parse(f"* @default\n{line}\n", file=".github/CODEOWNERS")
    assert [r.pattern for r in parsed.rules] == ["*"]
    assert len(parsed.problems) == 1
    assert parsed.problems[0].startswith(".github/CODEOWNERS:2: ")
    assert problem in parsed.problems[0]


def test_rules_keep_their_line_and_escaped_hash_is_a_pattern() -> None:
    parsed = codeowners.parse("# comment\n\n\\#notes @a\n  docs/   @b   @c/d  # tail\n")
    assert [(r.pattern, r.owners, r.line) for r in parsed.rules] == [
        ("\\#notes", ("@a",), 3),
        ("docs/", ("@b", "@c/d"), 4),
    ]
    assert parsed.owners_of("#notes") == ("@a",)
    assert parsed.rule_for("docs/x") == parsed.rules[1]
    assert parsed.rule_for("other") is None
    assert parsed.owners_of("other") == ()


def test_a_file_over_three_megabytes_is_ignored_like_github_does() -> None:
    parsed = codeowners.parse("* @a\n" + "#" * (3 * 1024 * 1024))
    assert parsed.rules == ()
    assert parsed.problems == ("CODEOWNERS: larger than 3 MB; GitHub ignores it",)


@pytest.mark.parametrize(
    ("owner", "team"),
    [("@acme/sre", True), ("@group/sub/team", True), ("@alice", False), ("a@b.io", False)],
)
def test_is_team(owner: str, team: bool) -> None:
    assert codeowners.is_team(owner) is team


# -- the matcher agrees with a slow, segment-by-segment reference -------------


def _segments_match(pattern: list[str], parts: list[str]) -> bool:
    if not pattern:
        return not parts
    head, rest = pattern[0], pattern[1:]
    if head == "**":
        if not rest:  # a trailing ** needs something below
            return bool(parts)
        return any(_segments_match(rest, parts[i:]) for i in range(len(parts) + 1))
    return bool(parts) and fnmatch.fnmatchcase(parts[0], head) and _segments_match(rest, parts[1:])


def reference(pattern: str, path: str) -> bool:
    """gitignore's rules as GitHub applies them, written the slow way: a
    pattern matches a path if it matches the path or one of its folders."""
    folder_only = pattern.endswith("/")
    body = pattern.strip("/")
    segments = body.split("/")
    if not (pattern.startswith("/") or "/" in body) and segments[0] != "**":
        segments = ["**", *segments]
    if folder_only and segments[-1] != "**":
        segments.append("**")
    parts = path.split("/")
    if segments[-1] == "*":  # a lone trailing * names direct children only
        return _segments_match(segments, parts)
    return any(_segments_match(segments, parts[:k]) for k in range(1, len(parts) + 1))


_segment = st.sampled_from(["a", "b", "ab", "*", "a*", "*b", "?", "**", "a?"])
_patterns = st.builds(
    lambda lead, segs, trail: lead + "/".join(segs) + trail,
    st.sampled_from(["", "/"]),
    st.lists(_segment, min_size=1, max_size=4),
    st.sampled_from(["", "/"]),
).filter(lambda p: "***" not in p)
_paths = st.lists(st.sampled_from(["a", "b", "ab", "ba", "aab"]), min_size=1, max_size=5).map(
    "/".join
)


@settings(max_examples=2000, deadline=None)
@given(_patterns, _paths)
def test_the_matcher_agrees_with_the_reference(pattern: str, path: str) -> None:
    assert codeowners.matches(pattern, path) is reference(pattern, path)


@settings(max_examples=300, deadline=None)
@given(_paths, _paths)
def test_an_anchored_folder_owns_everything_below_it(folder: str, rest: str) -> None:
    assert codeowners.matches(f"/{folder}/", f"{folder}/{rest}")
    assert codeowners.matches(f"/{folder}", f"{folder}/{rest}")
    assert not codeowners.matches(f"/{folder}/", folder)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_parse_never_raises(text: str) -> None:
    parsed = codeowners.parse(text)
    for rule in parsed.rules:
        assert all(codeowners.is_owner_spelling(o) for o in rule.owners)
        codeowners.matches(rule.pattern, "some/path")
