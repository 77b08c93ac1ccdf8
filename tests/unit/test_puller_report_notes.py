"""The Event notes the puller writes fit the API's limit and lose no object."""

from __future__ import annotations

import re

import pytest

from gitops_bot.cluster import recorder
from gitops_bot.core.objects import textfit
from gitops_bot.core.objects.model import Key
from gitops_bot.core.objects.outcome import ApplyResult, ObjectResult, Outcome
from gitops_bot.puller.report import failure_note


def _result(failed: int, message: str) -> ApplyResult:
    objects = (
        *tuple(
            ObjectResult(Key("", "ConfigMap", "shop", f"cm-{i}"), Outcome.FAILED, message)
            for i in range(failed)
        ),
        ObjectResult(Key("", "ConfigMap", "shop", "ok"), Outcome.NOT_APPLIED, "stopped"),
    )
    listed = "; ".join(f"{o.key}: {o.message}" for o in objects[:failed][:10])
    more = f"; and {failed - 10} more" if failed > 10 else ""
    error = f"validation failed, nothing was changed: {failed} object(s) failed: {listed}{more}"
    return ApplyResult(revision="a" * 40, render_hash="h", objects=objects, ok=False, error=error)


@pytest.mark.parametrize("failed", [1, 6, 40, 400])
@pytest.mark.parametrize("message", ["short", "é" * 300, "HTTP 422 Invalid: " + "x" * 2000])
def test_an_apply_failed_note_fits_and_names_or_counts_every_failure(
    failed: int, message: str
) -> None:
    note = failure_note("aaaaaaaaaaaa", _result(failed, message), "summary")
    assert textfit.size(note) <= recorder.NOTE_LIMIT
    assert note.startswith("applying aaaaaaaaaaaa: validation failed, nothing was changed: ")
    named = len(set(re.findall(r"ConfigMap shop/cm-(\d+):", note)))
    more = re.search(r"and (\d+) more( failed objects)?$", note)
    assert named + (int(more.group(1)) if more else 0) == failed, note
