"""A local git repository, through the git command line.

Owns: resolving refs to commits, the merge base of a change, the files a
change touches, reading one file at a commit, and checking a commit out
into a temporary folder (a detached worktree) that is removed afterwards;
for the puller's own bare repository also creating it, fetching one
branch into it, asking whether one commit descends from another, and
verifying a commit's SSH signature against an allowed-signers file.
Refuses: anything that moves the user's branches, index or working tree.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

from gitops_bot.errors import BotError

_TIMEOUT_S = 120
_PGP_KEYS = "-----BEGIN PGP PUBLIC KEY BLOCK-----"


_FULL_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


class GitError(BotError):
    """A git command did not do what was asked."""


class Git:
    def __init__(self, root: Path, *, any_owner: bool = False) -> None:
        """`any_owner`: the repository may belong to another user, as a CI
        job's checkout does (the runner's user made it; the Docker action
        runs as root, a GitLab job as the image's user). git refuses to read
        such a repository ("dubious ownership") unless the directory is
        declared safe; this declares it for this one path, on the command
        line, as actions/checkout does with its own safe.directory."""
        self.root = root
        git = shutil.which("git")
        if git is None:
            raise GitError("looking for git: it is not on PATH")
        self._git = git
        self._safe = ("-c", f"safe.directory={root.resolve()}") if any_owner else ()

    def execute(
        self, *args: str, doing: str, env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """git -C root ARGS, whatever its exit code; GitError if git cannot run."""
        try:
            return subprocess.run(
                [self._git, *self._safe, "-C", str(self.root), *args],
                capture_output=True,
                text=True,
                timeout=_TIMEOUT_S,
                check=False,
                env=None if env is None else dict(env),
            )
        except (OSError, subprocess.TimeoutExpired) as err:
            raise GitError(f"{doing}: {err}") from err

    def _run(
        self,
        *args: str,
        doing: str,
        ok_codes: tuple[int, ...] = (0,),
        env: Mapping[str, str] | None = None,
    ) -> str:
        done = self.execute(*args, doing=doing, env=env)
        if done.returncode not in ok_codes:
            message = done.stderr.strip().splitlines()[-1:] or [f"exit code {done.returncode}"]
            raise GitError(f"{doing}: {message[0]}")
        return done.stdout

    def resolve(self, ref: str) -> str:
        """The full SHA of the commit `ref` names."""
        if ref.startswith("-"):
            raise GitError(f"resolving {ref!r}: not a revision")
        out = self._run(
            "rev-parse",
            "--verify",
            "--quiet",
            "--end-of-options",
            f"{ref}^{{commit}}",
            doing=f"resolving {ref!r}",
            ok_codes=(0, 1),
        )
        if not out.strip():
            raise GitError(f"resolving {ref!r}: no such commit in {self.root}")
        return out.strip()

    def merge_base(self, base: str, head: str) -> str:
        """Where `head` branched from `base`: what a pull request's diff starts from."""
        return self._run(
            "merge-base", base, head, doing=f"finding the merge base of {base[:12]} and {head[:12]}"
        ).strip()

    def changed_files(self, base: str, head: str) -> tuple[str, ...]:
        """Files that differ between two commits; a rename counts as both paths."""
        out = self._run(
            "diff",
            "--name-only",
            "--no-renames",
            "-z",
            base,
            head,
            "--",
            doing=f"listing the files changed between {base[:12]} and {head[:12]}",
        )
        return tuple(sorted(p for p in out.split("\0") if p))

    def read(self, commit: str, path: str) -> str | None:
        """The text of `path` at `commit`, or None if it does not exist there."""
        spec = f"{commit}:{path}"
        doing = f"reading {path} at {commit[:12]}"
        if self._run("cat-file", "-t", spec, doing=doing, ok_codes=(0, 128)).strip() != "blob":
            return None
        return self._run("cat-file", "blob", spec, doing=doing)

    @contextlib.contextmanager
    def checkout(self, commit: str) -> Iterator[Path]:
        """A temporary, detached checkout of `commit`; removed on exit."""
        folder = Path(tempfile.mkdtemp(prefix="gitops-bot-tree-")) / "tree"
        self._run(
            "worktree",
            "add",
            "--detach",
            "--quiet",
            str(folder),
            commit,
            doing=f"checking out {commit[:12]}",
        )
        try:
            yield folder
        finally:
            with contextlib.suppress(GitError):
                self._run(
                    "worktree",
                    "remove",
                    "--force",
                    str(folder),
                    doing=f"removing the checkout of {commit[:12]}",
                )
            shutil.rmtree(folder.parent, ignore_errors=True)

    # -- the puller's bare repository ------------------------------------------

    def init_bare(self) -> None:
        """Make `root` a bare repository, unless it is one already."""
        if (self.root / "HEAD").is_file():
            return
        self.root.mkdir(parents=True, exist_ok=True)
        self._run("init", "--bare", "--quiet", doing=f"creating a bare repository in {self.root}")

    def fetch(self, url: str, branch: str, *, into: str, env: Mapping[str, str]) -> str:
        """Fetch `branch` of `url` into the local ref `into` (forced: the caller
        judges rewinds); the fetched commit. `env` carries credentials."""
        if branch.startswith("-") or url.startswith("-"):
            raise GitError(f"fetching {branch!r} from {url!r}: not a branch or URL")
        self._fetch(
            url, f"+refs/heads/{branch}:{into}", f"fetching branch {branch} from {url}", env
        )
        return self.resolve(into)

    def _fetch(self, url: str, refspec: str, doing: str, env: Mapping[str, str]) -> None:
        """One forced refspec of `url`, without tags or FETCH_HEAD."""
        self._run(
            "fetch",
            "--quiet",
            "--no-tags",
            "--no-write-fetch-head",
            "--",
            url,
            refspec,
            doing=doing,
            env=env,
        )

    def has_commit(self, sha: str) -> bool:
        """Whether this repository holds the commit `sha` (a full SHA) already."""
        if not _FULL_SHA.fullmatch(sha):
            raise GitError(f"looking for {sha!r}: not a full commit SHA")
        return self._exit_code("cat-file", "-e", f"{sha}^{{commit}}") == 0

    def fetch_commit(self, url: str, sha: str, *, into: str, env: Mapping[str, str]) -> None:
        """Fetch the commit `sha` (a full SHA) of `url` into the local ref `into`.
        Servers speaking protocol v2 (git 2.26+, GitHub, GitLab) hand out any
        commit they hold by its SHA; GitError when `url` does not hold it."""
        if not _FULL_SHA.fullmatch(sha) or url.startswith("-"):
            raise GitError(f"fetching {sha!r} from {url!r}: not a commit SHA or URL")
        self._fetch(url, f"+{sha}:{into}", f"fetching commit {sha[:12]} from {url}", env)

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        """Whether `descendant` is `ancestor` or has it in its history."""
        code = self._exit_code("merge-base", "--is-ancestor", ancestor, descendant)
        if code not in (0, 1):
            raise GitError(
                f"checking whether {descendant[:12]} descends from {ancestor[:12]}: "
                f"exit code {code} (is one of them missing?)"
            )
        return code == 0

    def _exit_code(self, *args: str) -> int:
        return self.execute(*args, doing=f"running git {args[0]}").returncode

    def verify_commit(self, commit: str, *, allowed_signers: Path) -> str | None:
        """None if `commit` is signed by a key of `allowed_signers`, else why not.

        `allowed_signers` is git's gpg.ssh.allowedSignersFile (SSH keys), or
        ASCII-armored OpenPGP public keys (a file with a PGP PUBLIC KEY BLOCK),
        imported into a keyring of this check's own, so only they can vouch."""
        doing = f"verifying the signature of {commit[:12]}"
        if _PGP_KEYS in allowed_signers.read_text(errors="replace"):
            done = self._verify_openpgp(commit, allowed_signers, doing=doing)
        else:
            ssh = ("-c", "gpg.format=ssh", "-c", f"gpg.ssh.allowedSignersFile={allowed_signers}")
            done = self.execute(*ssh, "verify-commit", "--raw", commit, doing=doing)
        if done.returncode == 0:
            return None
        if not self._signed(commit):
            return f"commit {commit[:12]} is not signed"
        lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
        why = lines[-1] if lines else "no reason given"
        return f"commit {commit[:12]}: the signature is not by an allowed key ({why})"

    def _verify_openpgp(
        self, commit: str, keys: Path, *, doing: str
    ) -> subprocess.CompletedProcess[str]:
        gpg = shutil.which("gpg")
        if gpg is None:
            raise GitError(f"{doing}: gpg is not on PATH, and the allowed keys are OpenPGP keys")
        with tempfile.TemporaryDirectory(prefix="gitops-bot-gpg-") as home:
            env = {**os.environ, "GNUPGHOME": home}
            try:
                imported = subprocess.run(
                    [gpg, "--batch", "--quiet", "--import", str(keys)],
                    capture_output=True,
                    text=True,
                    timeout=_TIMEOUT_S,
                    check=False,
                    env=env,
                )
            except (OSError, subprocess.TimeoutExpired) as err:
                raise GitError(f"{doing}: importing the OpenPGP keys: {err}") from err
            if imported.returncode != 0:
                raise GitError(f"{doing}: the OpenPGP keys in {keys} could not be imported")
            gpg_args = ("-c", "gpg.format=openpgp", "-c", f"gpg.program={gpg}")
            return self.execute(*gpg_args, "verify-commit", "--raw", commit, doing=doing, env=env)

    def _signed(self, commit: str) -> bool:
        text = self._run("cat-file", "commit", commit, doing=f"reading commit {commit[:12]}")
        header = text.split("\n\n", 1)[0]
        return any(line.startswith("gpgsig") for line in header.splitlines())
