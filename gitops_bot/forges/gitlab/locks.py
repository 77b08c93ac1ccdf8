"""GitLab's side of the Locks port: one holder per environment, taken atomically.

Owns: the lock of environment E as the annotated tag `gitops-bot/lock/E`
on the holder's head, whose message records the holder
(core.forge.format_lock) and whose creation time is when it was taken.
Creating a tag is atomic in GitLab (Gitaly refuses an existing name, the
API answers 400 "Tag ... already exists"), so two runs cannot both hold
it. Caveat, in docs/forges-gitlab.md: a tag can start a tag pipeline;
projects whose CI runs on every tag exclude these with a workflow rule.

A lock whose merge request is merged or closed counts as released when it
is read (a lost or never-sent `closed` event must not lock the environment
for good): acquire_lock and lock_holder delete it, then read again. Every
deletion of a lock, that one and release_lock's, first creates the marker
tag `gitops-bot/lock/E.released-PULL-SINCE` named after the very lock it
deletes, and deletes the lock only if it still is that one: the marker is
created atomically like the lock, so of runs racing to clear one stale lock
exactly one deletes it, and none deletes the lock a third run took
meanwhile (a lock can only change hands by being deleted, and deleting
this one needs this marker). The marker is deleted afterwards; a run that
dies between the two leaves it, and the lock is then cleared by deleting
the marker tag (docs/forges-gitlab.md).

Refuses: to release a lock another merge request holds (release_lock says
False), and to read a tag there that gitops-bot did not write (ForgeError).
"""

from __future__ import annotations

import re
from typing import Any

from gitlab.exceptions import GitlabError

from gitops_bot.core.pr.model import Lock, check_lock_env, format_lock, parse_lock
from gitops_bot.errors import ForgeError
from gitops_bot.forges.gitlab.client import Client, text_of

LOCK_TAGS = "gitops-bot/lock"  # the prefix of the lock tags' names
_MISSING = 404
_EXISTS = 400
_TRIES = 3  # a lock released between our read and our create: read again


def _marker(env: str, lock: Lock) -> str:
    """The tag whose creation makes one run the one that deletes `lock` (a `.` never
    appears in an environment's name, so no lock's name is ever a marker's)."""
    return f"{LOCK_TAGS}/{env}.released-{lock.pull}-{re.sub(r'[^0-9]', '', lock.since)}"


def _lock(attrs: dict[str, Any]) -> Lock:
    message = str(attrs.get("message") or "")
    return parse_lock(message, since=str(attrs.get("created_at") or ""))


class LocksPart(Client):
    def _tag(self, env: str) -> Lock | None:
        try:
            attrs = self._project.tags.get(f"{LOCK_TAGS}/{env}", **self._retry).asdict()
        except GitlabError as err:
            if err.response_code == _MISSING:
                return None
            raise
        return _lock(attrs)

    def _gone(self, number: int) -> bool:
        """Whether merge request `number` is merged or closed: its lock is stale."""
        try:
            state = str(self._project.mergerequests.get(number, **self._retry).state)
        except GitlabError as err:
            if err.response_code == _MISSING:  # none to ask: keep the lock (unlock frees it)
                return False
            raise
        return state in ("merged", "closed")

    def _delete(self, env: str, lock: Lock) -> bool:
        """Delete env's lock if it still is `lock`; True if this run deleted it."""
        marker = _marker(env, lock)
        try:
            self._project.tags.create(
                {"tag_name": marker, "ref": lock.sha or "HEAD", "message": f"released {lock}"},
                **self._once,
            )
        except GitlabError as err:
            if err.response_code != _EXISTS or "already exists" not in text_of(err):
                raise
            return False  # another run is deleting this very lock
        try:
            if self._tag(env) != lock:
                return False  # deleted already; a newer lock is not ours to touch
            try:
                self._project.tags.delete(f"{LOCK_TAGS}/{env}", **self._retry)
            except GitlabError as err:
                if err.response_code != _MISSING:
                    raise
                return False
            return True
        finally:
            self._project.tags.delete(marker, **self._retry)

    def _live(self, env: str, *, keep: int = 0) -> Lock | None:
        """env's lock, after deleting one whose merge request is merged or closed
        (`keep`: a pull request whose own lock is never stale to itself)."""
        for _ in range(_TRIES):
            holder = self._tag(env)
            if holder is None or holder.pull == keep or not self._gone(holder.pull):
                return holder
            self._delete(env, holder)
        return self._tag(env)

    def lock_holder(self, env: str) -> Lock | None:
        """GET the tag (404: nobody): 1 request; held by a merge request, 1 more
        (is it still open?); held by one merged or closed, that lock is deleted
        and None returned."""
        name = check_lock_env(env)
        with self._doing(f"reading the lock of {env} in {self._name}", retried=False):
            return self._live(name)

    def acquire_lock(self, env: str, *, pull: int, sha: str) -> Lock:
        """Held already by us: 1 request; by another open one: 2. Free: 2 (the read,
        the tag). Held by a merged or closed one: that lock is deleted first."""
        name = check_lock_env(env)
        what = f"taking the lock of {env} for {self._ref(pull)}"
        for _ in range(_TRIES):
            with self._doing(what, retried=False):
                holder = self._live(name, keep=pull)
            if holder is not None:
                return holder
            with self._doing(what, retried=False):
                try:
                    created = self._project.tags.create(
                        {
                            "tag_name": f"{LOCK_TAGS}/{name}",
                            "ref": sha,
                            "message": format_lock(name, pull=pull, sha=sha),
                        },
                        **self._once,
                    )
                except GitlabError as err:
                    if err.response_code != _EXISTS or "already exists" not in text_of(err):
                        raise
                    continue  # another run took it between our read and our create
                return _lock(created.asdict())
        raise ForgeError(f"{what}: it changed hands {_TRIES} times while we tried; try again")

    def release_lock(self, env: str, *, pull: int) -> bool:
        """Delete the tag if `pull` holds it: 5 requests (the read; the marker, the
        read again, the delete, the marker's delete), 1 when it does not."""
        name = check_lock_env(env)
        with self._doing(f"releasing the lock of {env} for {self._ref(pull)}", retried=False):
            holder = self._tag(name)
            if holder is None or holder.pull != pull:
                return False
            return self._delete(name, holder)
