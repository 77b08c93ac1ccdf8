"""One tiny Flux reconcile against the local control plane, so the harness
bench/flux.py measures against (gitops_bot.testing.flux) cannot rot: a
GitRepository on the project's git server (git http-backend on 127.0.0.1)
and a Kustomization that applies one ConfigMap from it.

Run by `make test-flux` (it builds Flux's controllers first); deselected from
every other run (tests/conftest.py), so `make test` never needs that build.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import yaml

from gitops_bot.cluster.kube import Kube
from gitops_bot.testing import flux
from gitops_bot.testing.cluster import LocalControlPlane
from tests import waiting
from tests.integration.gitserver import GitServer, gitserver

__all__ = ["gitserver"]  # fixtures

pytestmark = [pytest.mark.cluster, pytest.mark.flux_smoke]


@pytest.fixture
def local_flux(control_plane: LocalControlPlane) -> Iterator[flux.LocalFlux]:
    with flux.LocalFlux(control_plane, flux.locate()) as running:
        yield running


def _configmap(value: str) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "hello"},
            "data": {"v": value},
        }
    )


def test_flux_applies_a_configmap_from_git_and_reports_ready(
    control_plane: LocalControlPlane,
    local_flux: flux.LocalFlux,
    gitserver: GitServer,
    kube: Kube,
    namespace: str,
) -> None:
    commit = gitserver.repo("smoke", {"deploy/cm.yaml": _configmap("from-git")})
    flux.create(control_plane, flux.git_repository("smoke", namespace, f"{gitserver.url}smoke.git"))
    flux.create(
        control_plane,
        flux.kustomization(
            "smoke", namespace, source="smoke", path="./deploy", target_namespace=namespace
        ),
    )

    ks = waiting.until(
        lambda: (
            (obj := flux.get(control_plane, "Kustomization", namespace, "smoke"))
            and flux.ready(obj)
            and obj
        ),
        what="the Kustomization to be Ready",
        timeout=120,
    )

    assert ks["status"]["lastAppliedRevision"] == f"main@sha1:{commit}"
    live = kube.get("v1", "ConfigMap", "hello", namespace=namespace)
    assert live is not None
    assert live["data"] == {"v": "from-git"}
    assert set(local_flux.processes()) == set(flux.CONTROLLERS)
