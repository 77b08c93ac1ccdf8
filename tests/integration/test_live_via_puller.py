"""Live plans through the puller, end to end: `gitops-bot run` as GitHub Actions
starts it and `gitops-bot serve`, each with no kubeconfig anywhere in its
environment, ask the puller's POST /plan on the real control plane (the shop's
main applied there, its Secrets included) and write the same comments and
statuses a job with a kubeconfig writes; the puller unreachable, the offline
plan stands and says so. The GitHub emulator checks every exchange against
GitHub's OpenAPI description; the OIDC issuer is a real one on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from gitops_bot.cli import cli
from gitops_bot.cluster.kube import Kube
from gitops_bot.core.pr import claims
from gitops_bot.core.secrets import mask
from gitops_bot.forges.github import oidc as github_oidc
from gitops_bot.puller.plans import Planner
from gitops_bot.puller.planwork import Cluster, Workers
from gitops_bot.puller.server import Handlers, PlanHandlers, Server
from gitops_bot.puller.source import Source
from gitops_bot.testing.binaries import Binaries
from gitops_bot.web import callers
from gitops_bot.web import oidc as oidc_mod
from tests.fakes.github_server import GitHubServer, checked
from tests.integration import pullerkit, servekit
from tests.integration.oidc_issuer import REPOSITORY, Issuer
from tests.integration.shop import NEW_PASSWORD, OLD_PASSWORD, edit, git
from tests.integration.test_run_github import REPO, TOKEN, mirror, run_as_actions
from tests.integration.test_serve import SECRET, deliver, eventually, pull_payload
from tests.integration.test_serve import TOKEN as SERVE_TOKEN

pytestmark = pytest.mark.cluster

PLAN_SECRET = "plan-secret-for-the-e2e-0123"
AUDIENCE = "https://puller.shop.example"
ENVS = ("platform", "dev", "prod", "cache-prod")
_STATE = re.compile(r"<!-- gitops-bot:state v\d+ \S* -->")


@pytest.fixture
def emulator() -> Iterator[Callable[[str], GitHubServer]]:
    """GitHub emulators, each checked against GitHub's OpenAPI description at the end."""
    with contextlib.ExitStack() as stack:

        def make(token: str) -> GitHubServer:
            srv = stack.enter_context(checked())
            srv.add_user("gitops-bot[bot]", type="Bot", token=token)
            srv.add_repo(REPO, files={"README.md": "mirrored from a real git repository\n"})
            return srv

        yield make


@dataclass(frozen=True)
class PlanEndpoint:
    url: str
    planner: Planner
    issuer: Issuer


@pytest.fixture
def puller(
    live_shop: tuple[Path, Kube], binaries: Binaries, tmp_path: Path
) -> Iterator[PlanEndpoint]:
    """The puller's plan endpoint for the shop, on the control plane live_shop applied."""
    shop, _kube = live_shop
    workers = Workers(Cluster(os.environ["KUBECONFIG"]))
    issuer = Issuer(tmp_path / "issuer")
    planner = Planner(
        source=Source(shop.as_uri(), "main", cache=tmp_path / "puller-cache"),
        workers=workers,
        envs=ENVS,
        config_file=".gitops.yaml",
        tools=pullerkit.tools(binaries),
        quiet=lambda _t: True,
    )
    verifier = oidc_mod.OidcVerifier(
        oidc_mod.OidcSettings(
            audience=AUDIENCE,
            binding=claims.Binding(repository=REPOSITORY, refs=("refs/pull/*/merge",)),
            issuer=issuer.url,
            ca_file=issuer.ca_file,
        )
    )
    server = Server(
        Handlers(poke=lambda: None, ready=lambda: (True, "ok"), metrics=lambda: b""),
        secret=b"poke",
        plans=PlanHandlers(
            callers=callers.Callers(secret=PLAN_SECRET.encode(), verifier=verifier),
            plan=planner.plan,
        ),
    )
    yield PlanEndpoint(server.url, planner, issuer)
    server.close()
    workers.close()
    issuer.close()


def _comments(server: GitHubServer, number: int = 1) -> dict[str, str]:
    """env -> what its comment says (the bot's memory block and fingerprints aside)."""
    found = {}
    for c in server.comments_on(REPO, number):
        env = re.search(r"gitops-bot:plan env=([\w-]+) part=1/1", c.body)
        assert env, c.body[:200]
        found[env[1]] = mask.without_fingerprints(_STATE.sub("", c.body))
    return found


def _statuses(server: GitHubServer) -> dict[str, tuple[str, str | None]]:
    head = server.repos[REPO].pulls[1].head_sha
    return {
        s.context: (s.state, s.description) for s in server.repos[REPO].statuses if s.sha == head
    }


@pytest.mark.usefixtures("tools_env")
def test_run_and_serve_plan_live_through_the_puller_with_no_kubeconfig(  # noqa: PLR0917
    live_shop: tuple[Path, Kube],
    puller: PlanEndpoint,
    emulator: Callable[[str], GitHubServer],
    binaries: Binaries,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    shop, _kube = live_shop
    url, planner = puller.url, puller.planner
    kubeconfig = os.environ["KUBECONFIG"]

    # A job that holds a kubeconfig, as today: what the comments must say.
    direct = emulator(TOKEN)
    mirror(direct, shop)
    done = run_as_actions(shop, direct, tmp_path, "opened", GITOPS_BOT_LIVE="true")
    assert done.exit_code == 0, done.output
    expected, expected_statuses = _comments(direct), _statuses(direct)
    assert "live cluster" in expected["prod"]

    # No kubeconfig anywhere in the job's environment: the puller plans live.
    monkeypatch.delenv("KUBECONFIG")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no ~/.kube/config either
    via = emulator(TOKEN)
    mirror(via, shop)
    done = run_as_actions(
        shop,
        via,
        tmp_path,
        "opened",
        GITOPS_BOT_LIVE_VIA="puller",
        GITOPS_BOT_PULLER_URL=url,
        GITOPS_BOT_PLAN_SECRET=PLAN_SECRET,
    )
    assert done.exit_code == 0, done.output
    assert planner.made == 1
    assert _comments(via) == expected
    assert _statuses(via) == expected_statuses
    summary = (tmp_path / "summary.md").read_text()
    for text in (done.output, summary, *_comments(via).values()):
        assert OLD_PASSWORD not in text
        assert NEW_PASSWORD not in text
        assert PLAN_SECRET not in text

    # The same job with its OIDC token instead of a secret.
    issuer = puller.issuer
    monkeypatch.setenv("SSL_CERT_FILE", str(issuer.ca_file))
    done = run_as_actions(
        shop,
        via,
        tmp_path,
        "synchronize",
        GITOPS_BOT_LIVE_VIA="puller",
        GITOPS_BOT_PULLER_URL=url,
        GITOPS_BOT_PLAN_AUDIENCE=AUDIENCE,
        **{
            github_oidc.REQUEST_URL: f"{issuer.url}/token?api-version=2.0",
            github_oidc.REQUEST_TOKEN: issuer.request_token,
        },
    )
    assert done.exit_code == 0, done.output
    assert planner.made == 2
    assert _comments(via) == expected
    monkeypatch.delenv("SSL_CERT_FILE")

    # `serve`, in a process of its own, with no kubeconfig either.
    served = emulator(SERVE_TOKEN)
    number, head = _open(served, shop)
    (tmp_path / "plan-secret").write_text(PLAN_SECRET)
    (tmp_path / "serve").mkdir()
    environ = {k: v for k, v in os.environ.items() if k != "KUBECONFIG"}
    assert kubeconfig not in environ.values()
    with servekit.running(
        forge="github",
        api_url=served.url,
        shop=shop,
        binaries=binaries,
        folder=tmp_path / "serve",
        token=SERVE_TOKEN,
        secret=SECRET,
        env={"GITOPS_BOT_LOGIN": "gitops-bot[bot]"},
        args=(
            *("--live-via", "puller", "--puller-url", url),
            *("--plan-secret-file", str(tmp_path / "plan-secret")),
        ),
    ) as serve_url:
        assert deliver(serve_url, "pull_request", pull_payload(number, head, "opened")) == 202
        eventually(lambda: any(s.context == "gitops" for s in served.repos[REPO].statuses))
    assert planner.made == 3
    assert _comments(served, number) == expected


def _open(server: GitHubServer, shop: Path) -> tuple[int, str]:
    base = git(shop, "rev-parse", "main").strip()
    head = git(shop, "rev-parse", "change").strip()
    server.mirror(REPO, "main", sha=base)
    server.mirror(REPO, "change", sha=head, parent=base)
    return server.add_pull(REPO, title="Bump", author="alice", head_ref="change").number, head


@pytest.mark.usefixtures("tools_env")
def test_an_unreachable_puller_leaves_the_offline_plan_and_a_policy_that_needs_live_waits(
    shop: Path,
    emulator: Callable[[str], GitHubServer],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    git(shop, "checkout", "-q", "main")
    edit(
        shop,
        ".gitops.yaml",
        "    namespace: shop-dev\n",
        "    namespace: shop-dev\n    policy:\n      require-live: true\n",
    )
    git(shop, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qam", "live")
    git(shop, "checkout", "-q", "change")
    git(shop, "-c", "user.name=t", "-c", "user.email=t@example.com", "rebase", "-q", "main")
    monkeypatch.delenv("KUBECONFIG", raising=False)
    server = emulator(TOKEN)
    mirror(server, shop)

    done = run_as_actions(
        shop,
        server,
        tmp_path,
        "opened",
        GITOPS_BOT_LIVE_VIA="puller",
        GITOPS_BOT_PULLER_URL="http://127.0.0.1:9",  # nothing listens on the discard port
        GITOPS_BOT_PLAN_SECRET=PLAN_SECRET,
    )

    assert done.exit_code == 0, done.output
    comments = _comments(server)
    assert "could not be reached" in comments["dev"]
    assert "Live plan unavailable" in comments["dev"]
    statuses = _statuses(server)
    assert statuses["gitops/plan/dev"][0] == "success"  # the offline plan was made
    assert statuses["gitops"][0] == "pending"
    assert statuses["gitops/policy/dev"][0] == "pending"
    assert "live plan is required" in (statuses["gitops/policy/dev"][1] or "")


@pytest.mark.usefixtures("tools_env")
def test_plan_at_a_terminal_asks_the_puller_and_says_why_it_has_no_live_part(
    shop: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KUBECONFIG", raising=False)
    (tmp_path / "plan-secret").write_text(PLAN_SECRET)
    result = CliRunner().invoke(
        cli,
        [
            *("plan", "--repo", str(shop), "--base", "main", "--head", "change"),
            *("--env", "dev", "--live-via", "puller", "--puller-url", "http://127.0.0.1:9"),
            *("--plan-secret-file", str(tmp_path / "plan-secret")),
        ],
    )
    assert result.exit_code == 1, result.output  # the offline plan has changes
    assert "live plan unavailable: the puller at http://127.0.0.1:9/plan could not be reached" in (
        result.output
    )
    assert "this change: 0 to create, 1 to update" in result.output
    assert PLAN_SECRET not in result.output
