"""GitLab's side of the Locks port: one holder per environment, taken atomically.

Owns: the lock of environment E as the annotated tag `gitops-bot/lock/E`
on the holder's head, whose message records the holder
(core.forge.format_lock) and whose creation time is when it was taken.
Creating a tag is atomic in GitLab (Gitaly refuses an existing name, the
API answers 400 "Tag ... already exists"), so two runs cannot both hold
it. Caveat, in docs/forges-gitlab.md: a tag can start a tag pipeline;
projects whose CI runs on every tag exclude these with a workflow rule.

Refuses: to release a lock another merge request holds (release_lock says
False), and to read a tag there that gitops-bot did not write (ForgeError).
"""

from __future__ import annotations

from typing import Any

from gitlab.exceptions import GitlabError

from gitops_bot.core.forge import Lock, check_lock_env, format_lock, parse_lock
from gitops_bot.errors import ForgeError
from gitops_bot.forges.gitlab.client import Client, text_of

LOCK_TAGS = "gitops-bot/lock"  # the prefix of the lock tags' names
_MISSING = 404
_EXISTS = 400
_TRIES = 3  # a lock released between our read and our create: read again


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

    def lock_holder(self, env: str) -> Lock | None:
        """GET the tag (404: nobody): 1 request."""
        name = check_lock_env(env)
        with self._doing(f"reading the lock of {env} in {self._name}"):
            return self._tag(name)

    def acquire_lock(self, env: str, *, pull: int, sha: str) -> Lock:
        """Held already (by us or another): 1 request. Free: 2 (the read, the tag)."""
        name = check_lock_env(env)
        what = f"taking the lock of {env} for {self._ref(pull)}"
        for _ in range(_TRIES):
            with self._doing(what):
                holder = self._tag(name)
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
        """Delete the tag if `pull` holds it: 2 requests (1 when it does not)."""
        name = check_lock_env(env)
        with self._doing(f"releasing the lock of {env} for {self._ref(pull)}"):
            holder = self._tag(name)
            if holder is None or holder.pull != pull:
                return False
            try:
                self._project.tags.delete(f"{LOCK_TAGS}/{name}", **self._retry)
            except GitlabError as err:
                if err.response_code == _MISSING:  # gone already
                    return False
                raise
            return True
