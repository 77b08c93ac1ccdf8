"""Fixtures of the end-to-end tests: the shop repository and the real tools."""

from collections.abc import Iterator

import pytest

from tests.integration.shop import shop, tools_env

__all__ = ["shop", "tools_env"]


@pytest.fixture(autouse=True, scope="session")
def _unpaced_github_writes() -> Iterator[None]:
    """The GitHub emulator has no secondary rate limit: `run` and `serve`
    need not wait the second between writes that GitHub asks for."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GITOPS_BOT_GITHUB_WRITE_INTERVAL", "0")
        yield
