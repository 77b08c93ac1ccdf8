"""`gitops-bot demo`, as a newcomer runs it."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from gitops_bot.cli import cli
from gitops_bot.testing.binaries import Binaries

pytestmark = pytest.mark.cluster


def test_demo_applies_the_sample_and_it_becomes_healthy(
    binaries: Binaries, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITOPS_BOT_TESTENV_BIN", str(binaries.folder))

    result = CliRunner().invoke(cli, ["demo"])

    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("local control plane ready at https://127.0.0.1:")
    # Namespaces first, so that the rest can be dry-run inside them.
    assert lines[1:3] == [
        "stage of 1: dry-run accepted, applied",
        "stage of 3: dry-run accepted, applied",
    ]
    rows = [line.split()[:4] for line in lines[5:9]]
    assert rows == [
        ["Namespace", "gitops-demo", "Healthy"],  # cluster-scoped: no namespace column
        ["ConfigMap", "gitops-demo", "web-config", "Healthy"],
        ["Deployment", "gitops-demo", "web", "Healthy"],
        ["Service", "gitops-demo", "web", "Healthy"],
    ]
    assert "3 of 3 replicas available" in result.output
    assert lines[-1].startswith("control plane stopped.")
