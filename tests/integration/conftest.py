"""Fixtures of the end-to-end tests: the shop repository and the real tools."""

from tests.integration.shop import shop, tools_env

__all__ = ["shop", "tools_env"]
