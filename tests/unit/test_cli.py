from __future__ import annotations

import gc
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from gitops_bot import __version__
from gitops_bot.cli import cli, common
from gitops_bot.errors import BotError


def test_version() -> None:
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert result.output == f"gitops-bot, version {__version__}\n"


def test_help_lists_only_commands_that_exist() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    commands = result.output.split("Commands:")[1].split()
    assert commands[0] == "demo"


def test_unknown_command_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["plna"])
    assert result.exit_code == 2
    assert "No such command 'plna'" in result.output


def _console_script() -> str:
    found = shutil.which("gitops-bot", path=str(Path(sys.executable).parent))
    assert found, "the gitops-bot console script is not installed next to this Python"
    return found


def test_console_script_reports_bot_errors_with_exit_code_2(tmp_path: Path) -> None:
    done = subprocess.run(
        [_console_script(), "demo"],
        env={"GITOPS_BOT_TESTENV_BIN": str(tmp_path), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith(
        f"gitops-bot: looking for the control-plane binaries in {tmp_path}: missing etcd, "
    )
    assert "Traceback" not in done.stderr


def test_github_writes_are_paced_as_github_asks_unless_told_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from gitops_bot.forges.github import write_interval  # noqa: PLC0415

    monkeypatch.delenv("GITOPS_BOT_GITHUB_WRITE_INTERVAL", raising=False)
    assert write_interval(os.environ) == 1.0
    monkeypatch.setenv("GITOPS_BOT_GITHUB_WRITE_INTERVAL", "0")
    assert write_interval(os.environ) is None
    for bad in ("soon", "-1"):
        monkeypatch.setenv("GITOPS_BOT_GITHUB_WRITE_INTERVAL", bad)
        with pytest.raises(BotError, match="GITOPS_BOT_GITHUB_WRITE_INTERVAL"):
            write_interval(os.environ)


def test_a_one_shot_command_collects_rarely_and_restores_the_setting() -> None:
    before = gc.get_threshold()
    with common.one_shot():
        assert gc.get_threshold()[0] == 100_000
    assert gc.get_threshold() == before
    with pytest.raises(RuntimeError), common.one_shot():
        raise RuntimeError("the plan failed")
    assert gc.get_threshold() == before
