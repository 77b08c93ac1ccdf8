"""render.remote: what counts as remote, against kustomize's own test cases.

The table's rows come from kustomize's tests (api/internal/git/repospec_test.go
and api/internal/loader/fileloader_test.go, each row names its test and case)
and from git's URL rules (git-fetch(1) "GIT URLS"). `kustomize_fetches`
below is a port of what makes kustomize fetch a reference (NewRepoSpecFromURL
succeeding, or IsRemoteFile); the hypothesis tests check that whatever it
accepts, render.remote calls remote too (fail closed: render.remote may call
more remote, never less).
"""

from __future__ import annotations

import posixpath
import re

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from gitops_bot.render import remote

# (reference, remote?, where the row comes from)
REMOTE_ROWS = [
    # repospec_test.go TestNewRepoSpecFromUrl_Smoke
    ("https://git-codecommit.us-east-2.amazonaws.com/someorg/somerepo/somedir", "Smoke/https aws"),
    ("https://fabrikops2.visualstudio.com/someorg/somerepo?ref=master", "Smoke/legacy azure"),
    ("http://github.com/someorg/somerepo/somedir", "Smoke/http github"),
    ("git@github.com:someorg/somerepo/somedir", "Smoke/scp github"),
    ("git@github.com:someorg/somerepo.git/somedir", "Smoke/scp github with git suffix"),
    ("git@gitlab2.sqtools.ru:infra/kubernetes/thanos-base.git?ref=v0.1.0", "Smoke/non-github_scp"),
    ("git@bitbucket.org:company/project.git//path?ref=branch", "Smoke/non-github_scp //"),
    ("git@bitbucket.org/company/project.git//path?ref=branch", "Smoke/scp using slash"),
    ("ssh://git@bitbucket.org/company/project.git//path?ref=branch", "Smoke/git-user_ssh"),
    ("https://itfs.mycompany.com/collection/project/_git/somerepos", "Smoke/_git host"),
    ("git::https://itfs.mycompany.com/collection/project/_git/somerepos", "Smoke/_git git::"),
    ("ssh://git-codecommit.us-east-2.amazonaws.com/someorg/somerepo/somepath", "Smoke/ssh aws"),
    ("git@github.com/someorg/somerepo/somepath", "Smoke/scp Github slash fixed to colon"),
    ("file://a/b/c/someRepo.git/somepath?ref=someBranch", "Smoke/file git-suffixed"),
    ("file:///a/b/c/someRepo?ref=someBranch", "Smoke/file three slashes"),
    ("file:///", "Smoke/file no repo"),
    ("ssh://alice@example.com/path/to/repo//examples/multibases/dev", "Smoke/arbitrary ssh"),
    (
        "https://authority/org/repo/%-invalid-uri-so-not-parsable-by-net/url.Parse",
        "Smoke/non_parsable",
    ),
    (
        "ssh://myusername@bitbucket.org/ourteamname/ourrepositoryname.git//path?ref=branch",
        "Smoke/user",
    ),
    ("file://git@home/path/to/repository.git//path?ref=branch", "Smoke/username-like file"),
    ("ssh://git@ssh.github.com:443/YOUR-USERNAME/YOUR-REPOSITORY.git", "Smoke/github ssh docs"),
    ("git@gitlab.com/user:name/YOUR-REPOSITORY.git/path", "Smoke/colon behind slash"),
    ("git@gitlab.com:gitlab-tests/sample-project", "Smoke/gitlab without suffix"),
    ("https://username@dev.azure.com/org/project/_git/repo//path/to/root", "Smoke/azure _git //"),
    ("ssh://org-12345@github.com/kubernetes-sigs/kustomize", "Smoke/ssh custom username"),
    ("org-12345@github.com/kubernetes-sigs/kustomize", "Smoke/scp custom username"),
    ("git@gist.github.com:bc7947cb727d7f9217e7862d961a1ffd.git", "Smoke/scp gist"),
    # repospec_test.go TestNewRepoSpecFromUrl_Permute, its host spellings
    ("gitHub.com/someOrg/someRepo/foo/krusty.txt?ref=group/version", "Permute/gitHub.com/"),
    ("github.com:someOrg/someRepo", "Permute/github.com:"),
    ("hTTps://github.com/kubernetes/website/README.md", "Permute/hTTps://"),
    ("ssh://git.example.com:7999/someOrg/someRepo", "Permute/ssh port"),
    ("git::http://git.example.com/someOrg/someRepo?ref=v0.1.0", "Permute/git::http"),
    ("git::git@github.com:someOrg/someRepo", "Permute/git::git@"),
    ("org-12345@github.com:kubernetes/website", "Permute/org-12345@github.com:"),
    # repospec_test.go TestNewRepoSpecFromUrlErrors: kustomize does not clone these,
    # but fetches them over HTTP (IsRemoteFile) or git would read them as a remote
    ("https://host?ref=group/version/minor_version", "Errors/query_after_host (HTTP GET)"),
    ("https://github.com/thisisa404.yaml", "Errors/missing orgrepo (HTTP GET)"),
    ("https://github.com/org/repo.git//path/../../exits/repo", "Errors/path_exits_repo (GET)"),
    ("gh:org/repo", "Errors/gh: prefix (git: scp-like host gh)"),
    ("git::___", "Errors/hashicorp_git_only (fail closed)"),
    ("htxxxtp://github.com/", "Errors/bad_scheme (fail closed)"),
    ("ssh://git.example.com", "Errors/no_org_repo (fail closed)"),
    ("file:////tmp//path/to/whatever", "Errors/excessive slashes (fail closed)"),
    ("git@scp://github.com/org/repo.git//path", "Errors/protocol after username (fail closed)"),
    # fileloader_test.go TestIsRemoteFile
    (
        "https://raw.githubusercontent.com/kubernetes-sigs/kustomize/master/x.yaml",
        "IsRemoteFile/https",
    ),
    (
        "https:/raw.githubusercontent.com/kubernetes-sigs/kustomize/master/x.yaml",
        "IsRemoteFile/https:/",
    ),
    (
        "https://github.com/kubernetes-sigs/kustomize//examples/helloWorld/",
        "IsRemoteFile/https dir",
    ),
    ("github.com/kubernetes-sigs/kustomize//examples/helloWorld/", "IsRemoteFile/no scheme"),
    ("ssh://git@github.com/kubernetes-sigs/kustomize.git", "IsRemoteFile/ssh"),
    # fileloader_test.go TestLoaderLocalScheme: local only when a folder "ssh:" exists
    ("ssh://resource.yaml", "LoaderLocalScheme/file (fail closed)"),
    ("https://root", "LoaderLocalScheme/directory (fail closed)"),
    # issue 15 and git's URL rules: scp-like for any user, schemes in any case
    ("probe@127.0.0.1:org/repo//base", "issue 15: scp-like, any user"),
    ("_weird.user@127.0.0.1:org/repo", "git: scp-like, a user kustomize's regexp refuses"),
    ("127.0.0.1:org/repo", "git: scp-like without user"),
    ("[::1]:org/repo", "git: scp-like IPv6"),
    ("GIT::HTTPS://example.com/org/repo", "schemes in any case"),
    ("File:///etc/kubernetes", "file:// in any case"),
    ("HTTP://example.com/cm.yaml", "http in any case"),
    ("oci://registry.example.com/charts/x", "any scheme (fail closed)"),
    (" https://example.com/cm.yaml", "surrounding space"),
    ("gitlab.com/org/repo//base?ref=v1", "host-first, non-GitHub (older kustomize)"),
    ("GITHUB.COM/org/repo", "host-first GitHub, any case"),
    ("10.0.0.1/org/repo", "host-first IPv4"),
    ("base?ref=main", "a git ref query"),
    ("user@host/org/repo", "user@ without colon"),
]
LOCAL_ROWS = [
    # repospec_test.go TestNewRepoSpecFromUrlErrors
    ("../../tmp", "Errors/relative path"),
    ("src/github.com/org/repo/path", "Errors/local path like a github url"),
    ("iauhsdiuashduas", "Errors/no_slashes"),
    ("github.com!org/repo.git//path", "Errors/bad github separator"),
    ("/tmp", "Errors/absolute_path (outside: refused by the walk)"),  # noqa: S108
    # fileloader_test.go TestIsRemoteFile
    ("pod.yaml", "IsRemoteFile/local"),
    # the way to name a folder that looks remote
    ("./github.com/org/repo", "./ prefix"),
    ("./ssh:/resource.yaml", "./ prefix with a colon"),
    ("../gitlab.com/org/repo", "../ prefix"),
    ("base/cm:v1.yaml", "colon after the first slash (git: a local path)"),
    ("overlays/prod", "plain folder"),
    ("v1.2/base", "dotted folder, numeric last label"),
    ("app.v2/base", "dotted folder, alphanumeric last label"),
    ("deployment.yaml", "plain file"),
    (".", "current folder"),
]


@pytest.mark.parametrize(("reference", "source"), REMOTE_ROWS, ids=[r[1] for r in REMOTE_ROWS])
def test_remote_references(reference: str, source: str) -> None:
    assert remote.why(reference), f"{reference!r} ({source}) taken for a local path"


@pytest.mark.parametrize(("reference", "source"), LOCAL_ROWS, ids=[r[1] for r in LOCAL_ROWS])
def test_local_references(reference: str, source: str) -> None:
    assert remote.why(reference) is None, f"{reference!r} ({source}) taken for remote"


def test_reasons_say_how_it_would_be_fetched() -> None:
    assert remote.why("probe@127.0.0.1:org/repo//base") == (
        "an scp-like address (host:path), which git fetches over SSH"
    )
    assert remote.why("HTTPS://example.com/x.yaml") == "a URL"
    assert remote.why("github.com/org/repo") == "a GitHub repository, which kustomize clones"
    assert remote.why("cert-manager.io/base") == (
        "a host name followed by a path, which kustomize may clone; "
        "a folder of the repository is written ./cert-manager.io/base"
    )
    assert remote.why("./cert-manager.io/base") is None


@pytest.mark.parametrize(
    ("repository", "local"),
    [
        ("file://../common", "../common"),
        ("file://charts/sub", "charts/sub"),
        ("https://charts.example.com", None),
        ("oci://registry.example.com/charts", None),
        ("@stable", None),
        ("alias:stable", None),
        ("", None),
    ],
)
def test_chart_dependencies(repository: str, local: str | None) -> None:
    assert remote.chart_dependency(repository) == local


# --- a port of what makes kustomize fetch, as the oracle of the property tests ------


def kustomize_fetches(n: str) -> bool:
    """Whether kustomize (v5) would fetch reference `n`: IsRemoteFile or a RepoSpec."""
    return _is_remote_file(n) or _repo_spec(n)


def _is_remote_file(n: str) -> bool:
    # Go's url.Parse: a scheme is a letter then [A-Za-z0-9+.-] up to ':', compared lower-case.
    match = re.match(r"([A-Za-z][A-Za-z0-9+.-]*):", n)
    return bool(match) and match.group(1).lower() in ("http", "https")


def _repo_spec(n: str) -> bool:
    """NewRepoSpecFromURL(n) returns no error."""
    if n.startswith("/"):
        return False
    n = n.partition("?")[0]
    if n[:5].lower() == "git::":
        n = n[5:]
    scheme = ""
    for prefix in ("ssh://", "https://", "http://", "file://"):
        if n[: len(prefix)].lower() == prefix:
            scheme, n = prefix, n[len(prefix) :]
            break
    user = re.match(r"[a-zA-Z][a-zA-Z0-9-]*@", n)
    username = user.group(0) if user else ""
    n = n[len(username) :]
    github = n.lower().startswith(("github.com/", "github.com:"))
    scp = scheme == "" and (username != "" or github)
    if scheme == "" and not scp:
        return False
    if scheme == "file://":
        rest, every_segment = username + n, True
    else:
        sep = n.find("/")
        colon = n.find(":")
        if scp and (sep == -1 or 0 < colon < sep):
            sep = colon
        host, rest = (n[: sep + 1], n[sep + 1 :]) if sep >= 0 else (n, "")
        if not host and not github:
            return False
        every_segment = False
    return _path_parts(rest, every_segment=every_segment)


def _path_parts(n: str, *, every_segment: bool) -> bool:
    if (at := n.find("_git/")) >= 0:
        name, _, root = n[at + 5 :].partition("/")
        repo = n[: at + 5] + name
    elif (at := n.find("//")) >= 0:
        repo, root = n[:at], n[at + 2 :]
    elif (at := n.find(".git")) >= 0:
        repo, root = n[: at + 4], n[at + 4 :]
    elif every_segment:
        repo, root = n, ""
    elif len(segments := n.split("/")) >= 2:  # org/repo
        repo, root = "/".join(segments[:2]), "/".join(segments[2:])
    else:
        return False
    return bool(repo) and posixpath.normpath(root.removeprefix("/")).split("/")[0] != ".."


PIECES = [
    "git::", "GIT::", "https://", "hTTps://", "http://", "ssh://", "file://", "File://",
    "git@", "org-1@", "probe@", "_u@", "github.com", "GitHub.com", "gist.github.com",
    "127.0.0.1", "example.com", ":", "/", "//", ".git", "_git/", "?ref=", "?version=",
    "v1", "org", "repo", "..", ".", "x.yaml", "a b", "~", "%2F", "@",
]  # fmt: skip
references = st.one_of(
    st.lists(st.sampled_from(PIECES), max_size=9).map("".join),
    st.text(alphabet=st.sampled_from(list("aG:/@.?=_-~ 1")), max_size=30),
)


@given(references)
@example("probe@127.0.0.1:org/repo//base")
@example("gitHub.com/someOrg/someRepo")
def test_whatever_kustomize_would_fetch_is_remote(reference: str) -> None:
    if kustomize_fetches(reference):
        assert remote.why(reference), reference


@given(
    user=st.from_regex(r"[^/:@\s]{1,12}", fullmatch=True),
    host=st.from_regex(r"[A-Za-z0-9.\-\[\]]{1,20}", fullmatch=True),
    path=st.from_regex(r"[^\s]{0,20}", fullmatch=True),
)
def test_scp_like_is_remote_for_any_user(user: str, host: str, path: str) -> None:
    # git: "[user@]host.xz:path/to/repo.git/", ssh whenever a colon comes before any slash
    assert remote.why(f"{user}@{host}:{path}")


@given(
    scheme=st.sampled_from(["http", "https", "ssh", "file", "git::https", "git::ssh", "oci"]),
    case=st.lists(st.booleans(), min_size=10, max_size=10),
    rest=st.text(max_size=20),
)
def test_schemes_in_any_case_are_remote(scheme: str, case: list[bool], rest: str) -> None:
    spelled = "".join(c.upper() if up else c for c, up in zip(scheme, case, strict=False))
    assert remote.why(f"{spelled}://{rest}")


@given(st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=30))
def test_a_dot_slash_path_is_always_local(rest: str) -> None:
    assert remote.why("./" + rest.lstrip()) is None
