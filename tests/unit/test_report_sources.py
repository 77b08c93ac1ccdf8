"""The remote sources of a plan in every format: pinned, and a bump marked."""

from __future__ import annotations

from gitops_bot.core.objects.model import SourcePin
from gitops_bot.core.report import json as plan_json
from gitops_bot.core.report import markdown, text
from gitops_bot.core.report.plan import EnvPlan, Plan, SourceChange

REPO = "https://charts.example.com/"
OLD = SourcePin("deploy/app", "redis", "1.0.0", REPO, "sha256:" + "a" * 64)
NEW = SourcePin("deploy/app", "redis", "1.1.0", REPO, "sha256:" + "b" * 64)
KEPT = SourcePin("deploy/app", "pg", "2.0.0", REPO, "sha256:" + "c" * 64)


def plan(*sources: SourceChange) -> Plan:
    env = EnvPlan(env="dev", render_hash="h" * 64, sources=sources)
    return Plan(base="1" * 40, head="2" * 40, envs=(env,))


BUMP = SourceChange("deploy/app", "redis", OLD, NEW)
SAME = SourceChange("deploy/app", "pg", KEPT, KEPT)
ADDED = SourceChange(
    "deploy/app", "memcached", None, SourcePin("deploy/app", "memcached", "3.0.0", REPO, "sha256:d")
)


def test_sources_read_back_from_the_json_as_they_were_written() -> None:
    written = plan(BUMP, SAME, ADDED)
    assert plan_json.parse(plan_json.render(written)) == written
    doc = plan_json.document(written)["environments"][0]["sources"]
    assert [s["changed"] for s in doc] == [True, False, True]


def test_a_document_from_before_sources_reads_as_none() -> None:
    doc = plan_json.document(plan(BUMP))
    del doc["environments"][0]["sources"]
    assert plan_json.from_document(doc).envs[0].sources == ()


def test_the_comment_and_the_terminal_mark_the_bump_and_not_the_rest() -> None:
    (raw,) = markdown.env_comment(plan(BUMP, SAME), plan(BUMP, SAME).envs[0])
    comment = " ".join(raw.split())  # the table's columns are padded
    assert "| remote source | resolved |" in comment
    assert f"redis of deploy/app from {REPO}" in comment
    assert "`1.0.0 (sha256:aaaaaaaaaaaa) → 1.1.0 (sha256:bbbbbbbbbbbb)` | **changed** |" in comment
    assert "`2.0.0 (sha256:cccccccccccc)` | |" in comment
    said = text.render(plan(BUMP, SAME), color=False)
    assert f"redis of deploy/app from {REPO}: 1.0.0 (sha256:aaaaaaaaaaaa) -> 1.1.0" in said
    assert "(changed)" in said
    assert f"pg of deploy/app from {REPO}: 2.0.0 (sha256:cccccccccccc)\n" in said


def test_many_sources_are_counted_past_the_rows_shown() -> None:
    many = tuple(SourceChange("deploy/app", f"dep{i:02}", KEPT, KEPT) for i in range(25))
    said = text.render(plan(*many), color=False)
    assert "and 5 more" in said
    (comment,) = markdown.env_comment(plan(*many), plan(*many).envs[0])
    assert "and 5 more remote sources." in comment
