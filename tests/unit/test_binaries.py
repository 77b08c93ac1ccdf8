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


def _fill(folder: Path, names: tuple[str, ...]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_text("#!/bin/sh\n")


def test_another_kubernetes_version_replaces_only_the_apiserver_controller_manager_and_scheduler(
    tmp_path: Path,
) -> None:
    newest, older = tmp_path / "testenv" / "bin", tmp_path / "k8s" / "bin"
    _fill(newest, binaries.NAMES)
    (newest.parent / "kwok-stages.yaml").write_text("")
    _fill(older, binaries.VERSIONED)
    found = binaries.locate({binaries.ENV_VAR: str(newest), binaries.K8S_BIN_ENV_VAR: str(older)})
    assert {name: Path(found.path(name)).parent for name in binaries.NAMES} == {
        name: older if name in binaries.VERSIONED else newest for name in binaries.NAMES
    }


def test_a_kubernetes_version_folder_without_its_binaries_is_an_error_not_the_newest(
    tmp_path: Path,
) -> None:
    newest, older = tmp_path / "testenv" / "bin", tmp_path / "k8s" / "bin"
    _fill(newest, binaries.NAMES)
    (newest.parent / "kwok-stages.yaml").write_text("")
    _fill(older, ("kube-apiserver",))
    with pytest.raises(binaries.TestEnvError) as caught:
        binaries.locate({binaries.ENV_VAR: str(newest), binaries.K8S_BIN_ENV_VAR: str(older)})
    assert str(caught.value) == (
        f"looking for the control-plane binaries in {newest} and {older}: missing "
        "kube-controller-manager, kube-scheduler "
        "(run testenv/build.sh, testenv/k8s/build.sh <minor>)"
    )


def test_a_kubernetes_version_that_is_not_pinned_names_those_that_are(tmp_path: Path) -> None:
    _fill(tmp_path, binaries.NAMES)
    (tmp_path.parent / "kwok-stages.yaml").write_text("")
    with pytest.raises(binaries.TestEnvError) as caught:
        binaries.locate({binaries.ENV_VAR: str(tmp_path), binaries.K8S_VERSION_ENV_VAR: "1.20"})
    assert str(caught.value).startswith(
        f"${binaries.K8S_VERSION_ENV_VAR}=1.20: testenv/k8s/ pins 1.34, 1.35 "
    )
