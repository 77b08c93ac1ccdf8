"""`run` and `serve`: where live plans come from, and the poke's secret, as the flags say."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitops_bot.cli import ci
from gitops_bot.cli.ci import LiveVia
from gitops_bot.errors import BotError
from gitops_bot.web.planclient import PullerPlans


@pytest.fixture(autouse=True)
def _no_secrets_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GITOPS_BOT_PLAN_SECRET", "GITOPS_BOT_PULLER_SECRET"):
        monkeypatch.delenv(name, raising=False)


def test_a_kubeconfig_run_asks_no_puller() -> None:
    assert ci.live_plans(LiveVia("kubeconfig", puller_url="http://p:8080")) is None


def test_the_puller_is_asked_with_the_plan_secret_from_a_file_or_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "s").write_text("from-a-file\n")
    asked = ci.live_plans(LiveVia("puller", "http://p:8080", secret_file=str(tmp_path / "s")))
    assert isinstance(asked, PullerPlans)
    assert asked.url == "http://p:8080/plan"
    monkeypatch.setenv("GITOPS_BOT_PLAN_SECRET", "from-the-variable")
    assert isinstance(ci.live_plans(LiveVia("puller", "https://p.example/")), PullerPlans)


@pytest.mark.parametrize(
    ("via", "says"),
    [
        (LiveVia("puller"), "--live-via puller needs --puller-url"),
        (LiveVia("puller", "http://p:8080"), "needs the plan secret"),
        (LiveVia("puller", "ftp://p"), "is not an http(s) URL"),
        (LiveVia("puller", "https://bot:hunter2@p.example"), "carries a user name or password"),
        (LiveVia("puller", "http://p", audience="aud", forge="gitlab"), "issues no OIDC token"),
    ],
)
def test_a_puller_that_cannot_be_asked_is_a_clear_error(
    via: LiveVia, says: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if "ftp" in (via.puller_url or "") or "@" in (via.puller_url or ""):
        monkeypatch.setenv("GITOPS_BOT_PLAN_SECRET", "s")
    with pytest.raises(BotError) as caught:
        ci.live_plans(via)
    assert says in str(caught.value)
    assert "hunter2" not in str(caught.value)


def test_the_secret_and_the_oidc_audience_are_not_given_together(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GITOPS_BOT_PLAN_SECRET", "s")
    with pytest.raises(BotError, match="not both"):
        ci.live_plans(LiveVia("puller", "http://p", audience="aud"))


def test_a_puller_url_without_the_poke_secret_fails_only_the_poke() -> None:
    poke = ci.poke("http://p:8080", None)
    assert poke is not None
    with pytest.raises(BotError, match="needs the poke secret"):
        poke("refs/heads/main", "a" * 40)
    assert ci.poke(None, None) is None
