"""GitHub's side of the Locks port: one holder per environment, taken atomically.

Owns: the lock of environment E as the git ref `refs/gitops-bot/locks/E`
pointing to an annotated tag object whose message records the holder
(core.forge.format_lock) and whose tagger date is when it was taken.
Creating a ref is atomic on GitHub (POST .../git/refs answers 422
"Reference already exists" to the second of two racing runs), so two runs
cannot both hold it. The ref lives outside refs/heads and refs/tags: no
branch or tag appears, and no push or tag workflow runs.

Refuses: to release a lock another pull request holds (release_lock says
False), and to read a ref there that gitops-bot did not write (ForgeError).
"""

from __future__ import annotations

from github import GithubException
from github.GitRef import GitRef

from gitops_bot.core.forge import Lock, check_lock_env, format_lock, parse_lock
from gitops_bot.errors import ForgeError
from gitops_bot.forges.github.client import Client, when

LOCK_REFS = "gitops-bot/locks"  # under refs/
_MISSING = 404
_EXISTS = 422
_TRIES = 3  # a lock released between our read and our create: read again


class LocksPart(Client):
    def lock_holder(self, env: str) -> Lock | None:
        """GET the ref (404: nobody), then GET the tag it points to: 2 requests."""
        name = check_lock_env(env)
        with self._doing(f"reading the lock of {env} in {self._name}"):
            found = self._holder(name)
            return found[1] if found else None

    def _holder(self, env: str) -> tuple[GitRef, Lock] | None:
        ref = self._repo.get_git_ref(f"{LOCK_REFS}/{env}")
        try:
            target = ref.object  # the GET; it also gives the ref the URL to DELETE
        except GithubException as err:
            if err.status == _MISSING:
                return None
            raise
        if target.type != "tag":
            raise ForgeError(
                f"reading the lock of {env} in {self._name}: refs/{LOCK_REFS}/{env} points to "
                f"a {target.type}, not a lock gitops-bot wrote; delete the ref"
            )
        tag = self._repo.get_git_tag(target.sha)
        return ref, parse_lock(tag.message, since=when(tag.tagger.date))

    def acquire_lock(self, env: str, *, pull: int, sha: str) -> Lock:
        """Held already (by us or another): 2 requests. Free: 3 (the read, a tag, a ref)."""
        name = check_lock_env(env)
        with self._doing(f"taking the lock of {env} for {self._name}#{pull}"):
            for _ in range(_TRIES):
                found = self._holder(name)
                if found is not None:
                    return found[1]
                tag = self._repo.create_git_tag(
                    tag=f"gitops-bot-lock-{name}",
                    message=format_lock(name, pull=pull, sha=sha),
                    object=sha,
                    type="commit",
                )
                try:
                    self._repo.create_git_ref(f"refs/{LOCK_REFS}/{name}", tag.sha)
                except GithubException as err:
                    if err.status != _EXISTS or "already exists" not in str(err.data):
                        raise
                    continue  # another run took it between our read and our create
                return Lock(env=name, pull=pull, sha=sha, since=when(tag.tagger.date))
        raise ForgeError(
            f"taking the lock of {env} for {self._name}#{pull}: it changed hands "
            f"{_TRIES} times while we tried; try again"
        )

    def release_lock(self, env: str, *, pull: int) -> bool:
        """Delete the ref if `pull` holds it: 3 requests (2 when it does not)."""
        name = check_lock_env(env)
        with self._doing(f"releasing the lock of {env} for {self._name}#{pull}"):
            found = self._holder(name)
            if found is None or found[1].pull != pull:
                return False
            try:
                found[0].delete()
            except GithubException as err:
                if err.status == _EXISTS:  # 422 "Reference does not exist": gone already
                    return False
                raise
            return True
