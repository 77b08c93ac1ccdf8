"""`gitops-bot run` in a GitLab merge request pipeline, end to end: a merge
request on the GitLab emulator whose commits are those of a real git
repository, rendered by the real kustomize and helm."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from gitops_bot.cli import cli
from tests.fakes.gitlab_server import GitLabServer
from tests.integration.shop import NEW_PASSWORD, OLD_PASSWORD, edit, git, tenants

# prod needs an approval from @acme/sre (examples/shop/.gitops.yaml, read from main).
PROD_PENDING = "needs 1 more approval from @acme/sre"
TOKEN = "glpat-canary-0123456789"
PROJECT = "acme/shop"


@pytest.fixture
def server() -> Iterator[GitLabServer]:
    with GitLabServer() as srv:
        bot = srv.add_user("gitops-bot", bot=True, token=TOKEN)
        srv.add_user("alice")
        srv.add_project(PROJECT, files={"README.md": "mirrored\n"})
        srv.add_member(PROJECT, bot.username, 40)
        yield srv


def open_mr(server: GitLabServer, shop: Path) -> int:
    base = git(shop, "rev-parse", "main").strip()
    head = git(shop, "rev-parse", "change").strip()
    server.mirror(PROJECT, "main", sha=base)
    server.mirror(PROJECT, "change", sha=head, parent=base)
    mr = server.open_merge_request(PROJECT, source_branch="change", title="Bump", author="alice")
    return mr.iid


def head_of(server: GitLabServer, iid: int) -> str:
    mr = server.merge_request(PROJECT, iid)
    return mr.source.branches[mr.source_branch]


def run_in_pipeline(shop: Path, server: GitLabServer, iid: int, **more: str) -> Result:
    env = {
        "GITLAB_CI": "true",
        "CI_PROJECT_PATH": PROJECT,
        "CI_SERVER_URL": server.url,
        "CI_PROJECT_DIR": str(shop),
        "CI_MERGE_REQUEST_IID": str(iid),
        "CI_COMMIT_SHA": head_of(server, iid),
        "GITOPS_BOT_TOKEN": TOKEN,
        **more,
    }
    return CliRunner().invoke(cli, ["run"], env=env)


def notes(server: GitLabServer, iid: int) -> dict[str, tuple[int, str]]:
    found = {}
    for note in server.merge_request(PROJECT, iid).notes:
        if note.system:  # "added 1 commit", as GitLab writes on a push
            continue
        env = re.search(r"gitops-bot:plan env=([\w-]+) part=1/1", note.body)
        assert env, note.body[:200]
        found[env[1]] = (note.id, note.body)
    return found


@pytest.mark.usefixtures("tools_env")
def test_a_merge_request_gets_a_note_and_a_status_per_environment_and_a_push_edits_them(
    shop: Path, server: GitLabServer
) -> None:
    iid = open_mr(server, shop)

    result = run_in_pipeline(shop, server, iid)

    assert result.exit_code == 0, result.output
    assert result.output == f"gitops-bot: {PROJECT}#{iid}: 3 comment(s) and 7 status(es) written\n"
    first = notes(server, iid)
    assert set(first) == {"dev", "prod", "cache-prod"}
    head = head_of(server, iid)
    assert {s.name: (s.status, s.description) for s in server.statuses(PROJECT, head)} == {
        "gitops/plan/dev": ("success", "1 to update"),
        "gitops/plan/prod": ("success", "2 to update"),
        "gitops/plan/cache-prod": ("success", "1 to update"),
        "gitops/policy/dev": ("success", "the policy needs no approval"),
        "gitops/policy/prod": ("pending", PROD_PENDING),
        "gitops/policy/cache-prod": ("success", "the policy needs no approval"),
        "gitops": ("pending", "waiting: prod; changes: dev, prod, cache-prod; 1 not affected"),
    }
    for secret in (OLD_PASSWORD, NEW_PASSWORD, TOKEN):
        assert secret not in result.output
        assert all(secret not in body for _, body in first.values())

    git(shop, "checkout", "-q", "change")
    edit(shop, "deploy/base/deployment.yaml", "shop:1.5.0", "shop:1.5.1")
    git(shop, "commit", "-qam", "1.5.1")
    server.mirror(PROJECT, "change", sha=git(shop, "rev-parse", "HEAD").strip(), parent=head)

    again = run_in_pipeline(shop, server, iid)

    assert again.exit_code == 0, again.output
    second = notes(server, iid)
    assert {e: i for e, (i, _) in second.items()} == {e: i for e, (i, _) in first.items()}
    assert "shop:1.5.1" in second["dev"][1]


@pytest.mark.usefixtures("tools_env")
def test_a_parallel_matrix_plans_one_environment_a_job_and_the_summary_job_sums_them(
    shop: Path, server: GitLabServer
) -> None:
    iid = open_mr(server, shop)
    head = head_of(server, iid)

    for shard in ("1/3", "2/3", "3/3"):  # cache-prod, dev, prod: one each
        result = run_in_pipeline(shop, server, iid, GITOPS_BOT_SHARD=shard)
        assert result.exit_code == 0, result.output
        assert (
            result.output == f"gitops-bot: {PROJECT}#{iid}: 1 comment(s) and 2 status(es) written\n"
        )
    assert set(notes(server, iid)) == {"dev", "prod", "cache-prod"}
    assert "gitops" not in {s.name for s in server.statuses(PROJECT, head)}

    summary = run_in_pipeline(shop, server, iid, GITOPS_BOT_SUMMARIZE="true")

    assert summary.exit_code == 0, summary.output
    written = {s.name: (s.status, s.description) for s in server.statuses(PROJECT, head)}
    assert written["gitops"] == (  # as one unsharded job writes it
        "pending",
        "waiting: prod; changes: dev, prod, cache-prod; 1 not affected",
    )
    assert len(written) == 7


@pytest.mark.usefixtures("tools_env")
def test_environments_that_change_alike_share_one_note(
    server: GitLabServer, tmp_path: Path
) -> None:
    repo = tenants(tmp_path)
    iid = open_mr(server, repo)

    result = run_in_pipeline(repo, server, iid)

    assert result.exit_code == 0, result.output
    bodies = [n.body for n in server.merge_request(PROJECT, iid).notes if not n.system]
    names = sorted(re.findall(r"gitops-bot:plan env=(\S+) part=1/1", "\n".join(bodies)))
    assert names == ["%2Aa", "d"]
    group = next(b for b in bodies if "env=%2Aa " in b)
    assert "`a`, `b`, `c`; shown as `a` plans it." in group
    head = head_of(server, iid)
    written = {s.name: (s.status, s.description) for s in server.statuses(PROJECT, head)}
    assert [written[f"gitops/plan/{t}"] for t in "abcd"] == [
        *[("success", "1 to update")] * 3,
        ("success", "no changes"),
    ]
