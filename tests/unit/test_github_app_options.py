"""The GitHub App options: the id and key read and checked before anything is
sent, refused next to a token or for GitLab, and the key never printed."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from gitops_bot.cli import common
from gitops_bot.cli.puller import _forge_app
from gitops_bot.errors import ConfigError
from gitops_bot.forges import appkey

CANARY = "c2VjcmV0LWtleS1tYXRlcmlhbC1jYW5hcnk"  # stands for key material


def _pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


@pytest.fixture(scope="module")
def rsa_pem() -> str:
    return _pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))


def test_an_rsa_pem_from_the_environment_is_the_apps_key(rsa_pem: str) -> None:
    app = common.github_app(
        "4242", None, forge="github", env={"GITOPS_BOT_GITHUB_APP_KEY": rsa_pem}
    )

    assert app == appkey.AppKey("4242", rsa_pem.strip() + "\n")
    assert "PRIVATE KEY" not in repr(app)


def test_an_rsa_pem_from_a_file_is_the_apps_key(rsa_pem: str, tmp_path: Path) -> None:
    path = tmp_path / "app.pem"
    path.write_text(rsa_pem)

    app = common.github_app(" 4242 ", str(path), forge=None, env={})

    assert app is not None
    assert (app.app_id, app.private_key) == ("4242", rsa_pem.strip() + "\n")


def test_no_app_id_is_no_app() -> None:
    assert common.github_app(None, None, forge="github", env={"GITOPS_BOT_TOKEN": "t"}) is None


@pytest.mark.parametrize(
    "text",
    [
        f"-----BEGIN RSA PRIVATE KEY-----\n{CANARY}\n-----END RSA PRIVATE KEY-----\n",
        f"{CANARY}\n",
        "",
    ],
    ids=["broken-pem", "not-pem", "empty-file"],
)
def test_a_key_that_is_not_an_rsa_pem_is_refused_without_printing_it(
    text: str, tmp_path: Path
) -> None:
    path = tmp_path / "app.pem"
    path.write_text(text)

    with pytest.raises(ConfigError) as caught:
        common.github_app("4242", str(path), forge="github", env={})

    assert str(caught.value) == (
        f"reading the GitHub App's private key from --github-app-key-file {path}: not an "
        "RSA private key in PEM (the .pem file the App's settings page generates)"
    )
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


def test_a_key_in_the_environment_that_is_not_pem_names_the_variable() -> None:
    with pytest.raises(ConfigError) as caught:
        appkey.load("4242", key_text=CANARY)

    assert "from GITOPS_BOT_GITHUB_APP_KEY: not an RSA private key in PEM" in str(caught.value)
    assert CANARY not in str(caught.value)


def test_an_elliptic_curve_key_is_refused_naming_its_kind() -> None:
    pem = _pem(ec.generate_private_key(ec.SECP256R1()))

    with pytest.raises(ConfigError) as caught:
        appkey.load("4242", key_text=pem)

    assert str(caught.value).endswith("generates); its kind is EC")


@pytest.mark.parametrize(
    ("app_id", "key_file", "forge", "env", "error"),
    [
        (
            "4242",
            None,
            "github",
            {"GITOPS_BOT_TOKEN": "ghs_x"},
            "--github-app-id (GITOPS_BOT_GITHUB_APP_ID) and GITOPS_BOT_TOKEN are both set: "
            "authenticate with a token or as a GitHub App, not both",
        ),
        ("4242", None, "gitlab", {}, "--github-app-id is for --forge github, not gitlab"),
        (None, "app.pem", "github", {}, "--github-app-key-file is set without --github-app-id"),
        (
            None,
            None,
            "github",
            {"GITOPS_BOT_GITHUB_APP_KEY": "x"},
            "GITOPS_BOT_GITHUB_APP_KEY is set without --github-app-id",
        ),
        ("my-app", None, "github", {}, "--github-app-id 'my-app': a GitHub App's id is a number"),
        (
            "4242",
            None,
            "github",
            {},
            "--github-app-id needs the App's private key: --github-app-key-file",
        ),
        (
            "4242",
            "app.pem",
            "github",
            {"GITOPS_BOT_GITHUB_APP_KEY": "x"},
            "give --github-app-key-file or GITOPS_BOT_GITHUB_APP_KEY, not both",
        ),
        ("4242", "/nonexistent/app.pem", "github", {}, "reading --github-app-key-file"),
    ],
)
def test_what_is_wrong_with_the_app_options_is_named(
    app_id: str | None, key_file: str | None, forge: str, env: dict[str, str], error: str
) -> None:
    tokens = ("GITOPS_BOT_TOKEN",)
    with pytest.raises(ConfigError) as caught:
        common.github_app(app_id, key_file, forge=forge, env=env, tokens=tokens)

    assert error in str(caught.value)


def test_the_puller_refuses_a_token_file_next_to_an_app(
    rsa_pem: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITOPS_BOT_GITHUB_APP_KEY", rsa_pem)
    flags = {
        "github_app_id": "4242",
        "github_app_key_file": None,
        "forge": "github",
        "forge_token_file": Path("token"),
    }

    with pytest.raises(ConfigError, match="--github-app-id and --forge-token-file are both set"):
        _forge_app(flags)
    assert _forge_app(flags | {"forge_token_file": None}) == appkey.AppKey(
        "4242", rsa_pem.strip() + "\n"
    )
