"""The connection every part of the GitHub adapter shares.

Owns: PyGithub's client for one repository (lazy, so a call costs only the
requests it needs), retries of rate limits and server errors (PyGithub's
GithubRetry, bounded in tries and in total waiting, with an injectable
sleep), the bot's own login, copying a pull request into core.forge.Pull,
and turning every PyGithub or transport error into a ForgeError that says
what was happening and never carries the token; a GitHub App's installation
token instead of a token (app.py finds and refreshes it). GitHub's limits are
constants here. Refuses: any port's logic (the sibling modules own that).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from github import Auth, Github, GithubException, GithubRetry, RateLimitExceededExceedsMaxWait
from github.PullRequest import PullRequest
from urllib3.exceptions import MaxRetryError

from gitops_bot.core.pr.model import Pull
from gitops_bot.errors import ForgeError
from gitops_bot.forges.appkey import AppKey
from gitops_bot.forges.github import app as apps

STATUS_DESCRIPTION_LIMIT = 140  # also a deployment status's description
PER_PAGE = 100  # GitHub's largest page: the fewest calls for a long list
FILES_LIMIT = 3000  # GitHub lists no more files of one pull request
MAX_TRIES = 5
MAX_WAIT = 60.0  # seconds of waiting, in total, before one request gives up
RETRIED_STATUSES = (429, *range(500, 600))  # GithubRetry adds 403 when it is a rate limit


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


def when(moment: datetime | None) -> str:
    return "" if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def why(err: GithubException, max_wait: float) -> str:
    data = err.data if isinstance(err.data, dict) else {}
    details = [str(e.get("message", e)) for e in data.get("errors", ()) if isinstance(e, dict)]
    said = [part for part in [str(data.get("message") or ""), *details] if part]
    text = f"GitHub answered {err.status}" + (": " + "; ".join(said) if said else "")
    if isinstance(err, RateLimitExceededExceedsMaxWait):
        text += f" (the limit resets in {err.wait or 0:.0f} s; this client waits {max_wait:.0f} s)"
    elif err.status in RETRIED_STATUSES or (err.status == 403 and "rate limit" in text):
        text += f" (gave up after at most {MAX_TRIES} tries and {max_wait:.0f} s of waiting)"
    return text


class Client:
    """PyGithub for one repository ("owner/name"), and the plumbing every port uses.

    `bot_login` skips GET /user, which a GitHub App installation token
    (Actions' GITHUB_TOKEN: "github-actions[bot]") is not allowed to call.
    `app` instead of `token`: the App's installation token for `repo`
    (`installation`, else the one GitHub names for the repository), fetched
    now and refreshed by PyGithub before it expires; the bot's login is then
    the App's "SLUG[bot]" unless `bot_login` says otherwise.
    `sleep` waits between retries; pacing between writes is PyGithub's.
    """

    def __init__(
        self,
        *,
        repo: str,
        token: str = "",
        app: AppKey | None = None,
        installation: int | None = None,
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
        self._max_wait = max_wait
        self._name = repo
        self._app = app
        self._app_auth: Auth.AppInstallationAuth | None = None
        auth: Auth.Auth
        self._token = token
        if app is None:
            auth = Auth.Token(token)
        else:
            if token:
                raise ForgeError("connecting to GitHub: give a token or a GitHub App, not both")
            options: dict[str, Any] = {"retry": retry, "timeout": timeout}
            options["user_agent"] = "gitops-bot"
            self._app_auth = auth = apps.installation_auth(
                app, repo=repo, base_url=base_url, installation=installation, **options
            )
        self._login = bot_login
        self._gh = Github(
            base_url=base_url,
            auth=auth,
            per_page=PER_PAGE,
            retry=retry,
            lazy=True,  # objects fetch on first use, so a call costs what it needs
            seconds_between_requests=None,
            seconds_between_writes=seconds_between_writes,
            timeout=timeout,
            user_agent="gitops-bot",
        )
        self._repo = self._gh.get_repo(repo)
        if app is not None and self._app_auth is not None:
            self._token = apps.first_token(self._app_auth, app, repo)  # fetched now, or cached
            if bot_login is None:
                self._login = apps.bot_login(app, base_url, **options)
        self._seen = {self._token}

    @contextmanager
    def _doing(self, what: str) -> Iterator[None]:
        try:
            yield
        except GithubException as err:
            raise ForgeError(self._scrub(f"{what}: {why(err, self._max_wait)}")) from err
        except OSError as err:  # requests' errors are OSErrors: refused, reset, timed out
            raise ForgeError(self._scrub(f"{what}: {err}")) from err

    def _scrub(self, message: str) -> str:
        for token in self._seen:
            message = message.replace(token, "***") if token else message
        return message

    def access_token(self) -> str:
        """The token requests carry now (for git): the one given, or the App
        installation's current one (a fresh one when it was about to expire)."""
        if self._app is None or self._app_auth is None:
            return self._token
        token = apps.first_token(self._app_auth, self._app, self._name)
        self._seen.add(token)
        return token

    def own_login(self) -> str:
        """The bot's own account (GET /user once, unless bot_login was given)."""
        return self._me()

    def _me(self) -> str:
        if self._login is None:
            doing = "finding the bot's own login (GET /user; pass bot_login for an App token)"
            with self._doing(doing):
                self._login = str(self._gh.get_user().login)
        return self._login

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
            # merged_at, not merged: a listed pull request (pull-request-simple) has
            # only merged_at, and asking for `merged` would fetch it again.
            state="merged" if pr.merged_at is not None else pr.state,
            labels=tuple(label.name for label in pr.labels),
            url=pr.html_url,
            merged_sha=(pr.merge_commit_sha or "") if pr.merged_at is not None else "",
            body=pr.body or "",
        )
