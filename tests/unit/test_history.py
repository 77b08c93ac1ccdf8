"""The promotion history's pure part: markers read back, and the table."""

from __future__ import annotations

import json

from gitops_bot.core.promotion import change, ledger
from gitops_bot.core.promotion.routes import Rule

SHA = "a" * 40
BASE = "b" * 40


def test_a_promotion_bodys_marker_says_where_it_came_from() -> None:
    rule = Rule(source="dev", target="prod", copy=("d/{env}/v.yaml",))
    proposal = change.promotion(
        rule, source_sha=SHA, source={"d/dev/v.yaml": "new\n"}, target={"d/prod/v.yaml": "old\n"}
    )
    assert isinstance(proposal, change.Proposal)
    assert ledger.facts(proposal.body) == (
        "promotion",
        {"source": "dev", "target": "prod", "sha": SHA},
    )
    assert ledger.origin(proposal.body) == ("promotion", f"dev@{SHA[:12]}")


def test_a_rollback_bodys_marker_names_the_commit_restored() -> None:
    proposal = change.rollback(
        "dev", sha=SHA, base_sha=BASE, at_sha={"d/a.yaml": "old\n"}, at_base={"d/a.yaml": "new\n"}
    )
    assert isinstance(proposal, change.Proposal)
    assert ledger.origin(proposal.body) == ("rollback", SHA[:12])


def test_an_ordinary_body_is_a_change() -> None:
    assert ledger.facts("Bumps the image.\n<!-- other:marker x=1 -->") is None
    assert ledger.origin("") == ("change", "")


ENTRIES = (
    ledger.Entry(
        "prod",
        SHA,
        "success",
        "2026-01-05T09:00:00Z",
        pull=9,
        title=f"Promote dev to prod ({SHA[:12]})",
        author="gitops-bot[bot]",
        approved_by=("bob", "dave"),
        kind="promotion",
        origin=f"dev@{SHA[:12]}",
    ),
    ledger.Entry("prod", BASE, "failure", "2026-01-04T09:00:00Z"),
)


def test_the_table_shows_one_row_per_deployment() -> None:
    lines = ledger.table(ENTRIES).splitlines()
    assert lines[0].split() == [
        "env",
        "commit",
        "state",
        "since",
        "pull",
        "request",
        "kind",
        "approved",
        "by",
    ]
    assert lines[2].split() == [
        "prod",
        SHA[:12],
        "success",
        "2026-01-05T09:00:00Z",
        "#9",
        "Promote",
        "dev",
        "to",
        "prod",
        f"({SHA[:12]})",
        "promotion",
        "from",
        f"dev@{SHA[:12]}",
        "bob,",
        "dave",
    ]
    assert lines[3].split() == [
        "prod",
        BASE[:12],
        "failure",
        "2026-01-04T09:00:00Z",
        "(no",
        "pull",
        "request)",
        "change",
        "-",
    ]


def test_the_json_keeps_every_field() -> None:
    data = json.loads(ledger.to_json(ENTRIES))
    assert data[0]["approved_by"] == ["bob", "dave"]
    assert data[1] == {
        "env": "prod",
        "sha": BASE,
        "state": "failure",
        "since": "2026-01-04T09:00:00Z",
        "pull": None,
        "title": "",
        "author": "",
        "approved_by": [],
        "kind": "change",
        "origin": "",
    }
