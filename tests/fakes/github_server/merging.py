"""Merging a pull request in the emulator, and finding the pull requests of a commit.

Owns: GitHub's refusals of a merge (405 not open or not mergeable, 409 the
head moved since the `sha` the client sent), the merge commit (parents:
the base branch's head, then the pull request's head), and moving the base
branch to it. When the repository mirrors a real bare git repository
(Store.attach_git) and that repository has both commits, the merge is
made there with git itself (`git merge-tree`, `git commit-tree`, and a
compare-and-swap `git update-ref`), so its SHA is real, its files here
are the merged ones, and a puller can fetch it; otherwise it is a
three-way merge of the emulator's flat trees.
Refuses: squash and rebase merges, and merging conflicting changes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tests.fakes import merges
from tests.fakes.github_server.state import Commit, HttpError, PullRecord, Repo

if TYPE_CHECKING:
    from tests.fakes.github_server.store import Store


def _flat_merge(s: Store, base: str, head: str) -> str:
    """A three-way merge of the emulator's flat trees; 405 on a conflict."""
    ours, theirs = s.trees[s.commits[base].tree], s.trees[s.commits[head].tree]
    common = set(s._ancestors(base))
    fork = next((sha for sha in s._ancestors(head) if sha in common), None)
    start = s.trees[s.commits[fork].tree] if fork else {}
    merged = merges.merge_trees(start, ours, theirs)
    if merged is None:
        raise HttpError(405, "Pull Request is not mergeable")
    return s._tree(merged)


def merge(s: Store, repo: Repo, pull: PullRecord, *, expected: object, login: str) -> str:
    """Merge `pull` into its base branch; the merge commit's SHA."""
    if pull.state != "open":
        raise HttpError(405, "Pull Request is not mergeable")
    if expected and expected != pull.head_sha:
        raise HttpError(409, "Head branch was modified. Review and try the merge again.")
    base = repo.refs[f"heads/{pull.base_ref}"]
    head_repo = s.repos[pull.head_repo]
    message = f"Merge pull request #{pull.number} from {head_repo.owner}/{pull.head_ref}"
    git_dir = repo.git_dir
    if git_dir is not None and merges.has(git_dir, base) and merges.has(git_dir, pull.head_sha):
        made = merges.git_merge(
            git_dir, pull.base_ref, base=base, head=pull.head_sha, message=message
        )
        if made is None:
            raise HttpError(405, "Pull Request is not mergeable")
        sha = made
        tree = s._real_tree(git_dir, sha)
        s.commits[sha] = Commit(sha, tree, (base, pull.head_sha), message, s.now())
    else:
        sha = s._commit_tree(_flat_merge(s, base, pull.head_sha), (base, pull.head_sha), message)
    repo.refs[f"heads/{pull.base_ref}"] = sha
    pull.state, pull.merged, pull.merge_commit_sha = "closed", True, sha
    pull.closed_at = s.now()
    return sha


def pulls_of(s: Store, repo: Repo, sha: str) -> list[PullRecord]:
    """What GET .../commits/{sha}/pulls lists: the merged pull request that brought
    `sha` to the default branch, or, for a commit not there, the open ones with it."""
    default = repo.refs[f"heads/{repo.default_branch}"]
    if sha in set(s._ancestors(default)):
        return [
            pull
            for pull in repo.pulls.values()
            if pull.merged and (sha == pull.merge_commit_sha or sha in _introduced(s, pull))
        ]
    return [
        pull for pull in repo.pulls.values() if pull.state == "open" and sha in _introduced(s, pull)
    ]


def _introduced(s: Store, pull: PullRecord) -> set[str]:
    """The commits of the pull request: its head's history minus its base's."""
    return set(s._ancestors(pull.head_sha)) - set(s._ancestors(pull.base_sha))
