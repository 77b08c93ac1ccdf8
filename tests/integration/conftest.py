"""Fixtures of the end-to-end tests: the shop repository and the real tools."""

from collections import Counter
from collections.abc import Iterator

import pytest

from gitops_bot.vcs.git import Git
from tests.integration.shop import live_shop, shop, tools_env

__all__ = ["live_shop", "shop", "tools_env"]


@pytest.fixture(autouse=True, scope="session")
def _unpaced_github_writes() -> Iterator[None]:
    """The GitHub emulator has no secondary rate limit: `run` and `serve`
    need not wait the second between writes that GitHub asks for."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GITOPS_BOT_GITHUB_WRITE_INTERVAL", "0")
        yield


@pytest.fixture
def config_reads(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """How often each commit's .gitops.yaml is read, by resolved SHA, counted
    around the real Git.read (which still does the reading)."""
    reads: Counter[str] = Counter()
    read = Git.read

    def counting(self: Git, commit: str, path: str) -> str | None:
        if path == ".gitops.yaml":
            reads[self.resolve(commit)] += 1
        return read(self, commit, path)

    monkeypatch.setattr(Git, "read", counting)
    return reads
