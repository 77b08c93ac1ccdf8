"""A plan-only Kube refuses writes before sending them: checked with a client
pointed at a port where nothing listens, so anything sent fails to connect
instead (the real control plane's audit log checks the rest, in
tests/integration/test_plan_only.py)."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from gitops_bot import __version__
from gitops_bot.cluster.kube import PLAN_USER_AGENT, USER_AGENT, Kube
from gitops_bot.cluster.kubeconfig import Connection
from gitops_bot.errors import ClusterError

REFUSED = "refused: this client only plans: a dry-run is the only write it sends"
PATH = "/api/v1/namespaces/shop/configmaps/web"


@pytest.fixture
def nowhere() -> Iterator[Kube]:
    """A client to 127.0.0.1 on a port that was free a moment ago (nothing listens)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = Kube(Connection(server=f"http://127.0.0.1:{port}"))
    yield client
    client.close()


@pytest.mark.parametrize(
    ("method", "query"),
    [
        ("PATCH", [("fieldManager", "gitops-bot")]),
        ("PATCH", [("fieldManager", "gitops-bot"), ("dryRun", "None")]),
        ("PATCH", [("fieldManager", "gitops-bot"), ("force", "true")]),
        ("POST", []),
        ("PUT", []),
        ("DELETE", []),
        ("delete", [("propagationPolicy", "Background")]),
    ],
)
def test_a_write_without_dry_run_is_refused_before_it_is_sent(
    nowhere: Kube, method: str, query: list[tuple[str, str]]
) -> None:
    planner = nowhere.plan_only()
    try:
        with pytest.raises(ClusterError) as refused:
            planner._request(method, PATH, doing="applying ConfigMap shop/web", query=query)
        assert str(refused.value) == f"applying ConfigMap shop/web: {REFUSED}"
        assert planner.requests == {}
        assert planner.calls == {}
    finally:
        planner.close()


@pytest.mark.parametrize(
    ("method", "query"),
    [
        ("GET", []),
        ("HEAD", []),
        ("PATCH", [("fieldManager", "gitops-bot"), ("dryRun", "All")]),
        ("DELETE", [("dryRun", "All")]),
    ],
)
def test_reads_and_dry_runs_are_sent(
    nowhere: Kube, method: str, query: list[tuple[str, str]]
) -> None:
    planner = nowhere.plan_only()
    try:
        with pytest.raises(ClusterError) as failed:  # sent: nothing listens
            planner._request(method, PATH, doing="reading", query=query)
        assert REFUSED not in str(failed.value)
        assert planner.requests == {method: 1}
    finally:
        planner.close()


def test_the_normal_client_sends_writes(nowhere: Kube) -> None:
    with pytest.raises(ClusterError) as failed:
        nowhere._request("PATCH", PATH, doing="applying ConfigMap shop/web")
    assert REFUSED not in str(failed.value)
    assert nowhere.requests == {"PATCH": 1}
    assert not nowhere.plans_only


def test_the_plan_client_has_its_own_pool_and_says_who_it_is(nowhere: Kube) -> None:
    planner = nowhere.plan_only()
    assert planner.plans_only
    assert planner.field_manager == nowhere.field_manager
    assert planner.user_agent == f"gitops-bot-plan/{__version__}" == PLAN_USER_AGENT
    assert nowhere.user_agent == f"gitops-bot/{__version__}" == USER_AGENT
    assert planner.connection is nowhere.connection
    assert planner._pool is not nowhere._pool
    planner.close()
    # The original client still sends (and fails to connect, not to refuse).
    with pytest.raises(ClusterError, match="reading"):
        nowhere._request("GET", PATH, doing="reading")
    assert nowhere.requests == {"GET": 1}


def test_a_plan_client_yields_before_every_request_it_sends_and_not_for_refusals(
    nowhere: Kube,
) -> None:
    yielded: list[str] = []
    planner = nowhere.plan_only(yield_to=lambda: yielded.append("waited"))
    try:
        with pytest.raises(ClusterError, match="only plans"):
            planner._request("DELETE", PATH, doing="deleting ConfigMap shop/web")
        assert yielded == []  # refused before: nothing to wait for
        for method, query in (("GET", []), ("PATCH", [("dryRun", "All")])):
            with pytest.raises(ClusterError):  # nothing listens: sent, and failed
                planner._request(method, PATH, doing="reading", query=query)
        assert yielded == ["waited", "waited"]
    finally:
        planner.close()
