"""Fixtures shared by every test.

The control plane is real (see testenv/ and gitops_bot/testing/cluster.py):
one per session for tests that only use it, and one per test for tests that
break it. Nothing here skips: if the binaries cannot be built or the control
plane cannot start, the tests that need it error out, in CI and locally.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from hypothesis import settings

from gitops_bot.cluster.kube import Kube
from gitops_bot.testing import binaries as binaries_mod
from gitops_bot.testing.cluster import LocalControlPlane

# Property tests judge correctness, not speed: a deadline only makes them flaky
# on a busy 2-core CI machine (the control plane shares it).
settings.register_profile("gitops-bot", deadline=None)
settings.load_profile("gitops-bot")


@pytest.fixture(scope="session")
def binaries() -> binaries_mod.Binaries:
    return binaries_mod.locate()


@pytest.fixture(scope="session")
def control_plane(binaries: binaries_mod.Binaries) -> Iterator[LocalControlPlane]:
    with LocalControlPlane(binaries) as cp:
        yield cp


@pytest.fixture
def own_control_plane(binaries: binaries_mod.Binaries) -> Iterator[LocalControlPlane]:
    """A control plane of this test's own, for tests that restart or kill parts."""
    with LocalControlPlane(binaries) as cp:
        yield cp


@pytest.fixture
def kube(control_plane: LocalControlPlane) -> Iterator[Kube]:
    client = Kube.from_kubeconfig(str(control_plane.kubeconfig))
    yield client
    client.close()


@pytest.fixture
def namespace(kube: Kube) -> Iterator[str]:
    """A namespace of this test's own on the shared control plane."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    yield name
    kube.delete("v1", "Namespace", name)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The flux_smoke test runs only when asked for by marker (`make test-flux`,
    which builds Flux's controllers first): deselected, not skipped, elsewhere."""
    if "flux_smoke" in (config.option.markexpr or ""):
        return
    kept = [i for i in items if i.get_closest_marker("flux_smoke") is None]
    if len(kept) != len(items):
        config.hook.pytest_deselected(items=[i for i in items if i not in kept])
        items[:] = kept


_skipped: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped:
        _skipped.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Under CI=true a skipped test fails the run: nothing may silently skip."""
    if os.environ.get("CI") == "true" and _skipped and exitstatus == pytest.ExitCode.OK:
        print(f"\nCI=true: every test must run, but these skipped: {', '.join(_skipped)}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
