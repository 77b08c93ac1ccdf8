"""Events on the real control plane: every note lands, shortened when too long."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gitops_bot.cluster import recorder
from gitops_bot.cluster.kube import Kube
from gitops_bot.core.objects import textfit
from gitops_bot.testing.binaries import Binaries
from tests.integration import pullerkit
from tests.integration.pullerkit import Remote

pytestmark = pytest.mark.cluster


def _events(kube: Kube, namespace: str) -> list[dict[str, object]]:
    return kube.list_objects("events.k8s.io/v1", "Event", namespace=namespace)


@pytest.mark.parametrize(
    ("note", "reason"),
    [
        ("a" * 1025, "Applied"),  # ASCII, one byte over
        ("ü" * 600, "Applied"),  # 600 characters, 1,200 bytes
        ("objects: " + "€ 😀 ß " * 300, "Ä" * 100),  # mixed widths; a 200-byte reason
        ("x" * 1024, "R" * 200),  # fits exactly; an ASCII reason past 128
    ],
    ids=["ascii-1025", "utf8-600-chars", "mixed", "exact"],
)
def test_a_long_note_is_shortened_not_dropped(
    kube: Kube, namespace: str, note: str, reason: str
) -> None:
    sink = recorder.Recorder(kube, instance="i" * 20 + "é" * 100)
    regarding = {"apiVersion": "v1", "kind": "ConfigMap", "namespace": namespace, "name": "p"}

    sink.event(regarding, reason=reason, action="Apply", note=note)

    assert sink.written == 1, "the API server refused the Event"
    (event,) = _events(kube, namespace)
    written = str(event["note"])
    assert textfit.size(written) <= recorder.NOTE_LIMIT
    if textfit.size(note) <= recorder.NOTE_LIMIT:
        assert written == note
    else:
        kept, _, said = written.rpartition("… [")
        assert note.startswith(kept)
        assert len(kept) > 300
        assert said == f"{len(note) - len(kept)} more characters]"
    assert reason.startswith(str(event["reason"]))
    assert textfit.size(str(event["reason"])) <= recorder.SHORT_LIMIT


def test_an_apply_failed_event_names_each_of_six_failing_objects(
    kube: Kube, namespace: str, binaries: Binaries, tmp_path: Path
) -> None:
    bad = [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": f"bad-{i}", "labels": {"broken": "ü-" * 40 + str(i)}},
            "data": {"v": "1"},
        }
        for i in range(6)
    ]
    remote = Remote(tmp_path / "git")
    remote.commit(
        {
            ".gitops.yaml": pullerkit.config(namespace),
            **pullerkit.configmaps("dev", 2),
            "envs/dev/bad.yaml": yaml.safe_dump_all(bad, allow_unicode=True),
        }
    )
    remote.push()
    puller = pullerkit.make(
        kube, remote, namespace=namespace, cache=tmp_path / "c", binaries=binaries
    )

    assert puller.sync() == {"dev": "failed"}

    failed = [e for e in _events(kube, namespace) if e["reason"] == "ApplyFailed"]
    assert len(failed) == 1, "the ApplyFailed Event was refused"
    note = str(failed[0]["note"])
    assert textfit.size(note) <= recorder.NOTE_LIMIT
    assert note.startswith("applying ")
    assert "validation failed" in note
    assert all(f"ConfigMap {namespace}/bad-{i}:" in note for i in range(6)), note


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
    | st.sampled_from(["😀", "\\😀", "\\ud83d\\ude00", "a\x7fb", "\x00", "\ufeff", "𝄞é€"])
)
def test_any_text_is_applied_as_written(kube: Kube, namespace: str, text: str) -> None:
    """Apply patches are read as YAML, which has no JSON surrogate escapes: an
    emoji in a note, a label or a ConfigMap must still get through intact."""
    cm = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "text", "namespace": namespace},
        "data": {"v": text},
    }
    assert kube.apply(cm)["data"].get("v", "") == text
