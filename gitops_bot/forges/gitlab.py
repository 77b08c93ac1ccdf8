"""GitLab through python-gitlab, for one project: every forge port the bot has.

Owns: the GitLab side of PullRequests, Comments, Statuses, Reviews, Members
and Changes (gitops_bot.ports); GitLab's limits as constants; copying
python-gitlab objects into core.forge values (merge requests into Pull,
notes into Comment, approvals into Review); bounded retries, which are
python-gitlab's own (429 honouring Retry-After, 5xx with backoff) capped by
MAX_RETRIES, with a Retry-After longer than MAX_WAIT refused rather than
slept through; and wrapping every python-gitlab and requests error in a
ForgeError that names the operation and never the token.

Refuses: deciding anything (which comment to write, what a status says,
who may approve), retrying a create after a 5xx (a second POST could make a
second note, emoji, commit or merge request; only a 429, which GitLab
answers before doing anything, is retried), and letting a python-gitlab
object out. The choices and their limits are in docs/forges-gitlab.md.
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

from gitops_bot.core.forge import (
    Comment,
    Permission,
    Pull,
    Reaction,
    Review,
    ReviewState,
    Status,
    StatusState,
    check_length,
)
from gitops_bot.errors import ForgeError

COMMENT_LIMIT = 1_000_000  # characters of a note body
DESCRIPTION_LIMIT = 1_048_576  # characters of a merge request description
STATUS_DESCRIPTION_LIMIT = 255  # characters of a commit status description
MAX_RETRIES = 3  # further attempts after a 429 or a 5xx
MAX_WAIT = 60  # seconds of Retry-After worth waiting; longer is an error
TIMEOUT = 30.0  # seconds per request
PER_PAGE = 100  # GitLab's largest page
ERROR_PREFIX = "error: "  # how a failed status says it is an ERROR, not a FAILURE

_TRANSIENT = frozenset({429, 500, 502, 503, 504, *range(520, 531)})
_ACCESS = ((50, Permission.ADMIN), (40, Permission.MAINTAIN), (30, Permission.WRITE))
_GUEST = 10
_TO_STATE = {
    StatusState.PENDING: "pending",
    StatusState.SUCCESS: "success",
    StatusState.FAILURE: "failed",
    StatusState.ERROR: "failed",
}
_FROM_STATE = {"success": StatusState.SUCCESS, "failed": StatusState.FAILURE}
_EMOJI = {
    Reaction.SEEN: "eyes",
    Reaction.DONE: "thumbsup",
    Reaction.REFUSED: "thumbsdown",
    Reaction.CONFUSED: "confused",
}
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


def _text(err: GitlabError) -> str:
    message = err.error_message
    return message.decode("utf-8", "replace") if isinstance(message, bytes) else str(message)


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text)


class GitLab:
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
        self._user_ids: dict[str, int | None] = {}

    # -- plumbing ---------------------------------------------------------

    def _scrub(self, text: str) -> str:
        # Real tokens are long (glpat- and 20 more); a few letters would maim every message.
        return text.replace(self._token, "[token]") if len(self._token) >= 6 else text

    @contextmanager
    def _doing(self, what: str, *, retried: bool = True) -> Iterator[None]:
        """Turn whatever python-gitlab or requests raise into a ForgeError about `what`."""
        try:
            yield
        except _LongWaitError as err:
            raise ForgeError(f"{what}: {err}") from err
        except GitlabError as err:
            code = err.response_code
            reason = self._scrub(_text(err) or "no message")[:500]
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
            raise ForgeError(f"{what}: GitLab answered {code}: {reason}") from err
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

    def _whoami(self, what: str) -> tuple[int, str]:
        if self._me is None:
            with self._doing(what):
                user = CurrentUserManager(self._gl).get(**self._retry)
                self._me = (int(user.id), str(user.username))
        return self._me

    # -- PullRequests -----------------------------------------------------

    def pull(self, number: int) -> Pull:
        with self._doing(f"reading merge request {self._ref(number)}"):
            mr = self._project.mergerequests.get(number, **self._retry)
            return self._pull(mr.asdict())

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
        )

    def changed_files(self, number: int) -> tuple[str, ...]:
        """Every path the merge request touches: both paths of a rename."""
        what = f"listing the changed files of {self._ref(number)}"
        with self._doing(what):
            count = self._project.mergerequests.get(number, **self._retry).changes_count
            if isinstance(count, str) and count.endswith("+"):
                raise ForgeError(
                    f"{what}: it changes more files than GitLab lists ({count}); "
                    "split the merge request or raise the instance's diff limits"
                )
            path = f"{self._project.mergerequests.path}/{number}/diffs"
            paths: dict[str, None] = {}
            for diff in self._gl.http_list(path, iterator=True, per_page=PER_PAGE, **self._retry):
                paths[str(diff["old_path"])] = None
                paths[str(diff["new_path"])] = None
            return tuple(paths)

    # -- Comments ---------------------------------------------------------

    def _comment(self, attrs: Mapping[str, Any], me: int) -> Comment:
        return Comment(
            id=int(attrs["id"]),
            author=str(attrs["author"]["username"]),
            body=str(attrs["body"]),
            created_at=str(attrs["created_at"]),
            updated_at=str(attrs.get("updated_at") or ""),
            is_bot=attrs["author"]["id"] == me,
        )

    def _notes(self, number: int) -> Iterator[Any]:
        """The merge request's notes, oldest first, without system notes, page by page."""
        notes = self._mr(number).notes.list(
            iterator=True,
            sort="asc",
            order_by="created_at",
            activity_filter="only_comments",
            **self._retry,
        )
        return (note for note in notes if not note.system)

    def comments(self, number: int) -> tuple[Comment, ...]:
        what = f"reading the notes of {self._ref(number)}"
        me, _ = self._whoami(what)
        with self._doing(what):
            return tuple(self._comment(note.asdict(), me) for note in self._notes(number))

    def upsert_comment(self, number: int, *, marker: str, body: str) -> Comment:
        if marker not in body:
            raise ValueError("the comment body must contain its marker")
        what = f"updating the bot's note on {self._ref(number)}"
        check_length(body, limit=COMMENT_LIMIT, forge="GitLab", doing=what, what="note")
        me, _ = self._whoami(what)
        with self._doing(what):
            for note in self._notes(number):
                if note.author["id"] == me and marker in note.body:
                    if note.body == body:
                        return self._comment(note.asdict(), me)
                    edited = self._mr(number).notes.update(note.id, {"body": body}, **self._retry)
                    return self._comment(edited, me)
        with self._doing(what, retried=False):
            created = self._mr(number).notes.create({"body": body}, **self._once)
            return self._comment(created.asdict(), me)

    def reply(self, number: int, body: str) -> Comment:
        what = f"replying on {self._ref(number)}"
        check_length(body, limit=COMMENT_LIMIT, forge="GitLab", doing=what, what="note")
        me, _ = self._whoami(what)
        with self._doing(what, retried=False):
            created = self._mr(number).notes.create({"body": body}, **self._once)
            return self._comment(created.asdict(), me)

    def react(self, number: int, comment_id: int, reaction: Reaction) -> None:
        name = _EMOJI[reaction]
        note = self._mr(number).notes.get(comment_id, lazy=True)
        with self._doing(
            f"awarding :{name}: to note {comment_id} on {self._ref(number)}", retried=False
        ):
            try:
                note.awardemojis.create({"name": name}, **self._once)
            except GitlabError as err:
                # A second award of the same emoji is a 404 "... has already been taken".
                if err.response_code != 404 or "already been taken" not in _text(err):
                    raise

    # -- Statuses ---------------------------------------------------------

    def set_status(self, status: Status) -> None:
        what = f"setting the status {status.context!r} on {status.sha[:12]} in {self._name}"
        description = status.description
        if status.state is StatusState.ERROR:
            description = ERROR_PREFIX + description
        data = {"state": _TO_STATE[status.state], "name": status.context}
        if description:
            data["description"] = description[:STATUS_DESCRIPTION_LIMIT]
        if status.url:
            data["target_url"] = status.url
        with self._doing(what):
            try:
                self._project.commits.get(status.sha, lazy=True).statuses.create(
                    data, **self._retry
                )
            except GitlabError as err:
                # GitLab answers 400 to pending after pending (running after running):
                # the status already is what we set; only its description stays old.
                if err.response_code != 400 or "Cannot transition status" not in _text(err):
                    raise

    def statuses(self, sha: str) -> tuple[Status, ...]:
        what = f"reading the statuses of {sha[:12]} in {self._name}"
        latest: dict[str, Mapping[str, Any]] = {}
        with self._doing(what):
            for item in self._project.commits.get(sha, lazy=True).statuses.list(
                iterator=True, **self._retry
            ):
                attrs = item.asdict()
                if attrs["name"] not in latest or attrs["id"] > latest[attrs["name"]]["id"]:
                    latest[attrs["name"]] = attrs
            return tuple(self._status(sha, latest[name]) for name in sorted(latest))

    @staticmethod
    def _status(sha: str, attrs: Mapping[str, Any]) -> Status:
        description = str(attrs.get("description") or "")
        state = _FROM_STATE.get(attrs["status"], StatusState.PENDING)
        if attrs["status"] in ("canceled", "skipped"):
            state = StatusState.ERROR
        if state is StatusState.FAILURE and description.startswith(ERROR_PREFIX):
            state, description = StatusState.ERROR, description.removeprefix(ERROR_PREFIX)
        return Status(
            sha=sha,
            context=str(attrs["name"]),
            state=state,
            description=description,
            url=str(attrs.get("target_url") or ""),
        )

    # -- Reviews ----------------------------------------------------------

    def reviews(self, number: int) -> tuple[Review, ...]:
        """Current approvals, each bound to the head GitLab showed when it was given.

        GitLab does not record the commit an approval was for; the head is the
        newest diff version created before the approval (docs/forges-gitlab.md).
        """
        what = f"reading the approvals of {self._ref(number)}"
        with self._doing(what):
            mr = self._mr(number)
            approved_by = mr.approvals.get(**self._retry).approved_by
            if not approved_by:
                return ()
            versions = [
                (_when(v.created_at), str(v.head_commit_sha))
                for v in mr.diffs.list(iterator=True, **self._retry)
            ]
            reviews = [self._review(entry, versions) for entry in approved_by]
            return tuple(sorted(reviews, key=lambda r: r.submitted_at))

    @staticmethod
    def _review(entry: Mapping[str, Any], versions: list[tuple[datetime, str]]) -> Review:
        at = str(entry.get("approved_at") or "")
        sha = ""
        if at:
            earlier = [(when, head) for when, head in versions if when < _when(at)]
            if earlier and not any(when == _when(at) for when, _ in versions):
                sha = max(earlier)[1]
        return Review(
            user=str(entry["user"]["username"]),
            state=ReviewState.APPROVED,
            commit_sha=sha,
            submitted_at=at,
        )

    # -- Members ----------------------------------------------------------

    def _user_id(self, user: str, what: str) -> int | None:
        if user not in self._user_ids:
            with self._doing(what):
                found = self._gl.users.list(username=user, get_all=False, **self._retry)
                ids = [int(u.id) for u in found if str(u.username).lower() == user.lower()]
            self._user_ids[user] = ids[0] if ids else None
        return self._user_ids[user]

    def _membership(self, manager: Any, user: str, what: str) -> int:
        """The user's access level in `manager` (members/all: inherited too), 0 for none."""
        user_id = self._user_id(user, what)
        if user_id is None:
            return 0
        with self._doing(what):
            try:
                member = manager.get(user_id, **self._retry).asdict()
            except GitlabError as err:
                # "404 Not found" is no member; "404 Group Not Found" is a wrong path.
                wrong_path = any(f"{kind} Not Found" in _text(err) for kind in ("Group", "Project"))
                if err.response_code != 404 or wrong_path:
                    raise
                return 0
        if member.get("state", "active") != "active":
            return 0
        if member.get("membership_state", "active") != "active":
            return 0
        return int(member["access_level"])

    def permission(self, user: str) -> Permission:
        what = f"reading {user}'s access to {self._name}"
        level = self._membership(self._project.members_all, user, what)
        for floor, permission in _ACCESS:
            if level >= floor:
                return permission
        return Permission.READ if level >= _GUEST else Permission.NONE

    def in_team(self, user: str, team: str) -> bool:
        what = f"reading whether {user} is in the group {team}"
        group = self._gl.groups.get(team, lazy=True)
        return self._membership(group.members_all, user, what) >= _GUEST

    # -- Changes ----------------------------------------------------------

    def create_branch(self, name: str, *, from_sha: str) -> None:
        what = f"creating the branch {name!r} at {from_sha[:12]} in {self._name}"
        with self._doing(what, retried=False):
            self._project.branches.create({"branch": name, "ref": from_sha}, **self._once)

    def _exists(self, path: str, branch: str, what: str) -> bool:
        with self._doing(what):
            try:
                self._project.files.head(path, ref=branch, **self._retry)
            except GitlabError as err:
                if err.response_code != 404:
                    raise
                return False
        return True

    def commit_files(self, branch: str, *, files: dict[str, str], message: str) -> str:
        what = f"committing {len(files)} files to {branch!r} in {self._name}"
        actions = [
            {
                "action": "update" if self._exists(path, branch, what) else "create",
                "file_path": path,
                "content": text,
            }
            for path, text in sorted(files.items())
        ]
        with self._doing(what, retried=False):
            commit = self._project.commits.create(
                {"branch": branch, "commit_message": message, "actions": actions}, **self._once
            )
            return str(commit.id)

    def open_pull(self, *, head: str, base: str, title: str, body: str) -> Pull:
        what = f"opening a merge request from {head!r} into {base!r} in {self._name}"
        check_length(body, limit=DESCRIPTION_LIMIT, forge="GitLab", doing=what, what="description")
        with self._doing(what, retried=False):
            mr = self._project.mergerequests.create(
                {"source_branch": head, "target_branch": base, "title": title, "description": body},
                **self._once,
            )
            return self._pull(mr.asdict())
