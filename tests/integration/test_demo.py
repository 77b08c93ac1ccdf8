"""`gitops-bot demo`, as a newcomer runs it: the whole story, end to end."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from gitops_bot.cli import cli
from gitops_bot.testing.binaries import Binaries

pytestmark = pytest.mark.cluster


def _section(output: str, number: int) -> str:
    """The text under the heading `N. ...` up to the next heading."""
    match = re.search(rf"^{number}\. .*?\n=+\n(.*?)(?:\n=+\n\d+\. |\Z)", output, re.S | re.M)
    assert match, f"no section {number} in:\n{output}"
    return match.group(1)


def _rows(section: str) -> dict[tuple[str, str, str], tuple[str, str]]:
    """(env, kind, name) -> (outcome, health) from the outcome table."""
    rows = {}
    for line in section.splitlines():
        cells = re.split(r"\s{2,}", line.strip())
        if len(cells) >= 5 and cells[0] in ("platform", "dev", "prod", "cache-prod"):
            if cells[1] in ("Namespace", "CustomResourceDefinition"):  # no namespace column
                cells.insert(2, "")
            rows[(cells[0], cells[1], cells[3])] = (cells[4], cells[5])
    return rows


def test_demo_tells_the_whole_story(binaries: Binaries, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITOPS_BOT_TESTENV_BIN", str(binaries.folder))
    before = set(Path(tempfile.gettempdir()).glob("gitops-bot-demo-*"))

    result = CliRunner().invoke(cli, ["demo"])

    assert result.exit_code == 0, result.output
    out = result.output
    assert re.search(r"kube-apiserver ready at https://127\.0\.0\.1:\d+", _section(out, 1))

    # main applied by the puller: every environment, every object created and healthy.
    first = _rows(_section(out, 2))
    assert first[("platform", "Namespace", "shop-prod")] == ("created", "Healthy")
    assert first[("platform", "Widget", "storefront")] == ("created", "Healthy")
    assert first[("prod", "Deployment", "shop")] == ("created", "Healthy")
    assert first[("cache-prod", "Deployment", "cache")] == ("created", "Healthy")
    assert {env for env, _, _ in first} == {"platform", "dev", "prod", "cache-prod"}
    assert all(outcome == ("created", "Healthy") for outcome in first.values())

    # The plan, as the PR comments show it: dev and prod changed, the others skipped.
    plan = _section(out, 3)
    assert "<!-- gitops-bot:plan env=dev part=1/1 -->" in plan
    assert "<!-- gitops-bot:plan env=prod part=1/1 -->" in plan
    assert "-        image: ghcr.io/example/shop:1.4.0" in plan
    assert "+        image: ghcr.io/example/shop:1.5.0" in plan
    assert "-  replicas: 3\n+  replicas: 4" in plan
    assert "drifted" not in plan  # the puller's own ApplySet labels are not drift
    assert "- `platform`: no file it reads changed" in plan
    assert "- `cache-prod`: no file it reads changed" in plan

    # Merged and applied: only the two Deployments change, and all is healthy.
    second = _rows(_section(out, 4))
    changed = {key for key, (outcome, _) in second.items() if outcome != "unchanged"}
    assert changed == {("dev", "Deployment", "shop"), ("prod", "Deployment", "shop")}
    assert all(health == "Healthy" for _, health in second.values())
    assert "4 of 4 replicas available" in _section(out, 4)

    # The next sync of the same commit sends no mutating request.
    noop = _section(out, 5)
    for env in ("platform", "dev", "prod", "cache-prod"):
        assert re.search(rf"^{env}: requests: .*; 0 mutating$", noop, re.M), noop
    assert "0 mutating requests in all" in noop

    nxt = _section(out, 6)
    for doc in ("quickstart-github", "quickstart-gitlab", "policy", "chatops", "puller"):
        assert f"docs/{doc}.md" in nxt
    assert "gitops-bot demo --keep" in nxt
    assert "gitops-bot plan --help" in nxt
    assert out.rstrip().endswith("the cluster is stopped, the folders removed.")
    assert set(Path(tempfile.gettempdir()).glob("gitops-bot-demo-*")) == before
