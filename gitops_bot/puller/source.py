"""Where the puller's commits come from, and which of them it may move to.

Owns: a bare repository of the puller's own that one branch of the remote
is fetched into (HTTPS with a token read from a file at every fetch, so a
rotated Secret is picked up; or SSH with a key and a known_hosts file,
host keys checked strictly), and the decision whether the fetched tip may
be applied after the last commit applied: only a descendant, unless an
explicit rollback names it; and, when an allowed-signers file is given,
only a commit signed by one of those keys.
Refuses: rendering or applying anything, and sending a credential anywhere
but to git through its environment (never in argv, the URL, or a message).
"""

from __future__ import annotations

import base64
import os
import shlex
from dataclasses import dataclass
from pathlib import Path

from gitops_bot.vcs.git import Git, GitError

TRACKED_REF = "refs/gitops-bot/tracked"
PLAN_REFS = "refs/gitops-bot/plans/"  # commits fetched to plan, by SHA


@dataclass(frozen=True)
class Credentials:
    token_file: Path | None = None  # HTTPS: a token, e.g. a deploy token or PAT
    token_user: str = "x-access-token"  # noqa: S105 - a user name: GitHub's for tokens
    ssh_key_file: Path | None = None  # SSH: a private key ...
    known_hosts_file: Path | None = None  # ... and the host keys to trust


@dataclass(frozen=True)
class Move:
    """What to do with a fetched tip: apply `commit`, or refuse and say why."""

    commit: str
    refused: str | None = None
    rollback: bool = False  # allowed only because a rollback names it
    rewound: bool = False  # refused because it does not descend from the last commit

    @property
    def allowed(self) -> bool:
        return self.refused is None


def git_environment(credentials: Credentials, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment git runs with: credentials in GIT_CONFIG_* and GIT_SSH_COMMAND."""
    env = {
        k: v
        for k, v in (os.environ if base is None else base).items()
        if not k.startswith(("GIT_CONFIG_", "GIT_DIR", "GIT_SSH"))
    }
    env["GIT_TERMINAL_PROMPT"] = "0"
    env["GIT_CONFIG_NOSYSTEM"] = "1"
    settings: list[tuple[str, str]] = [("protocol.ext.allow", "never")]
    if credentials.token_file is not None:
        token = _read_secret(credentials.token_file, what="the git token")
        basic = base64.b64encode(f"{credentials.token_user}:{token}".encode()).decode()
        settings.append(("http.extraHeader", f"Authorization: Basic {basic}"))
    if credentials.ssh_key_file is not None:
        if credentials.known_hosts_file is None:
            raise GitError("fetching over SSH: a known_hosts file is needed with the SSH key")
        env["GIT_SSH_COMMAND"] = shlex.join(
            [
                "ssh",
                "-i",
                str(credentials.ssh_key_file),
                "-o",
                "IdentitiesOnly=yes",
                "-o",
                f"UserKnownHostsFile={credentials.known_hosts_file}",
                "-o",
                "StrictHostKeyChecking=yes",
                "-o",
                "BatchMode=yes",
            ]
        )
    env["GIT_CONFIG_COUNT"] = str(len(settings))
    for i, (key, value) in enumerate(settings):
        env[f"GIT_CONFIG_KEY_{i}"] = key
        env[f"GIT_CONFIG_VALUE_{i}"] = value
    return env


def _read_secret(path: Path, *, what: str) -> str:
    try:
        value = path.read_text().strip()
    except OSError as err:
        raise GitError(f"reading {what} from {path}: {err.strerror or err}") from err
    if not value:
        raise GitError(f"reading {what} from {path}: the file is empty")
    return value


class Source:
    """One branch of one remote repository, mirrored into `cache`."""

    def __init__(
        self,
        url: str,
        branch: str,
        *,
        cache: Path,
        credentials: Credentials = Credentials(),
        allowed_signers: Path | None = None,
    ) -> None:
        self.url = url
        self.branch = branch
        self.credentials = credentials
        self.allowed_signers = allowed_signers
        self.git = Git(cache)
        self.git.init_bare()

    def fetch(self) -> str:
        """The commit at the tip of the branch now."""
        env = git_environment(self.credentials)
        try:
            return self.git.fetch(self.url, self.branch, into=TRACKED_REF, env=env)
        except GitError as err:
            raise GitError(_scrub(str(err), env)) from None

    def fetch_commits(self, *shas: str) -> None:
        """Have the commits `shas` here, fetched from the remote by SHA when they
        are not (never from anywhere else); GitError naming the one it cannot have."""
        env: dict[str, str] | None = None
        for sha in shas:
            if self.git.has_commit(sha):
                continue
            env = env or git_environment(self.credentials)
            try:
                self.git.fetch_commit(self.url, sha, into=PLAN_REFS + sha, env=env)
            except GitError as err:
                raise GitError(
                    f"commit {sha[:12]} is not in {self.url}, or the puller cannot fetch it: "
                    f"{_scrub(str(err), env)}"
                ) from None

    def forget_commits(self, *shas: str) -> None:
        """Drop the refs fetch_commits made, so plans leave no ref behind; the
        objects stay until git's own garbage collection (two weeks unreferenced)."""
        for sha in shas:
            self.git.execute("update-ref", "-d", PLAN_REFS + sha, doing=f"forgetting {sha[:12]}")

    def decide(self, tip: str, *, last: str | None, rollback_to: str | None = None) -> Move:
        """May the puller move from `last` (None: nothing applied yet) to `tip`?

        A descendant of `last` is a move forward. Anything else (a force-push
        that rewound or rewrote the branch) is refused, unless `rollback_to`
        names `tip` or one of its ancestors that `tip` descends from: a person
        said that this history is the one to follow now.
        """
        move = Move(commit=tip)
        if last is not None and tip != last and not self._descends(tip, last):
            if rollback_to and self._rollback_covers(tip, rollback_to):
                move = Move(commit=tip, rollback=True)
            else:
                return Move(
                    commit=tip,
                    rewound=True,
                    refused=(
                        f"{self.branch} is at {tip[:12]}, which does not descend from the "
                        f"last applied commit {last[:12]} (a force-push rewound or rewrote "
                        "the branch); set a rollback to that commit to allow it"
                    ),
                )
        if self.allowed_signers is not None:
            why = self.git.verify_commit(tip, allowed_signers=self.allowed_signers)
            if why is not None:
                return Move(commit=tip, refused=f"verifying the signature: {why}")
        return move

    def _descends(self, tip: str, last: str) -> bool:
        try:
            return self.git.is_ancestor(last, tip)
        except GitError:
            return False  # `last` is gone from the fetched history: not a descendant

    def _rollback_covers(self, tip: str, rollback_to: str) -> bool:
        try:
            target = self.git.resolve(rollback_to)
        except GitError:
            return False
        return target == tip or self.git.is_ancestor(target, tip)


def _scrub(text: str, env: dict[str, str]) -> str:
    for key, value in env.items():
        if key.startswith("GIT_CONFIG_VALUE_") and value.startswith("Authorization:"):
            text = text.replace(value, "Authorization: ***")
    return text
