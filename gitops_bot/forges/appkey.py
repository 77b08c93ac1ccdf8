"""A GitHub App's identity, as the bot is given it: the App's id and private key.

Owns: AppKey (the id and the PEM, the key kept out of every repr), and
reading it from a file or from the text of an environment variable with
the checks that can be made before anything is sent: the id is a number,
the key is an RSA private key in PEM (what GitHub's App settings
download). No message ever carries the key. Refuses: signing and talking
to GitHub (forges.github.app, through PyGithub's own App authentication).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from gitops_bot.errors import ConfigError


@dataclass(frozen=True)
class AppKey:
    """A GitHub App: its id and its private key (PEM, never printed)."""

    app_id: str
    private_key: str = field(repr=False)


def load(app_id: str, *, key_file: str | None = None, key_text: str | None = None) -> AppKey:
    """The App `app_id` with its key from `key_file` or `key_text` (exactly one);
    where it came from is named in any error, the key never."""
    if not app_id.strip().isdigit():
        raise ConfigError(f"--github-app-id {app_id!r}: a GitHub App's id is a number")
    if key_file and key_text:
        raise ConfigError(
            "the GitHub App's private key: give --github-app-key-file or "
            "GITOPS_BOT_GITHUB_APP_KEY, not both"
        )
    if key_file:
        where = f"--github-app-key-file {key_file}"
        try:
            text = Path(key_file).read_text(encoding="utf-8", errors="replace")
        except OSError as err:
            raise ConfigError(f"reading {where}: {err.strerror or err}") from None
    elif key_text:
        where, text = "GITOPS_BOT_GITHUB_APP_KEY", key_text
    else:
        raise ConfigError(
            "--github-app-id needs the App's private key: --github-app-key-file "
            "(GITOPS_BOT_GITHUB_APP_KEY_FILE) or its PEM in GITOPS_BOT_GITHUB_APP_KEY"
        )
    _check(text, where)
    return AppKey(app_id=app_id.strip(), private_key=text.strip() + "\n")


def _check(text: str, where: str) -> None:
    # Imported here: most processes (a puller without an App) never read a key.
    from cryptography.exceptions import UnsupportedAlgorithm  # noqa: PLC0415
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: PLC0415

    refused = (
        f"reading the GitHub App's private key from {where}: not an RSA private key "
        "in PEM (the .pem file the App's settings page generates)"
    )
    try:
        key = serialization.load_pem_private_key(text.strip().encode(), password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm):
        # `from None`: cryptography's own message may quote what it could not parse.
        raise ConfigError(refused) from None
    if not isinstance(key, rsa.RSAPrivateKey):
        kind = type(key).__name__.removesuffix("PrivateKey")  # EC, Ed25519, DSA, ...
        raise ConfigError(f"{refused}; its kind is {kind}")
