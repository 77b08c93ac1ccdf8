"""gitops_bot.testing.binaries: a missing OCI registry binary is an error that
names the make target, never a skip (under CI=true a skip fails the run, and
locally it would hide that the OCI tests did not run)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitops_bot.testing import binaries


def test_a_registry_folder_without_the_binary_names_the_make_target(tmp_path: Path) -> None:
    with pytest.raises(binaries.TestEnvError) as caught:
        binaries.registry({binaries.REGISTRY_ENV_VAR: str(tmp_path)})
    assert str(caught.value) == (
        f"looking for the OCI registry: {tmp_path / 'registry'} does not exist; "
        "run `make registry` (testenv/registry/build.sh)"
    )


def test_a_registry_folder_with_the_binary_is_used_as_it_is(tmp_path: Path) -> None:
    (tmp_path / "registry").write_text("#!/bin/sh\n")
    assert binaries.registry({binaries.REGISTRY_ENV_VAR: str(tmp_path)}) == tmp_path / "registry"
