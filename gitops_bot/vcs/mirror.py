"""A local bare copy of a remote repository, for the webhook server.

Owns: keeping one bare repository per remote under a cache folder and
fetching into it the commits a pull request needs (by SHA, or by the
forge's pull request ref when the server does not serve SHAs), one fetch at
a time. The token (or, for a token that is replaced before it expires, the
current one, read for every git command) travels in an HTTP header set
through the child's environment (GIT_CONFIG_*), never in the URL, argv or
the repository's config, and is scrubbed from any error. Refuses: checking anything out
(vcs.git.Git does that, on the same folder) and deciding which commits are
needed (the use case says).
"""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

from gitops_bot.vcs.git import Git, GitError

_TIMEOUT_S = 300


class Mirror:
    """`token`: a token, or a function that gives the current one (a GitHub
    App's installation token, replaced before it expires), read for every
    git command."""

    def __init__(
        self,
        cache: Path,
        url: str,
        *,
        token: str | Callable[[], str] = "",
        user: str = "x-access-token",
    ) -> None:
        self.url = url
        self.root = cache / hashlib.sha256(url.encode()).hexdigest()[:16]
        self._git = Git(self.root)
        self._token = token if callable(token) else (lambda: token)
        self._user = user
        self._seen: set[str] = set()  # every token used, scrubbed from every error
        self._lock = threading.Lock()

    @staticmethod
    def _environment(token: str, user: str) -> dict[str, str]:
        # Our one setting goes through GIT_CONFIG_COUNT; the caller's own
        # (e.g. GIT_CONFIG_PARAMETERS, proxies) still apply.
        ours = ("GIT_CONFIG_COUNT", "GIT_CONFIG_KEY_", "GIT_CONFIG_VALUE_", "GIT_DIR")
        env = {k: v for k, v in os.environ.items() if not k.startswith(ours)}
        env["GIT_TERMINAL_PROMPT"] = "0"
        if token:
            basic = base64.b64encode(f"{user}:{token}".encode()).decode()
            env.update(
                GIT_CONFIG_COUNT="1",
                GIT_CONFIG_KEY_0="http.extraHeader",
                GIT_CONFIG_VALUE_0=f"Authorization: Basic {basic}",
            )
        return env

    def _run(self, *args: str, doing: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        token = self._token()
        if token:
            self._seen.add(token)
        try:
            done = self._git.execute(*args, doing=doing, env=self._environment(token, self._user))
        except GitError as err:
            raise GitError(self._scrub(str(err))) from None
        if check and done.returncode != 0:
            lines = done.stderr.strip().splitlines()[-1:] or [f"exit code {done.returncode}"]
            raise GitError(f"{doing}: {self._scrub(lines[0])}")
        return done

    def _scrub(self, text: str) -> str:
        for token in self._seen:
            text = text.replace(token, "***")
        return text

    def _has(self, sha: str) -> bool:
        spec = f"{sha}^{{commit}}"
        return (
            self._run(
                "cat-file", "-e", spec, doing=f"looking for {sha[:12]}", check=False
            ).returncode
            == 0
        )

    def sync(self, *shas: str, refs: tuple[str, ...] = ()) -> Git:
        """The mirror with every commit of `shas` present: fetched by SHA, or
        through `refs` (e.g. refs/pull/7/head) when the server refuses SHAs."""
        with self._lock:
            self._init()
            missing = [sha for sha in dict.fromkeys(shas) if not self._has(sha)]
            if missing:
                self._fetch(missing, refs)
        return Git(self.root)

    def branch(self, name: str) -> tuple[Git, str]:
        """The mirror with `name` fetched now, history and all, and its tip."""
        with self._lock:
            self._init()
            self._run(
                "fetch",
                "--quiet",
                "--no-tags",
                "--no-write-fetch-head",
                "--",
                self.url,
                f"+refs/heads/{name}:refs/heads/{name}",
                doing=f"fetching {name} from {self.url}",
            )
        git = Git(self.root)
        return git, git.resolve(f"refs/heads/{name}")

    def _init(self) -> None:
        if not (self.root / "HEAD").exists():
            self.root.mkdir(parents=True, exist_ok=True)
            self._run("init", "--bare", "--quiet", doing=f"creating the mirror of {self.url}")

    def _fetch(self, missing: list[str], refs: tuple[str, ...]) -> None:
        doing = f"fetching {', '.join(s[:12] for s in missing)} from {self.url}"
        base = ("fetch", "--quiet", "--no-tags", "--no-write-fetch-head", "--", self.url)
        done = self._run(*base, *missing, doing=doing, check=False)
        if done.returncode != 0 and refs:
            spec = [f"+{ref}:refs/gitops-bot/fetched/{i}" for i, ref in enumerate(refs)]
            self._run(*base, *spec, doing=doing)
        elif done.returncode != 0:
            lines = done.stderr.strip().splitlines()[-1:] or [f"exit code {done.returncode}"]
            raise GitError(f"{doing}: {self._scrub(lines[0])}")
        still = [sha for sha in missing if not self._has(sha)]
        if still:
            raise GitError(
                f"{doing}: {', '.join(s[:12] for s in still)} not found there "
                "(force-pushed away, or not readable with this token)"
            )
