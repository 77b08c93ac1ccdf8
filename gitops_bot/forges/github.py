"""GitHub through PyGithub: every forge port (gitops_bot.ports) for one repository.

Owns: the GitHub calls the bot makes, copying PyGithub's objects into
gitops_bot.core.forge values at the border; GitHub's limits (comment
length, status description length); retries of rate limits and server
errors (PyGithub's GithubRetry, bounded in tries and in total waiting, with
an injectable sleep); and wrapping every PyGithub or transport error in a
ForgeError that says what was happening and never carries the token.

Refuses: to split long comments (the report layer does; a body over the
limit is refused before anything is sent), to decide anything (policy is
the core's), and to let a PyGithub object out.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from github import (
    Auth,
    Github,
    GithubException,
    GithubRetry,
    InputGitTreeElement,
    RateLimitExceededExceedsMaxWait,
)
from github.IssueComment import IssueComment
from github.PullRequest import PullRequest
from urllib3.exceptions import MaxRetryError

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

COMMENT_LIMIT = 65_536  # characters in a comment or pull request body
STATUS_DESCRIPTION_LIMIT = 140
PER_PAGE = 100  # GitHub's largest page: the fewest calls for a long list
FILES_LIMIT = 3000  # GitHub lists no more files of one pull request
MAX_TRIES = 5
MAX_WAIT = 60.0  # seconds of waiting, in total, before one request gives up
RETRIED_STATUSES = (429, *range(500, 600))  # GithubRetry adds 403 when it is a rate limit

_ROLES = {  # role_name first: it tells maintain and triage apart
    "admin": Permission.ADMIN,
    "maintain": Permission.MAINTAIN,
    "write": Permission.WRITE,
    "triage": Permission.TRIAGE,
    "read": Permission.READ,
    "none": Permission.NONE,
}
_REVIEW_STATES = {
    "APPROVED": ReviewState.APPROVED,
    "CHANGES_REQUESTED": ReviewState.CHANGES_REQUESTED,
    "COMMENTED": ReviewState.COMMENTED,
    "DISMISSED": ReviewState.DISMISSED,
}
_STATUS_STATES = {
    StatusState.PENDING: "pending",
    StatusState.SUCCESS: "success",
    StatusState.FAILURE: "failure",
    StatusState.ERROR: "error",
}
_STATUS_STATES_READ = {name: state for state, name in _STATUS_STATES.items()}
_REACTIONS = {
    Reaction.SEEN: "eyes",
    Reaction.DONE: "+1",
    Reaction.REFUSED: "-1",
    Reaction.CONFUSED: "confused",
}


class _Retry(GithubRetry):
    """GithubRetry (Retry-After, secondary and primary rate limits, 5xx), plus an
    injected sleep and a cap on the total wait of one request."""

    def __init__(
        self,
        *,
        sleep: Callable[[float], None],
        max_wait: float,
        waited: float = 0.0,
        **kwargs: Any,
    ) -> None:
        self.sleeper, self.max_wait, self.waited = sleep, max_wait, waited
        self.pending = 0.0
        kwargs.setdefault("max_rate_limit_wait", max_wait)
        super().__init__(**kwargs)

    def new(self, **kw: Any) -> _Retry:
        kw.update(sleep=self.sleeper, max_wait=self.max_wait, waited=self.waited)
        retry: _Retry = super().new(**kw)
        return retry

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: Any = None,
        error: Exception | None = None,
        _pool: Any = None,
        _stacktrace: Any = None,
    ) -> _Retry:
        retry = super().increment(method, url, response, error, _pool, _stacktrace)
        if not isinstance(retry, _Retry):  # GithubRetry.new builds type(self)
            raise TypeError(f"expected a _Retry, got {type(retry).__name__}")
        retry_after = retry.get_retry_after(response) if response is not None else None
        wait = retry_after or retry.get_backoff_time()
        if self.waited + wait > self.max_wait:
            # Like running out of tries: the caller gets the last response.
            raise MaxRetryError(_pool, url or "", None)
        retry.waited, retry.pending = self.waited + wait, wait
        return retry

    def sleep(self, response: Any = None) -> None:
        if self.pending > 0:
            self.sleeper(self.pending)


def _when(moment: datetime | None) -> str:
    return "" if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _why(err: GithubException, max_wait: float) -> str:
    data = err.data if isinstance(err.data, dict) else {}
    details = [str(e.get("message", e)) for e in data.get("errors", ()) if isinstance(e, dict)]
    said = [part for part in [str(data.get("message") or ""), *details] if part]
    text = f"GitHub answered {err.status}" + (": " + "; ".join(said) if said else "")
    if isinstance(err, RateLimitExceededExceedsMaxWait):
        text += f" (the limit resets in {err.wait or 0:.0f} s; this client waits {max_wait:.0f} s)"
    elif err.status in RETRIED_STATUSES or (err.status == 403 and "rate limit" in text):
        text += f" (gave up after at most {MAX_TRIES} tries and {max_wait:.0f} s of waiting)"
    return text


class GitHub:
    """The forge ports for one GitHub repository ("owner/name").

    `bot_login` skips GET /user, which a GitHub App installation token
    (Actions' GITHUB_TOKEN: "github-actions[bot]") is not allowed to call.
    `sleep` waits between retries; pacing between writes is PyGithub's.
    """

    def __init__(
        self,
        *,
        repo: str,
        token: str,
        base_url: str = "https://api.github.com",
        bot_login: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
        max_wait: float = MAX_WAIT,
        seconds_between_writes: float | None = 1.0,
        timeout: int = 30,
    ) -> None:
        retry = _Retry(
            sleep=sleep,
            max_wait=max_wait,
            total=MAX_TRIES - 1,
            backoff_factor=1.0,
            status_forcelist=list(RETRIED_STATUSES),
            allowed_methods={"GET", "POST", "PATCH", "PUT", "DELETE"},
            raise_on_status=False,
        )
        self._token = token
        self._max_wait = max_wait
        self._name = repo
        self._login = bot_login
        self._gh = Github(
            base_url=base_url,
            auth=Auth.Token(token),
            per_page=PER_PAGE,
            retry=retry,
            lazy=True,  # objects fetch on first use, so a call costs what it needs
            seconds_between_requests=None,
            seconds_between_writes=seconds_between_writes,
            timeout=timeout,
            user_agent="gitops-bot",
        )
        self._repo = self._gh.get_repo(repo)

    @contextmanager
    def _doing(self, what: str) -> Iterator[None]:
        try:
            yield
        except GithubException as err:
            raise ForgeError(self._scrub(f"{what}: {_why(err, self._max_wait)}")) from err
        except OSError as err:  # requests' errors are OSErrors: refused, reset, timed out
            raise ForgeError(self._scrub(f"{what}: {err}")) from err

    def _scrub(self, message: str) -> str:
        return message.replace(self._token, "***") if self._token else message

    def _me(self) -> str:
        if self._login is None:
            doing = "finding the bot's own login (GET /user; pass bot_login for an App token)"
            with self._doing(doing):
                self._login = str(self._gh.get_user().login)
        return self._login

    # -- PullRequests ---------------------------------------------------

    def pull(self, number: int) -> Pull:
        with self._doing(f"reading pull request {self._name}#{number}"):
            return self._to_pull(self._repo.get_pull(number))

    def _to_pull(self, pr: PullRequest) -> Pull:
        head_repo = pr.head.repo  # None once a fork is deleted
        return Pull(
            number=pr.number,
            title=pr.title,
            author=pr.user.login,
            base_ref=pr.base.ref,
            base_sha=pr.base.sha,
            head_ref=pr.head.ref,
            head_sha=pr.head.sha,
            from_fork=head_repo is None or head_repo.full_name != pr.base.repo.full_name,
            state="merged" if pr.merged else pr.state,
            labels=tuple(label.name for label in pr.labels),
            url=pr.html_url,
        )

    def changed_files(self, number: int) -> tuple[str, ...]:
        """Paths the pull request touches; a rename counts both its old and new path.

        GitHub lists at most FILES_LIMIT files; a longer list would hide
        affected environments, so it is an error rather than a short answer.
        """
        doing = f"listing the changed files of {self._name}#{number}"
        with self._doing(doing):
            pull = self._repo.get_pull(number)
            paths: list[str] = []
            entries = 0
            for entry in pull.get_files():
                entries += 1
                paths.append(entry.filename)
                if entry.previous_filename:
                    paths.append(entry.previous_filename)
            if entries >= FILES_LIMIT and pull.changed_files > entries:
                raise ForgeError(
                    f"{doing}: it changes {pull.changed_files:,} files and GitHub lists only "
                    f"the first {FILES_LIMIT:,}; split the pull request"
                )
            return tuple(dict.fromkeys(paths))

    # -- Comments -------------------------------------------------------

    def _to_comment(self, comment: IssueComment, me: str) -> Comment:
        author = comment.user.login if comment.user is not None else "ghost"
        return Comment(
            id=comment.id,
            author=author,
            body=comment.body or "",
            created_at=_when(comment.created_at),
            updated_at=_when(comment.updated_at),
            is_bot=author == me,
        )

    def comments(self, number: int) -> tuple[Comment, ...]:
        me = self._me()
        with self._doing(f"listing the comments of {self._name}#{number}"):
            listed = self._repo.get_issue(number).get_comments()
            return tuple(self._to_comment(comment, me) for comment in listed)

    def upsert_comment(self, number: int, *, marker: str, body: str) -> Comment:
        if marker not in body:
            raise ValueError(f"the comment body does not contain its marker {marker!r}")
        doing = f"updating the comment {marker} on {self._name}#{number}"
        check_length(body, limit=COMMENT_LIMIT, forge="GitHub", doing=doing)
        me = self._me()
        with self._doing(doing):
            issue = self._repo.get_issue(number)
            for comment in issue.get_comments():
                if comment.user is not None and comment.user.login == me and marker in comment.body:
                    if comment.body != body:
                        comment.edit(body)
                    return self._to_comment(comment, me)
            return self._to_comment(issue.create_comment(body), me)

    def reply(self, number: int, body: str) -> Comment:
        doing = f"replying on {self._name}#{number}"
        check_length(body, limit=COMMENT_LIMIT, forge="GitHub", doing=doing)
        with self._doing(doing):
            created = self._repo.get_issue(number).create_comment(body)
        me = self._login or (created.user.login if created.user is not None else "")
        return self._to_comment(created, me)

    def react(self, number: int, comment_id: int, reaction: Reaction) -> None:
        content = _REACTIONS[reaction]
        with self._doing(f"reacting {content} to comment {comment_id} on {self._name}#{number}"):
            self._repo.get_issue(number).get_comment(comment_id).create_reaction(content)

    # -- Statuses -------------------------------------------------------

    def set_status(self, status: Status) -> None:
        description = status.description
        if len(description) > STATUS_DESCRIPTION_LIMIT:
            description = description[: STATUS_DESCRIPTION_LIMIT - 1] + "…"
        extra = {"description": description, "context": status.context}
        if status.url:
            extra["target_url"] = status.url
        with self._doing(f"setting status {status.context} on {self._name}@{status.sha[:12]}"):
            commit = self._repo.get_commit(status.sha)
            commit.create_status(_STATUS_STATES[status.state], **extra)

    def statuses(self, sha: str) -> tuple[Status, ...]:
        with self._doing(f"reading the statuses of {self._name}@{sha[:12]}"):
            combined = self._repo.get_commit(sha).get_combined_status()
            return tuple(
                Status(
                    sha=sha,
                    context=s.context,
                    state=_STATUS_STATES_READ[s.state],
                    description=s.description or "",
                    url=s.target_url or "",
                )
                for s in combined.statuses
            )

    # -- Reviews --------------------------------------------------------

    def reviews(self, number: int) -> tuple[Review, ...]:
        """Submitted reviews, oldest first; a pending (unsubmitted) review is left out."""
        with self._doing(f"listing the reviews of {self._name}#{number}"):
            return tuple(
                Review(
                    user=review.user.login if review.user is not None else "ghost",
                    state=_REVIEW_STATES[review.state],
                    commit_sha=review.commit_id or "",
                    submitted_at=_when(review.submitted_at),
                )
                for review in self._repo.get_pull(number).get_reviews()
                if review.state in _REVIEW_STATES
            )

    # -- Members --------------------------------------------------------

    def permission(self, user: str) -> Permission:
        """The user's role; a custom role counts as the base permission GitHub reports."""
        with self._doing(f"reading the permission of {user} on {self._name}"):
            try:
                role = self._repo.get_collaborator_role_name(user)
                if role in _ROLES:
                    return _ROLES[role]
                return _ROLES.get(self._repo.get_collaborator_permission(user), Permission.NONE)
            except GithubException as err:
                if err.status == 404:  # no such user: no permission
                    return Permission.NONE
                raise

    def in_team(self, user: str, team: str) -> bool:
        """An active member of `org/team-slug`; an invitation still pending does not count."""
        doing = f"checking whether {user} is in team {team}"
        org, _, slug = team.partition("/")
        if not org or not slug or "/" in slug:
            raise ForgeError(f"{doing}: a GitHub team is written org/team-slug")
        with self._doing(doing):
            try:
                found = self._gh.get_organization(org).get_team_by_slug(slug)
                return found.get_team_membership(user).state == "active"
            except GithubException as err:
                if err.status == 404:  # not a member, or no such team
                    return False
                raise

    # -- Changes --------------------------------------------------------

    def create_branch(self, name: str, *, from_sha: str) -> None:
        with self._doing(f"creating branch {name} at {from_sha[:12]} in {self._name}"):
            self._repo.create_git_ref(f"refs/heads/{name}", from_sha)

    def commit_files(self, branch: str, *, files: dict[str, str], message: str) -> str:
        """One commit on top of `branch` with these paths set to these texts."""
        if not files:
            raise ValueError("commit_files needs at least one file")
        with self._doing(f"committing {len(files)} file(s) to {branch} in {self._name}"):
            ref = self._repo.get_git_ref(f"heads/{branch}")
            parent = self._repo.get_git_commit(ref.object.sha)
            entries = [
                InputGitTreeElement(path, "100644", "blob", content=text)
                for path, text in sorted(files.items())
            ]
            tree = self._repo.create_git_tree(entries, base_tree=parent.tree)
            commit = self._repo.create_git_commit(message, tree, [parent])
            ref.edit(commit.sha)  # a fast-forward only: a concurrent push makes this fail
            return str(commit.sha)

    def open_pull(self, *, head: str, base: str, title: str, body: str) -> Pull:
        doing = f"opening a pull request from {head} to {base} in {self._name}"
        check_length(body, limit=COMMENT_LIMIT, forge="GitHub", doing=doing)
        with self._doing(doing):
            created = self._repo.create_pull(base=base, head=head, title=title, body=body)
            return self._to_pull(created)
