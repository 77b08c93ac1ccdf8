"""render.gitbases.parse: a remote kustomize entry as kustomize's repospec.go
reads it (the clone URL handed to git, the folder, the ref), for the forms
fetched here, and a clear refusal for the others."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gitops_bot.errors import RenderError
from gitops_bot.render import remote
from gitops_bot.render.gitbases import RepoRef, parse


@pytest.mark.parametrize(
    ("entry", "clone", "path", "ref"),
    [
        # kustomize's github shorthand: org/repo, then the folder
        ("github.com/org/repo/base?ref=v1", "https://github.com/org/repo", "base", "v1"),
        ("GitHub.com/org/repo//base?ref=v1", "https://github.com/org/repo", "base", "v1"),
        ("https://github.com/org/repo//deploy/base?ref=v1.2.0",
         "https://github.com/org/repo", "deploy/base", "v1.2.0"),
        # `//` ends the repository path; then `.git`; then `_git/` (Azure)
        ("https://gitlab.example.com/group/sub/repo.git//base?ref=abc",
         "https://gitlab.example.com/group/sub/repo.git", "base", "abc"),
        ("https://example.com/org/repo.git/base?version=v2",
         "https://example.com/org/repo.git", "base", "v2"),
        ("https://dev.azure.com/org/project/_git/repo/base?ref=main",
         "https://dev.azure.com/org/project/_git/repo", "base", "main"),
        ("http://127.0.0.1:8080/org/repo.git//x/y?ref=v1&timeout=10",
         "http://127.0.0.1:8080/org/repo.git", "x/y", "v1"),
        # no ref: the remote's HEAD; ref wins over version
        ("https://example.com/org/repo//base", "https://example.com/org/repo", "base", ""),
        ("https://example.com/org/repo//base?version=a&ref=b",
         "https://example.com/org/repo", "base", "b"),
        ("git::https://example.com/org/repo.git//base?ref=v1",
         "https://example.com/org/repo.git", "base", "v1"),
        ("https://example.com/org/repo.git", "https://example.com/org/repo.git", "", ""),
    ],
)  # fmt: skip
def test_entries_parse_as_kustomize_reads_them(entry: str, clone: str, path: str, ref: str) -> None:
    assert parse(entry, "k.yaml: resources entry x") == RepoRef(entry, clone, path, ref)


@pytest.mark.parametrize(
    ("entry", "said"),
    [
        ("git@github.com:org/repo.git//base?ref=v1", "a base over SSH or from a file"),
        ("ssh://git@example.com/org/repo.git//base", "a base over SSH or from a file"),
        ("file:///srv/repo.git//base", "a base over SSH or from a file"),
        ("https://example.com/manifests/app.yaml", "a remote file is not fetched here"),
        ("https://bot:pw@example.com/org/repo.git//base", "credentials in the URL"),
        ("https://example.com/org/repo.git//../up?ref=v1", "the folder leaves the repository"),
        ("https://example.com/repo?ref=v1", "no repository path in the URL"),
    ],
)
def test_what_is_not_fetched_is_refused_naming_why(entry: str, said: str) -> None:
    with pytest.raises(RenderError) as refused:
        parse(entry, "k.yaml: resources entry x")
    assert str(refused.value).startswith("k.yaml: resources entry x: ")
    assert said in str(refused.value)
    assert "pw" not in str(refused.value)


_segment = st.from_regex(r"[a-z][a-z0-9-]{0,8}", fullmatch=True)


@given(
    host=st.sampled_from(["github.com", "example.com", "git.example.org:8443"]),
    org=_segment,
    repo=_segment,
    folder=st.lists(_segment, max_size=3),
    ref=st.one_of(st.just(""), st.from_regex(r"v?[0-9]\.[0-9]{1,2}\.[0-9]", fullmatch=True)),
)
def test_a_parsed_entry_is_remote_and_its_parts_come_back(
    host: str, org: str, repo: str, folder: list[str], ref: str
) -> None:
    path = "/".join(folder)
    entry = f"https://{host}/{org}/{repo}.git//{path}" + (f"?ref={ref}" if ref else "")
    assert remote.is_remote(entry)  # the walk's definition agrees it is remote
    parsed = parse(entry, "w")
    assert parsed == RepoRef(entry, f"https://{host}/{org}/{repo}.git", path, ref)
