"""Endpoints of the Git database: refs, commits, trees and annotated tags.

Owns: reading, creating (422 "Reference already exists": the atomic step
locks rely on), moving (fast-forward unless forced) and deleting refs,
with git's rules for ref names; reading and creating commits; creating
trees (flat: one entry per path; `sha: null` deletes, and deleting a path
the tree does not have is GitHub's 422 "GitRPC::BadObjectState" for the
whole request); creating and reading annotated tag objects, which refs may
point to. In a repository that mirrors a real one (Store.attach_git), a
tree over a tree git has (or over none) and a commit of such a tree on
commits git has are written there too (tests/fakes/realgit.py) and kept
under git's SHAs, and creating, moving or deleting a ref to a commit git
has does the same there. Refuses: nested trees, blobs as their own
endpoint, signatures, and moving a real ref to a commit git lacks (it
stays where it was in git).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from tests.fakes import realgit
from tests.fakes.github_server.routing import invalid, route
from tests.fakes.github_server.state import Commit, HttpError, Json, Repo, TagRecord, digest

if TYPE_CHECKING:
    from tests.fakes.github_server.server import GitHubServer

# What `git check-ref-format` refuses, in short: "..", control characters,
# space ~ ^ : ? * [ \, a component starting with "." or ending with ".lock",
# "@{", and a trailing "/" or ".".
_BAD_REF = re.compile(r"\.\.|[\x00-\x20~^:?*\[\\]|@\{|/\.|\.lock(/|$)|[/.]$|//")


def _valid_ref(ref: str) -> bool:
    return _BAD_REF.search(ref) is None


def _set_real_ref(repo: Repo, name: str, sha: str) -> None:
    """Move the ref in the real repository too, when it has the commit."""
    git_dir = repo.git_dir
    if git_dir is not None and realgit.known(git_dir, [sha]):
        realgit.set_ref(git_dir, f"refs/{name}", sha)


@route("GET", "{repo}/git/ref/(?P<ref>.+)")
def _get_ref(s: GitHubServer, repo: Repo | None, p: dict[str, str], q: Any, b: Json) -> Any:
    assert repo is not None
    if p["ref"] not in repo.refs:
        raise HttpError(404, "Not Found")
    return s.ref_json(repo, p["ref"])


@route("POST", "{repo}/git/refs")
def _create_ref(s: GitHubServer, repo: Repo | None, p: dict[str, str], q: Any, b: Json) -> Any:
    assert repo is not None
    ref, sha = str(b.get("ref", "")), str(b.get("sha", ""))
    if not ref.startswith("refs/") or ref.count("/") < 2 or not _valid_ref(ref):
        raise invalid("Reference", "ref", f"{ref} is not a valid ref name", "invalid")
    if sha not in s.commits and sha not in s.tags:
        raise HttpError(422, "Object does not exist")
    name = ref.removeprefix("refs/")
    if name in repo.refs:
        raise HttpError(422, "Reference already exists")
    repo.refs[name] = sha
    _set_real_ref(repo, name, sha)
    payload = s.ref_json(repo, name)
    return 201, {"Location": payload["url"]}, payload


@route("PATCH", "{repo}/git/refs/(?P<ref>.+)")
def _update_ref(s: GitHubServer, repo: Repo | None, p: dict[str, str], q: Any, b: Json) -> Any:
    assert repo is not None
    name, sha = p["ref"], str(b.get("sha", ""))
    if name not in repo.refs:
        raise HttpError(422, "Reference does not exist")
    if sha not in s.commits:
        raise HttpError(422, "Object does not exist")
    if not b.get("force") and repo.refs[name] not in s._ancestors(sha):
        raise HttpError(422, "Update is not a fast forward")
    repo.refs[name] = sha
    _set_real_ref(repo, name, sha)
    return s.ref_json(repo, name)


@route("DELETE", "{repo}/git/refs/(?P<ref>.+)")
def _delete_ref(s: GitHubServer, repo: Repo | None, p: dict[str, str], q: Any, b: Json) -> Any:
    assert repo is not None
    if p["ref"] not in repo.refs:
        raise HttpError(422, "Reference does not exist")
    del repo.refs[p["ref"]]
    if repo.git_dir is not None:
        realgit.delete_ref(repo.git_dir, f"refs/{p['ref']}")
    return 204, {}, None


@route("GET", "{repo}/git/commits/(?P<sha>[0-9a-f]{40})")
def _get_commit(s: GitHubServer, repo: Repo | None, p: dict[str, str], q: Any, b: Json) -> Any:
    assert repo is not None
    if p["sha"] not in s.commits:
        raise HttpError(404, "Not Found")
    return s.commit_json(repo, s.commits[p["sha"]])


@route("POST", "{repo}/git/trees")
def _create_tree(s: GitHubServer, repo: Repo | None, p: dict[str, str], q: Any, b: Json) -> Any:
    assert repo is not None
    base = b.get("base_tree")
    if base is not None and base not in s.trees:
        raise invalid("Tree", "base_tree", "base_tree is not a valid tree oid", "invalid")
    entries = dict(s.trees[base]) if base else {}
    changes: dict[str, str | None] = {}
    for entry in b.get("tree", []):
        if entry.get("type") != "blob" or ("content" in entry) == ("sha" in entry):
            raise invalid("Tree", "tree", "tree entries need one of content or sha", "invalid")
        path = entry["path"]
        if "content" in entry:
            entries[path], changes[path] = s._blob(entry["content"]), entry["content"]
        elif entry["sha"] is None:
            if path not in entries:  # GitHub refuses the whole tree, not just the entry
                raise HttpError(422, "GitRPC::BadObjectState")
            del entries[path]
            changes[path] = None
        elif entry["sha"] in s.blobs:
            entries[path], changes[path] = entry["sha"], s.blobs[entry["sha"]]
        else:
            raise invalid("Tree", "tree.sha", f"{entry['sha']} is not a valid blob", "invalid")
    git_dir = repo.git_dir
    if git_dir is not None and (base is None or realgit.known(git_dir, [base], kind="tree")):
        sha = realgit.write_tree(git_dir, start=base, changes=changes)
        s.trees[sha] = entries
    else:
        sha = s._tree(entries)
    payload = s.tree_json(repo, sha)
    return 201, {"Location": payload["url"]}, payload


@route("POST", "{repo}/git/commits")
def _create_commit(s: GitHubServer, repo: Repo | None, p: dict[str, str], q: Any, b: Json) -> Any:
    assert repo is not None
    tree, parents = b.get("tree"), tuple(b.get("parents", ()))
    if tree not in s.trees or any(parent not in s.commits for parent in parents):
        raise invalid("Commit", "tree", "tree or parents do not exist", "invalid")
    message, git_dir = str(b.get("message", "")), repo.git_dir
    if (
        git_dir is not None
        and realgit.known(git_dir, [str(tree)], kind="tree")
        and realgit.known(git_dir, parents) == set(parents)
    ):
        date = s.now()
        sha = realgit.commit(git_dir, tree=str(tree), parents=parents, message=message, date=date)
        s.commits[sha] = Commit(sha, str(tree), parents, message, date)
    else:
        sha = s._commit_tree(str(tree), parents, message)
    payload = s.commit_json(repo, s.commits[sha])
    return 201, {"Location": payload["url"]}, payload


@route("POST", "{repo}/git/tags")
def _create_tag(s: GitHubServer, repo: Repo | None, p: dict[str, str], q: Any, b: Json) -> Any:
    assert repo is not None
    obj, kind = str(b.get("object", "")), str(b.get("type", ""))
    if kind != "commit" or obj not in s.commits:
        raise invalid("Tag", "object", f"{obj} is not a valid commit", "invalid")
    date = s.now()
    message = str(b.get("message", ""))
    sha = digest("tag", obj, b.get("tag"), message, date)
    tag = TagRecord(sha, str(b.get("tag", "")), message, obj, kind, p["login"], date)
    s.tags[sha] = tag
    payload = s.tag_json(repo, tag)
    return 201, {"Location": payload["url"]}, payload


@route("GET", "{repo}/git/tags/(?P<sha>[0-9a-f]{40})")
def _get_tag(s: GitHubServer, repo: Repo | None, p: dict[str, str], q: Any, b: Json) -> Any:
    assert repo is not None
    if p["sha"] not in s.tags:
        raise HttpError(404, "Not Found")
    return s.tag_json(repo, s.tags[p["sha"]])
