"""`gitops-bot puller`'s flags and their environment variables, through click's CliRunner."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from gitops_bot.cli.puller import puller
from gitops_bot.errors import ConfigError
from gitops_bot.puller import wiring
from gitops_bot.puller.settings import Options


def test_every_flag_names_its_environment_variable() -> None:
    result = CliRunner().invoke(puller, ["--help"], terminal_width=200)
    assert result.exit_code == 0
    for variable in (
        "GITOPS_BOT_REPO_URL",
        "GITOPS_BOT_ENVS",
        "GITOPS_BOT_POKE_SECRET_FILE",
        "GITOPS_BOT_ALLOWED_SIGNERS_FILE",
        "GITOPS_BOT_SELF_HEAL",
        "GITOPS_BOT_FORGE_TOKEN_FILE",
        "POD_NAME",
    ):
        assert variable in result.output


def test_outside_a_pod_without_a_kubeconfig_it_says_what_is_missing() -> None:
    result = CliRunner().invoke(
        puller, ["--repo-url", "file:///x", "--env", "dev"], env={"KUBECONFIG": ""}
    )
    assert isinstance(result.exception, ConfigError)
    assert "no --kubeconfig and not running in a pod" in str(result.exception)


def test_settings_come_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    captured: list[Options] = []

    def fake_main(options: Options, **_: object) -> int:
        captured.append(options)
        return 0

    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("")
    env = {
        "GITOPS_BOT_REPO_URL": "https://example.com/shop.git",
        "GITOPS_BOT_ENVS": "dev prod",
        "GITOPS_BOT_NAMESPACE": "gitops-bot",
        "GITOPS_BOT_SELF_HEAL": "false",
        "GITOPS_BOT_PRUNE_OPT_IN": "Namespace",
        "GITOPS_BOT_LEASE_NAME": "shop-puller",
        "KUBECONFIG": str(kubeconfig),
    }
    # Only the flag reading is under test here; running is test_puller_faults's.
    monkeypatch.setattr(wiring, "main", fake_main)
    result = CliRunner().invoke(puller, [], env=env)
    assert result.exit_code == 0, result.output
    settings = wiring.settings_from(*captured)
    assert settings.envs == ("dev", "prod")
    assert settings.heal is False
    assert settings.apply.prune_opt_in == frozenset({"Namespace"})
    assert settings.parent_name("prod") == "gitops-bot-prod"
    assert settings.lease_name == "shop-puller"


def test_a_namespace_is_needed_outside_a_pod() -> None:
    with pytest.raises(ConfigError, match="--namespace"):
        wiring.settings_from(Options(repo_url="file:///x", envs=("dev",), namespace=None))
