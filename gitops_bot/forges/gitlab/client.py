"""The connection every part of the GitLab adapter shares.

Owns: python-gitlab's client for one project (no request until a method
is called; the token only in the PRIVATE-TOKEN header), bounded retries,
which are python-gitlab's own (429 honouring Retry-After, 5xx with
backoff) capped by MAX_RETRIES, with a Retry-After longer than MAX_WAIT
refused rather than slept through; the bot's own user, read once; copying
a merge request into core.forge.Pull; GitLab's limits as constants; and
wrapping every python-gitlab and requests error in a ForgeError that
names the operation and never the token. Refuses: any port's logic (the
sibling modules own that), and retrying a create after a 5xx (a second
POST could create it twice; `retried=False`, see _doing).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import gitlab
import requests
from gitlab.exceptions import GitlabError
from gitlab.v4.objects import CurrentUserManager

from gitops_bot.core.pr.model import Pull
from gitops_bot.errors import ForgeError

DESCRIPTION_LIMIT = 1_048_576  # characters of a merge request description
STATUS_DESCRIPTION_LIMIT = 255  # characters of a commit status description
MAX_RETRIES = 3  # further attempts after a 429 or a 5xx
MAX_WAIT = 60  # seconds of Retry-After worth waiting; longer is an error
TIMEOUT = 30.0  # seconds per request
PER_PAGE = 100  # GitLab's largest page

_REFUSED = frozenset({401, 403, 404})  # what a token without access is answered
_TRANSIENT = frozenset({429, 500, 502, 503, 504, *range(520, 531)})
_PULL_STATE = {"opened": "open", "locked": "open", "merged": "merged", "closed": "closed"}


class _LongWaitError(Exception):
    """GitLab asked for a wait longer than the bot accepts (raised inside requests)."""


def _wait_guard(max_wait: int) -> Callable[..., None]:
    """A requests response hook that stops python-gitlab from sleeping too long.

    python-gitlab sleeps for Retry-After (else until RateLimit-Reset) before
    retrying a 429 or 5xx, however long that is, and fails on a Retry-After
    that is an HTTP date.
    """

    def check(response: requests.Response, *args: object, **kwargs: object) -> None:
        code, headers = response.status_code, response.headers
        if code not in _TRANSIENT:
            return
        if "Retry-After" in headers:
            name, value = "Retry-After", headers["Retry-After"].strip()
        elif "RateLimit-Reset" in headers:
            name, value = "RateLimit-Reset", headers["RateLimit-Reset"].strip()
        else:
            return
        if not value.isdigit():
            raise _LongWaitError(f"GitLab answered {code} with a {name} of {value[:40]!r}")
        seconds = int(value) - (int(time.time()) if name == "RateLimit-Reset" else 0)
        if seconds > max_wait:
            raise _LongWaitError(
                f"GitLab answered {code} and asks to wait {seconds} seconds, "
                f"longer than the {max_wait} this bot waits"
            )

    return check


def text_of(err: GitlabError) -> str:
    message = err.error_message
    return message.decode("utf-8", "replace") if isinstance(message, bytes) else str(message)


def when(text: str) -> datetime:
    return datetime.fromisoformat(text)


class Client:
    """One GitLab project, e.g. `GitLab(project="group/shop", token=..., url="https://gitlab.com")`.

    Makes no request until a method is called; the authenticated user is
    read once (GET /user) and kept.
    """

    def __init__(
        self,
        *,
        project: str,
        token: str,
        url: str = "https://gitlab.com",
        max_retries: int = MAX_RETRIES,
        max_wait: int = MAX_WAIT,
        timeout: float = TIMEOUT,
    ) -> None:
        session = requests.Session()
        session.hooks["response"].append(_wait_guard(max_wait))
        self._gl = gitlab.Gitlab(
            url=url,
            private_token=token,
            timeout=timeout,
            retry_transient_errors=True,
            per_page=PER_PAGE,
            session=session,
        )
        self._token = token
        self._name = project
        self._project = self._gl.projects.get(project, lazy=True)
        self._retry: dict[str, Any] = {"max_retries": max_retries}
        self._once: dict[str, Any] = {"max_retries": max_retries, "retry_transient_errors": False}
        self._attempts = 1 + max_retries
        self._me: tuple[int, str] | None = None
        self._branch: str | None = None  # the default branch, read once when needed
        self._user_ids: dict[str, int | None] = {}

    # -- plumbing ---------------------------------------------------------

    def _scrub(self, text: str) -> str:
        # Real tokens are long (glpat- and 20 more); a few letters would maim every message.
        return text.replace(self._token, "[token]") if len(self._token) >= 6 else text

    @contextmanager
    def _doing(self, what: str, *, retried: bool = True, needs: str = "") -> Iterator[None]:
        """Turn whatever python-gitlab or requests raise into a ForgeError about `what`;
        `needs` (what the token needs for it) is added to a 401, 403 or 404."""
        try:
            yield
        except _LongWaitError as err:
            raise ForgeError(f"{what}: {err}") from err
        except GitlabError as err:
            code = err.response_code
            reason = self._scrub(text_of(err) or "no message")[:500]
            if code is None:
                raise ForgeError(f"{what}: {reason}") from err
            if code in _TRANSIENT and (retried or code == 429):  # a 429 is always retried
                raise ForgeError(
                    f"{what}: GitLab answered {code} {self._attempts} times: {reason}"
                ) from err
            if code in _TRANSIENT:
                raise ForgeError(
                    f"{what}: GitLab answered {code} (not retried: a second try could "
                    f"create it twice): {reason}"
                ) from err
            hint = f"; {needs}" if needs and code in _REFUSED else ""
            raise ForgeError(f"{what}: GitLab answered {code}: {reason}{hint}") from err
        except requests.RequestException as err:
            reason = self._scrub(f"{type(err).__name__}: {err}")[:500]
            raise ForgeError(f"{what}: {reason}") from err
        except (KeyError, TypeError, AttributeError) as err:
            raise ForgeError(
                f"{what}: GitLab's answer is not as documented ({type(err).__name__}: {err})"
            ) from err

    def _ref(self, number: int) -> str:
        return f"{self._name}!{number}"

    def _mr(self, number: int) -> Any:
        return self._project.mergerequests.get(number, lazy=True)

    def own_login(self) -> str:
        """The bot's own username (GET /user once)."""
        return self._whoami(f"finding the bot's own account on {self._name}")[1]

    def _whoami(self, what: str) -> tuple[int, str]:
        if self._me is None:
            with self._doing(what):
                user = CurrentUserManager(self._gl).get(**self._retry)
                self._me = (int(user.id), str(user.username))
        return self._me

    @staticmethod
    def _pull(attrs: Mapping[str, Any]) -> Pull:
        refs = attrs.get("diff_refs") or {}  # empty for a moment after creation
        return Pull(
            number=int(attrs["iid"]),
            title=str(attrs["title"]),
            author=str(attrs["author"]["username"]),
            base_ref=str(attrs["target_branch"]),
            base_sha=str(refs.get("base_sha") or ""),
            head_ref=str(attrs["source_branch"]),
            head_sha=str(refs.get("head_sha") or attrs.get("sha") or ""),
            from_fork=attrs["source_project_id"] != attrs["target_project_id"],
            state=_PULL_STATE[attrs["state"]],
            labels=tuple(str(label) for label in attrs.get("labels") or ()),
            url=str(attrs.get("web_url") or ""),
            merged_sha=_merged_sha(attrs),
            body=str(attrs.get("description") or ""),
        )


def _merged_sha(attrs: Mapping[str, Any]) -> str:
    """The commit a merge left on the target branch: the merge commit, the squashed
    commit, or, for a fast-forward merge (neither is set), the head itself."""
    if attrs["state"] != "merged":
        return ""
    for key in ("merge_commit_sha", "squash_commit_sha", "sha"):
        if attrs.get(key):
            return str(attrs[key])
    return ""
