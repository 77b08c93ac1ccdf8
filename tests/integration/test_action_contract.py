"""The Docker action's contract with the runner, as far as it can be kept
without Docker: the image's entrypoint (`gitops-bot`, with action.yml's
`args` and `env`) started as its own process, with the files the runner hands
a Docker action owned by the runner's user and not by the process's.

What the runner does (actions/runner, FileCommandManager.InitializeFiles):
it creates `$GITHUB_OUTPUT`, `$GITHUB_STEP_SUMMARY` and the other command
files empty with File.Create, so mode 0644 under its umask 022, in a folder
0755, owned by its user (UID 1001 on GitHub-hosted runners, any UID on a
self-hosted one); the workspace is the checkout actions/checkout made as that
user (folders 0755, files 0644). The container runs as the image's user,
root (GitHub: "Docker actions must be run by the default Docker user
(root)"), which may write those files; git, though, refuses to read a
repository that another user owns ("detected dubious ownership") unless the
directory is declared safe, which the entrypoint does for the workspace only.

Run as root (a container, a CI machine's root), the test hands over files
really owned by UID 1001. Run as any other user, it cannot chown: the files
are its own, and git is made to see the workspace as another user's with its
own test switch, GIT_TEST_ASSUME_DIFFERENT_OWNER (git's setup.c), so the
refusal the entrypoint must get past is the same one.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from gitops_bot.vcs.git import Git, GitError
from tests.fakes.github_server import GitHubServer, checked
from tests.integration.shop import git

ROOT = Path(__file__).resolve().parents[2]
RUNNER_UID = 1001  # the runner's user on GitHub-hosted runners
TOKEN = "ghs_canary_token_0123456789"
REPO = "acme/shop"
# The image's ENTRYPOINT and action.yml's runs.args, joined as Docker does.
ENTRYPOINT = Path(sys.executable).parent / "gitops-bot"


@pytest.fixture
def server() -> Iterator[GitHubServer]:
    with checked() as srv:
        srv.add_user("gitops-bot[bot]", type="Bot", token=TOKEN)
        srv.add_repo(REPO, files={"README.md": "mirrored from a real git repository\n"})
        yield srv


def _argv() -> list[str]:
    dockerfile = (ROOT / "Dockerfile").read_text()
    entrypoint = re.findall(r"^ENTRYPOINT (\[.*\])$", dockerfile, flags=re.MULTILINE)
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    assert entrypoint, "the Dockerfile names no ENTRYPOINT"
    assert json.loads(entrypoint[-1]) == [ENTRYPOINT.name]
    return [str(ENTRYPOINT), *action["runs"]["args"]]


def _action_env(inputs: dict[str, str]) -> dict[str, str]:
    """action.yml's runs.env, each `${{ inputs.x }}` given or defaulted as the runner does."""
    action: dict[str, Any] = yaml.safe_load((ROOT / "action.yml").read_text())
    env = {}
    for name, value in action["runs"]["env"].items():
        found = re.fullmatch(r"\$\{\{ inputs\.([\w-]+) \}\}", value)
        assert found, value
        key = found.group(1)
        env[name] = inputs.get(key, str(action["inputs"][key].get("default", "")))
    return env


def _hand_over(path: Path, *, mode: int) -> None:
    """What the runner's user made: owned by it, with the modes umask 022 gives."""
    path.chmod(mode)
    if os.geteuid() == 0:
        os.chown(path, RUNNER_UID, RUNNER_UID, follow_symlinks=False)


def _as_checked_out(workspace: Path) -> None:
    for folder, _dirs, files in os.walk(workspace):
        _hand_over(Path(folder), mode=0o755)
        for name in files:
            if not (Path(folder) / name).is_symlink():
                _hand_over(Path(folder) / name, mode=0o644)


def _owner_differs(path: Path) -> bool:
    return path.stat().st_uid != os.geteuid()


@pytest.mark.usefixtures("tools_env")
def test_the_entrypoint_writes_the_runners_files_and_reads_its_workspace(
    shop: Path, server: GitHubServer, tmp_path: Path
) -> None:
    base = git(shop, "rev-parse", "main").strip()
    head = git(shop, "rev-parse", "change").strip()
    server.mirror(REPO, "main", sha=base)
    server.mirror(REPO, "change", sha=head, parent=base)
    pull = server.add_pull(REPO, title="Bump the shop", author="alice", head_ref="change")
    # The runner's temp folder: the event, the command files, HOME.
    temp = tmp_path / "_temp"
    commands = temp / "_runner_file_commands"
    home = temp / "_github_home"
    for folder in (temp, commands, home):
        folder.mkdir()
    event = temp / "event.json"
    event.write_text(
        json.dumps(
            {
                "action": "opened",
                "number": pull.number,
                "pull_request": {"number": pull.number, "head": {"sha": pull.head_sha}},
                "repository": {"full_name": REPO},
                "sender": {"login": "alice"},
            }
        )
    )
    output = commands / "set_output_0a1b"
    summary = commands / "step_summary_0a1b"
    output.touch()
    summary.touch()
    for file in (event, output, summary):
        _hand_over(file, mode=0o644)
    for folder in (commands, home, temp):
        _hand_over(folder, mode=0o755)
    _as_checked_out(shop)
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "GITOPS_BOT_HELM": os.environ["GITOPS_BOT_HELM"],
        "GITOPS_BOT_KUSTOMIZE": os.environ["GITOPS_BOT_KUSTOMIZE"],
        "GITOPS_BOT_GITHUB_WRITE_INTERVAL": "0",
        "GITHUB_ACTIONS": "true",
        "CI": "true",
        "GITHUB_EVENT_NAME": "pull_request",
        "GITHUB_EVENT_PATH": str(event),
        "GITHUB_REPOSITORY": REPO,
        "GITHUB_API_URL": server.url,
        "GITHUB_WORKSPACE": str(shop),
        "GITHUB_OUTPUT": str(output),
        "GITHUB_STEP_SUMMARY": str(summary),
        **_action_env({"token": TOKEN, "bot-login": "gitops-bot[bot]"}),
    }
    if os.geteuid() == 0:
        assert _owner_differs(shop)
        assert _owner_differs(output)
        assert _owner_differs(summary)
        assert oct(output.stat().st_mode & 0o777) == "0o644"
    else:
        env["GIT_TEST_ASSUME_DIFFERENT_OWNER"] = "1"
    # Without the entrypoint's declaration, git refuses the workspace: the
    # condition the test must set up, or it proves nothing.
    refused = subprocess.run(
        ["git", "-C", str(shop), "rev-parse", "HEAD"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert refused.returncode != 0
    assert "dubious ownership" in refused.stderr

    done = subprocess.run(
        _argv(), capture_output=True, text=True, env=env, timeout=240, check=False, cwd=shop
    )

    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout == "gitops-bot: acme/shop#1: 3 comment(s) and 7 status(es) written\n"
    written = output.read_text()
    assert "has-changes=true\n" in written
    delimiter = re.search(r"^summary<<(\S+)$", written, re.MULTILINE)
    assert delimiter, written
    markdown = written.split(f"summary<<{delimiter[1]}\n")[1].split(f"\n{delimiter[1]}\n")[0]
    assert "prod" in markdown
    assert summary.read_text().strip() == markdown.strip()
    # The plan came from the workspace: had git refused it, `run` would have
    # fetched the commits from github.com instead, and failed here.
    bodies = [c.body for c in server.comments_on(REPO, 1)]
    assert any("shop:1.5.0" in body for body in bodies)
    # The files stay the runner's, so it can read and delete them afterwards.
    if os.geteuid() == 0:
        assert output.stat().st_uid == summary.stat().st_uid == RUNNER_UID
    # Nothing of the run is left in the workspace's git folder (the runner's
    # next checkout must be able to clean it).
    leftover = list((shop / ".git" / "worktrees").glob("*"))
    assert leftover == []


def test_the_declaration_covers_the_workspace_and_no_other_repository(
    shop: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = tmp_path / "other"
    git(tmp_path, "init", "-q", str(other))
    main = git(shop, "rev-parse", "main").strip()
    # Every repository is another user's, as git's own tests make it.
    monkeypatch.setenv("GIT_TEST_ASSUME_DIFFERENT_OWNER", "1")

    with pytest.raises(GitError, match=r"safe\.directory"):  # git says how to declare it
        Git(shop).resolve("main")
    assert Git(shop, any_owner=True).resolve("main") == main
    done = Git(other, any_owner=False).execute("rev-parse", "--git-dir", doing="reading")
    assert "dubious ownership" in done.stderr
    # The declaration is this path's, on this command line: nothing is written
    # to a configuration another process would read.
    assert "safe.directory" not in (shop / ".git" / "config").read_text()
