"""The puller's POST /plan on the real control plane: live plans for CI, made in
the cluster with the puller's own remote, sandbox and identity, answered masked.

Who may ask (the plan secret, a GitHub Actions OIDC token from a real issuer on
127.0.0.1), what is refused (forged, replayed, expired, a commit the remote
does not hold), and the bounds that keep plans from slowing applies.
"""

from __future__ import annotations

import base64
import json
import multiprocessing
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from gitops_bot.cluster.kube import Kube
from gitops_bot.core.pr import claims
from gitops_bot.core.pr.deliveries import sign
from gitops_bot.core.report import json as plan_json
from gitops_bot.core.secrets import mask
from gitops_bot.planner import plan as plan_app
from gitops_bot.puller.loop import Puller
from gitops_bot.puller.plans import PlanLimits, Planner
from gitops_bot.puller.planwork import Cluster, Job, Workers
from gitops_bot.puller.server import Handlers, PlanHandlers, Server
from gitops_bot.puller.source import Source
from gitops_bot.testing.binaries import Binaries
from gitops_bot.testing.cluster import LocalControlPlane
from gitops_bot.vcs.git import Git
from gitops_bot.web import callers, oidc
from gitops_bot.web.planwire import PlanAsk
from gitops_bot.web.poke import SIGNATURE_HEADER
from tests.integration import pullerkit
from tests.integration.oidc_issuer import REPOSITORY, Issuer
from tests.integration.pullerkit import Remote

pytestmark = pytest.mark.cluster

PLAN_SECRET = b"plan-secret-for-tests-0123"
BASE_PASSWORD = "canary-base-Hq27"
HEAD_PASSWORD = "canary-head-Wm83"
AUDIENCE = "https://puller.example.test"
_DEFAULT_LIMITS = PlanLimits()


def _secret(namespace: str, password: str) -> dict[str, str]:
    doc = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "db", "namespace": namespace},
        "stringData": {"password": password, "user": "shop"},
    }
    return {"envs/dev/secret.yaml": yaml.safe_dump(doc)}


@pytest.fixture
def change(
    kube: Kube, namespace: str, binaries: Binaries, tmp_path: Path
) -> tuple[Remote, str, str]:
    """main applied by a puller (ConfigMaps and a Secret), and a branch `change` on
    the remote that edits a ConfigMap and rotates the Secret's password."""
    remote = Remote(tmp_path / "git")
    base = remote.commit(
        {
            ".gitops.yaml": pullerkit.config(namespace),
            **pullerkit.configmaps("dev", 3),
            **_secret(namespace, BASE_PASSWORD),
        },
        "base",
    )
    remote.push()
    applier = pullerkit.make(
        kube, remote, namespace=namespace, cache=tmp_path / "applier", binaries=binaries
    )
    assert applier.sync() == {"dev": "applied"}
    pullerkit.git(remote.work, "checkout", "-q", "-b", "change")
    head = remote.commit(
        {**pullerkit.configmaps("dev", 3, value="2"), **_secret(namespace, HEAD_PASSWORD)},
        "rotate",
    )
    pullerkit.git(remote.work, "push", "-q", "origin", "change")
    return remote, base, head


class Endpoint:
    """A puller's HTTP server with plans served, and a client for it."""

    def __init__(self, server: Server, planner: Planner) -> None:
        self.server, self.planner = server, planner

    def post(self, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        request = urllib.request.Request(  # noqa: S310 (the test's own http server)
            self.server.url + "/plan", data=body, method="POST", headers=headers
        )
        try:
            with urllib.request.urlopen(request, timeout=120) as reply:  # noqa: S310 (http only)
                return reply.status, reply.read()
        except urllib.error.HTTPError as err:
            return err.code, err.read()

    def signed(self, ask: PlanAsk, secret: bytes = PLAN_SECRET) -> tuple[int, bytes]:
        body = ask.body()
        return self.post(body, {SIGNATURE_HEADER: sign(body, secret=secret)})


@pytest.fixture
def endpoint(
    control_plane: LocalControlPlane,
    binaries: Binaries,
    tmp_path: Path,
    change: tuple[Remote, str, str],
) -> Iterator[Callable[..., Endpoint]]:
    made: list[tuple[Server, Workers]] = []
    remote = change[0]

    def make(
        *,
        quiet: Callable[[float], bool] | None = None,
        limits: PlanLimits = _DEFAULT_LIMITS,
        verifier: oidc.OidcVerifier | None = None,
        puller: Puller | None = None,
    ) -> Endpoint:
        workers = Workers(Cluster(str(control_plane.kubeconfig)))
        if puller is not None:
            puller.on_syncing(workers.syncing)
        planner = Planner(
            source=Source(remote.url, "main", cache=tmp_path / f"plans-{len(made)}"),
            workers=workers,
            envs=("dev",),
            config_file=".gitops.yaml",
            tools=pullerkit.tools(binaries),
            quiet=quiet or (puller.wait_quiet if puller else (lambda _t: True)),
            limits=limits,
        )
        server = Server(
            Handlers(poke=lambda: None, ready=lambda: (True, "ok"), metrics=lambda: b""),
            secret=b"poke-secret",
            plans=PlanHandlers(
                callers=callers.Callers(secret=PLAN_SECRET, verifier=verifier), plan=planner.plan
            ),
        )
        made.append((server, workers))
        return Endpoint(server, planner)

    yield make
    for server, workers in made:
        server.close()
        workers.close()


def _no_secret_value(data: bytes) -> None:
    for value in (BASE_PASSWORD, HEAD_PASSWORD):
        assert value.encode() not in data
        assert base64.b64encode(value.encode()) not in data


def _by_key(changes: list[dict[str, Any]] | None) -> dict[str, dict[str, Any]]:
    assert changes is not None
    return {f"{c['key']['kind']}/{c['key']['name']}": c for c in changes}


def test_a_signed_request_gets_the_live_plan_plan_live_makes_with_no_secret_value(
    endpoint: Callable[..., Endpoint],
    change: tuple[Remote, str, str],
    kube: Kube,
    binaries: Binaries,
    control_plane: LocalControlPlane,
) -> None:
    remote, base, head = change
    point = endpoint()
    status, data = point.signed(PlanAsk.new(base, head, ("dev",)))

    assert status == 200, data
    _no_secret_value(data)
    refs = point.planner.source.git.execute("for-each-ref", "refs/gitops-bot/", doing="listing")
    assert refs.stdout == "", "a plan leaves no ref behind"
    assert point.planner.source.git.has_commit(head)
    answer = json.loads(data)
    (dev,) = answer["environments"]
    live = _by_key(dev["live"])
    assert live["ConfigMap/cm-1"]["action"] == "update"
    assert live["Secret/db"]["secret_keys"]["changed"] == ["password"]
    assert dev["drift"] == []

    # The same plan `gitops-bot plan --live` makes with a kubeconfig (fingerprints aside).
    direct = plan_app.plan(
        repo=Git(remote.work),
        request=plan_app.Request(base=base, head=head, live=True),
        tools=pullerkit.tools(binaries),
        cluster_for=lambda _env: kube,
        mask_key=b"k" * 32,
    )
    assert mask.without_fingerprints(data.decode()) == mask.without_fingerprints(
        plan_json.render(direct)
    )

    # The puller's own identity only dry-ran: every write it sent carried dryRun=All.
    writes = pullerkit.eventually(
        lambda: control_plane.audit_events(user_agent_prefix="gitops-bot-plan")
    )
    assert all("dryRun=All" in e["requestURI"] for e in writes), writes


def test_forged_unsigned_and_bad_requests_are_refused_before_anything_is_fetched(
    endpoint: Callable[..., Endpoint], change: tuple[Remote, str, str]
) -> None:
    _, base, head = change
    point = endpoint()
    ask = PlanAsk.new(base, head, ("dev",))

    status, data = point.signed(ask, secret=b"not-the-plan-secret")
    assert (status, b"signature" in data) == (401, True)
    status, data = point.post(ask.body(), {})
    assert (status, b"no credentials" in data) == (401, True)
    bad = b'{"schema": "gitops-bot/plan-request/v1", "base": "main"}'
    status, data = point.post(bad, {SIGNATURE_HEADER: sign(bad, secret=PLAN_SECRET)})
    assert (status, b"lacks" in data) == (400, True)
    assert point.planner.made == 0
    assert not Git(point.planner.source.git.root).has_commit(head)


def test_a_replayed_or_expired_request_is_refused(
    endpoint: Callable[..., Endpoint], change: tuple[Remote, str, str]
) -> None:
    _, base, head = change
    point = endpoint()
    ask = PlanAsk.new(base, head, ("dev",))
    assert point.signed(ask)[0] == 200

    status, data = point.signed(ask)  # the same bytes, the same signature
    assert (status, b"replayed" in data) == (401, True)
    stale = PlanAsk(base, head, ("dev",), "s" * 20, int(time.time()) - 3600)
    status, data = point.signed(stale)
    assert (status, b"expired" in data) == (401, True)
    assert point.planner.made == 1


def test_a_commit_the_remote_does_not_hold_is_refused(
    endpoint: Callable[..., Endpoint], change: tuple[Remote, str, str]
) -> None:
    _, base, _head = change
    status, data = endpoint().signed(PlanAsk.new(base, "d" * 40, ("dev",)))
    assert status == 422
    assert b"commit dddddddddddd is not in" in data


def test_environments_the_puller_does_not_manage_are_answered_as_not_planned(
    endpoint: Callable[..., Endpoint], change: tuple[Remote, str, str]
) -> None:
    _, base, head = change
    status, data = endpoint().signed(PlanAsk.new(base, head, ("dev", "prod")))
    assert status == 200
    answer = json.loads(data)
    assert [e["name"] for e in answer["environments"]] == ["dev"]
    assert answer["skipped"] == [
        {"name": "prod", "reason": "not managed by this puller (it manages dev)"}
    ]


def test_plans_beyond_the_queue_are_refused_at_once_and_a_deadline_bounds_the_wait(
    endpoint: Callable[..., Endpoint], change: tuple[Remote, str, str]
) -> None:
    _, base, head = change
    waited: list[float] = []

    def quiet(timeout: float) -> bool:  # as Puller.wait_quiet while an apply runs past it
        waited.append(timeout)
        time.sleep(max(0.0, timeout))
        return False

    point = endpoint(quiet=quiet, limits=PlanLimits(workers=1, queued=0, deadline_s=2.0))
    results: list[tuple[int, bytes]] = []
    first = threading.Thread(
        target=lambda: results.append(point.signed(PlanAsk.new(base, head, ("dev",))))
    )
    first.start()
    pullerkit.eventually(lambda: waited)
    status, data = point.signed(PlanAsk.new(base, head, ("dev",)))
    assert (status, b"as many as it admits" in data) == (429, True)
    first.join(30)
    status, data = results[0]
    assert status == 200
    assert json.loads(data)["skipped"] == [
        {"name": "dev", "reason": "not planned: the puller was applying until the deadline"}
    ]


def test_a_plan_waits_for_the_pullers_apply_to_finish(  # noqa: PLR0917 (fixtures)
    endpoint: Callable[..., Endpoint],
    change: tuple[Remote, str, str],
    kube: Kube,
    namespace: str,
    binaries: Binaries,
    tmp_path: Path,
) -> None:
    remote, base, head = change
    puller = pullerkit.make(
        kube, remote, namespace=namespace, cache=tmp_path / "p", binaries=binaries
    )
    point = endpoint(puller=puller)
    results: list[tuple[int, bytes]] = []
    with puller._apply_in_progress():  # as during a sync
        asking = threading.Thread(
            target=lambda: results.append(point.signed(PlanAsk.new(base, head, ("dev",))))
        )
        asking.start()
        time.sleep(1.0)
        assert not results, "a plan started while the puller was applying"
    asking.join(60)
    assert [status for status, _ in results] == [200]


@pytest.fixture(scope="module")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Issuer]:
    server = Issuer(tmp_path_factory.mktemp("issuer"))
    yield server
    server.close()


def test_a_github_actions_token_is_taken_once_and_only_for_its_repository(
    endpoint: Callable[..., Endpoint], change: tuple[Remote, str, str], issuer: Issuer
) -> None:
    _, base, head = change
    verifier = oidc.OidcVerifier(
        oidc.OidcSettings(
            audience=AUDIENCE,
            binding=claims.Binding(repository=REPOSITORY, refs=("refs/pull/*/merge",)),
            issuer=issuer.url,
            ca_file=issuer.ca_file,
        )
    )
    point = endpoint(verifier=verifier)
    token = issuer.token(AUDIENCE)

    def asked(with_token: str) -> tuple[int, bytes]:
        body = PlanAsk.new(base, head, ("dev",)).body()
        return point.post(body, {"Authorization": f"Bearer {with_token}"})

    status, data = asked(token)
    assert status == 200, data
    _no_secret_value(data)
    status, data = asked(token)  # a fresh body, the same token
    assert (status, b"OIDC token (jti) was used before" in data) == (401, True)
    status, data = asked(issuer.token(AUDIENCE, repository="someone/else"))
    assert (status, b"someone/else" in data) == (401, True)
    status, data = asked(issuer.token("https://another.example"))
    assert status == 401
    assert token.encode() not in data


def test_a_plan_worker_that_dies_is_the_environments_error_and_is_replaced(
    control_plane: LocalControlPlane,
    change: tuple[Remote, str, str],
    binaries: Binaries,
    tmp_path: Path,
) -> None:
    remote, base, head = change
    source = Source(remote.url, "main", cache=tmp_path / "worker-cache")
    source.fetch_commits(base, head)
    job = Job(source.git.root, base, head, "dev", ".gitops.yaml", pullerkit.tools(binaries))
    workers = Workers(Cluster(str(control_plane.kubeconfig)))
    try:
        workers.start()
        for child in multiprocessing.active_children():
            child.kill()  # as the kernel's OOM killer would
        died = workers.plan(job)
        assert died.error is not None
        assert "worker process died" in died.error
        again = workers.plan(job)
        assert again.error is None
        assert again.live is not None
        assert workers.started == 2
    finally:
        workers.close()
