"""The forge registry: every forge a descriptor, looked up by name, light to import."""

from __future__ import annotations

import subprocess
import sys

import pytest

from gitops_bot.core.pr.model import Pull
from gitops_bot.forges import registry


def test_the_forges_are_listed_by_their_names() -> None:
    assert registry.names() == ["github", "gitlab"]
    assert [registry.get(name).name for name in registry.names()] == registry.names()
    with pytest.raises(KeyError, match="no forge named 'gitea'"):
        registry.get("gitea")


@pytest.mark.parametrize(
    ("forge", "api", "clone"),
    [
        ("github", "https://api.github.com", "https://github.com/{repo}.git"),
        ("github", "https://api.github.com/", "https://github.com/{repo}.git"),
        ("github", "https://ghe.example.com/api/v3", "https://ghe.example.com/{repo}.git"),
        ("gitlab", "https://gitlab.com", "https://gitlab.com/{repo}.git"),
        ("gitlab", "https://git.example.com/", "https://git.example.com/{repo}.git"),
    ],
)
def test_a_forge_clones_from_its_host(forge: str, api: str, clone: str) -> None:
    assert registry.get(forge).clone_url(api) == clone


@pytest.mark.parametrize(
    ("forge", "default", "head"),
    [
        ("github", "https://api.github.com", "refs/pull/7/head"),
        ("gitlab", "https://gitlab.com", "refs/merge-requests/7/head"),
    ],
)
def test_a_forge_names_its_api_and_its_pull_request_refs(
    forge: str, default: str, head: str
) -> None:
    pull = Pull(
        number=7,
        title="t",
        author="alice",
        head_sha="b" * 40,
        base_sha="a" * 40,
        base_ref="main",
        head_ref="feature",
        from_fork=False,
        state="open",
    )
    descriptor = registry.get(forge)

    assert (descriptor.api(None), descriptor.api("https://x")) == (default, "https://x")
    assert descriptor.pull_refs(pull) == ("refs/heads/main", head)


def test_reading_the_registry_imports_no_vendor_sdk() -> None:
    code = (
        "import sys, gitops_bot.forges.registry; "
        "print(sorted(m for m in ('github', 'gitlab') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
