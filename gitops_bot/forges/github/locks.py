"""GitHub's side of the Locks port: one holder per environment, taken atomically.

Owns: the lock of environment E as the git ref `refs/gitops-bot/locks/E`
pointing to an annotated tag object whose message records the holder
(core.forge.format_lock) and whose tagger date is when it was taken.
Creating a ref is atomic on GitHub (POST .../git/refs answers 422
"Reference already exists" to the second of two racing runs), so two runs
cannot both hold it. The ref lives outside refs/heads and refs/tags: no
branch or tag appears, and no push or tag workflow runs.

A lock whose pull request is merged or closed counts as released when it is
read (a lost `closed` delivery or a disabled workflow must not lock the
environment for good): acquire_lock and lock_holder delete it, then read
again. Every deletion of a lock, that one and release_lock's, first creates
the marker ref `refs/gitops-bot/locks/E.released-PULL-SINCE` named after
the very lock it deletes, and deletes the lock only if it still is that
one: the marker is created atomically like the lock, so of runs racing to
clear one stale lock exactly one deletes it, and none deletes the lock a
third run took meanwhile. The marker is deleted afterwards.

Refuses: to release a lock another pull request holds (release_lock says
False), and to read a ref there that gitops-bot did not write (ForgeError).
"""

from __future__ import annotations

import re

from github import GithubException
from github.GitRef import GitRef

from gitops_bot.core.pr.model import Lock, check_lock_env, format_lock, parse_lock
from gitops_bot.errors import ForgeError
from gitops_bot.forges.github.client import Client, when

LOCK_REFS = "gitops-bot/locks"  # under refs/
_MISSING = 404
_EXISTS = 422
_TRIES = 3  # a lock released between our read and our create: read again


def _marker(env: str, lock: Lock) -> str:
    """The ref whose creation makes one run the one that deletes `lock` (a `.` never
    appears in an environment's name, so no lock's ref is ever a marker's)."""
    return f"refs/{LOCK_REFS}/{env}.released-{lock.pull}-{re.sub(r'[^0-9]', '', lock.since)}"


class LocksPart(Client):
    def lock_holder(self, env: str) -> Lock | None:
        """GET the ref (404: nobody), then GET the tag it points to: 2 requests, and
        1 more (is its pull request open?); held by one merged or closed, that
        lock is deleted and None returned."""
        name = check_lock_env(env)
        with self._doing(f"reading the lock of {env} in {self._name}"):
            found = self._live(name)
            return found[1] if found else None

    def _gone(self, number: int) -> bool:
        """Whether pull request `number` is merged or closed: its lock is stale."""
        try:
            return self._repo.get_pull(number).state == "closed"
        except GithubException as err:
            if err.status == _MISSING:  # none to ask: keep the lock (unlock frees it)
                return False
            raise

    def _delete(self, env: str, found: tuple[GitRef, Lock]) -> bool:
        """Delete env's lock if it still is `found`; True if this run deleted it."""
        ref, lock = found
        marker = _marker(env, lock)
        try:
            made = self._repo.create_git_ref(marker, ref.object.sha)
        except GithubException as err:
            if err.status != _EXISTS or "already exists" not in str(err.data):
                raise
            return False  # another run is deleting this very lock
        try:
            again = self._holder(env)
            if again is None or again[1] != lock:
                return False  # deleted already; a newer lock is not ours to touch
            try:
                again[0].delete()
            except GithubException as err:
                if err.status == _EXISTS:  # 422 "Reference does not exist": gone already
                    return False
                raise
            return True
        finally:
            made.delete()

    def _live(self, env: str, *, keep: int = 0) -> tuple[GitRef, Lock] | None:
        """env's lock, after deleting one whose pull request is merged or closed
        (`keep`: a pull request whose own lock is never stale to itself)."""
        for _ in range(_TRIES):
            found = self._holder(env)
            if found is None or found[1].pull == keep or not self._gone(found[1].pull):
                return found
            self._delete(env, found)
        return self._holder(env)

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
        """Held already by us: 2 requests; by another open one: 3. Free: 3 (the read, a
        tag, a ref). Held by a merged or closed one: that lock is deleted first."""
        name = check_lock_env(env)
        with self._doing(f"taking the lock of {env} for {self._name}#{pull}"):
            for _ in range(_TRIES):
                found = self._live(name, keep=pull)
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
        """Delete the ref if `pull` holds it through the marker: 7 requests (the read;
        the marker, the read again, the delete, the marker's delete), 2 when it does not."""
        name = check_lock_env(env)
        with self._doing(f"releasing the lock of {env} for {self._name}#{pull}"):
            found = self._holder(name)
            if found is None or found[1].pull != pull:
                return False
            return self._delete(name, found)
