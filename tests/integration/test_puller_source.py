"""The puller's git source with real repositories: fetching, descent, rollback, signatures."""

from __future__ import annotations

import base64
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitops_bot.puller.source import Credentials, Source, git_environment
from gitops_bot.vcs.git import GitError
from tests.integration.pullerkit import Remote, git


@pytest.fixture
def remote(tmp_path: Path) -> Remote:
    r = Remote(tmp_path / "git")
    r.commit({"a.txt": "1"}, "first")
    r.push()
    return r


def test_descendants_move_forward_and_rewinds_are_refused(remote: Remote, tmp_path: Path) -> None:
    source = Source(remote.url, "main", cache=tmp_path / "cache")
    first = source.fetch()
    assert source.decide(first, last=None).allowed
    second = remote.commit({"a.txt": "2"})
    third = remote.commit({"a.txt": "3"})
    remote.push()
    assert source.fetch() == third
    assert source.decide(third, last=first).allowed
    assert source.decide(third, last=third).allowed

    remote.reset(second)
    remote.push(force=True)
    assert source.fetch() == second
    move = source.decide(second, last=third)
    assert not move.allowed
    assert move.rewound
    assert "does not descend from the last applied commit" in (move.refused or "")
    assert source.decide(second, last=third, rollback_to=second).rollback
    assert source.decide(second, last=third, rollback_to=first).allowed, "history from `first` on"
    assert not source.decide(second, last=third, rollback_to="nonsense").allowed


def test_a_rewritten_branch_is_refused(remote: Remote, tmp_path: Path) -> None:
    source = Source(remote.url, "main", cache=tmp_path / "cache")
    applied = source.fetch()
    git(remote.work, "commit", "-q", "--amend", "-m", "rewritten")
    remote.push(force=True)
    assert not source.decide(source.fetch(), last=applied).allowed


def test_a_fetch_error_names_the_branch_and_never_the_token(remote: Remote, tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("canary-token-Zq81x\n")
    source = Source(
        remote.url, "nope", cache=tmp_path / "cache", credentials=Credentials(token_file=token)
    )
    with pytest.raises(GitError, match="fetching branch nope") as err:
        source.fetch()
    assert "canary" not in str(err.value)
    assert base64.b64encode(b"x-access-token:canary-token-Zq81x").decode() not in str(err.value)


def test_credentials_travel_in_the_environment(tmp_path: Path) -> None:
    token, key, hosts = tmp_path / "t", tmp_path / "k", tmp_path / "h"
    token.write_text("s3cret\n")
    env = git_environment(
        Credentials(token_file=token, ssh_key_file=key, known_hosts_file=hosts), base={}
    )
    header = base64.b64encode(b"x-access-token:s3cret").decode()
    assert f"Authorization: Basic {header}" in env.values()
    assert "StrictHostKeyChecking=yes" in env["GIT_SSH_COMMAND"]
    assert str(hosts) in env["GIT_SSH_COMMAND"]
    with pytest.raises(GitError, match="known_hosts"):
        git_environment(Credentials(ssh_key_file=key), base={})
    token.write_text("")
    with pytest.raises(GitError, match="empty"):
        git_environment(Credentials(token_file=token), base={})


def _key(tmp_path: Path, name: str) -> Path:
    key = tmp_path / name
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key)], check=True
    )
    return key


def test_only_commits_signed_by_an_allowed_key_are_applied(remote: Remote, tmp_path: Path) -> None:
    trusted, stranger = _key(tmp_path, "trusted"), _key(tmp_path, "stranger")
    signers = tmp_path / "allowed_signers"
    signers.write_text(f"t@example.com {(trusted.with_suffix('.pub')).read_text()}")
    source = Source(remote.url, "main", cache=tmp_path / "cache", allowed_signers=signers)

    unsigned = source.fetch()
    assert "is not signed" in (source.decide(unsigned, last=None).refused or "")

    def signed_commit(key: Path, text: str) -> str:
        (remote.work / "a.txt").write_text(text)
        git(remote.work, "add", "-A")
        git(
            remote.work,
            "-c",
            "gpg.format=ssh",
            "-c",
            f"user.signingkey={key}",
            "commit",
            "-q",
            "-S",
            "-m",
            text,
        )
        remote.push()
        return source.fetch()

    good = signed_commit(trusted, "good")
    assert source.decide(good, last=unsigned).allowed
    bad = signed_commit(stranger, "bad")
    refused = source.decide(bad, last=good).refused or ""
    assert "not by an allowed key" in refused


def _gpg_key(home: Path, email: str) -> str:
    """A fresh OpenPGP key in its own GNUPGHOME; its armored public key."""
    home.mkdir(mode=0o700)
    env = {**os.environ, "GNUPGHOME": str(home)}
    subprocess.run(
        ["gpg", "--batch", "--quiet", "--passphrase", "", "--quick-gen-key", email, "ed25519"],
        check=True,
        env=env,
        capture_output=True,
    )
    exported = subprocess.run(
        ["gpg", "--batch", "--armor", "--export", email],
        check=True,
        env=env,
        capture_output=True,
        text=True,
    )
    return exported.stdout


@pytest.fixture
def gpg_agents(tmp_path: Path) -> Iterator[None]:
    """gpg starts an agent per GNUPGHOME that outlives the test: stop them."""
    yield
    for home in tmp_path.glob("gpg-*"):
        subprocess.run(
            ["gpgconf", "--kill", "gpg-agent"],
            env={**os.environ, "GNUPGHOME": str(home)},
            check=False,
            capture_output=True,
        )


@pytest.mark.usefixtures("gpg_agents")
def test_openpgp_keys_are_allowed_signers_too(
    remote: Remote, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    trusted = _gpg_key(tmp_path / "gpg-trusted", "trusted@example.com")
    _gpg_key(tmp_path / "gpg-stranger", "stranger@example.com")
    keys = tmp_path / "allowed.asc"
    keys.write_text(trusted)
    source = Source(remote.url, "main", cache=tmp_path / "cache", allowed_signers=keys)
    unsigned = source.fetch()

    def signed_by(who: str, text: str) -> str:
        monkeypatch.setenv("GNUPGHOME", str(tmp_path / f"gpg-{who}"))
        (remote.work / "a.txt").write_text(text)
        git(remote.work, "add", "-A")
        git(
            remote.work,
            "-c",
            f"user.signingkey={who}@example.com",
            "commit",
            "-q",
            "-S",
            "-m",
            text,
        )
        remote.push()
        monkeypatch.delenv("GNUPGHOME")
        return source.fetch()

    good = signed_by("trusted", "good")
    assert source.decide(good, last=unsigned).allowed
    refused = source.decide(signed_by("stranger", "bad"), last=good).refused or ""
    assert "not by an allowed key" in refused
