"""Many environments planned at once (planner.plan's workers) give the plan
that planning them one by one gives: environments sharing a helmCharts chart
(placed once in the shared checkout, not replaced under a render reading it)
and environments sharing a remote git base (fetched into one empty cache by
several renders at once), with the real kustomize and helm, a chart
repository and a git server on 127.0.0.1.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from gitops_bot.cli import cli
from gitops_bot.testing.binaries import Binaries
from tests.integration import pullerkit
from tests.integration.chartrepo import ChartRepo, helm, serving, write
from tests.integration.gitserver import GitServer, gitserver
from tests.integration.pullerkit import Remote

__all__ = ["gitserver"]  # fixtures

ENVS = 8  # of each kind
CHART = {
    "Chart.yaml": "apiVersion: v2\nname: web\nversion: {version}\n",
    "values.yaml": "greeting: hello\n",
    "templates/cm.yaml": (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-web\n"
        "data:\n  version: {{ .Chart.Version | quote }}\n"
    ),
}
CM = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: platform\ndata:\n  version: '{v}'\n"


@pytest.fixture
def charts(binaries: Binaries, tmp_path: Path) -> Iterator[ChartRepo]:
    folder = tmp_path / "served"
    for version in ("1.0.0", "1.1.0"):
        source = tmp_path / "src" / version / "web"
        write(source, {k: v.replace("{version}", version) for k, v in CHART.items()})
        helm(binaries, "package", str(source), "--destination", str(folder))
    with serving(ChartRepo(folder)) as served:
        helm(binaries, "repo", "index", str(folder), "--url", served.url)
        yield served


def _repository(tmp_path: Path, charts: ChartRepo, server: GitServer) -> Remote:
    """web-NN overlays of base/web (helmCharts web 1.0.0), platform-NN of a remote
    base (org/platform at v1); the change bumps the chart to 1.1.0 and the remote
    base to v2: every environment changes."""
    for version, tag in (("1", "v1"), ("2", "v2")):
        server.repo(
            "org/platform",
            {
                "base/kustomization.yaml": "resources: [cm.yaml]\n",
                "base/cm.yaml": CM.format(v=version),
            },
            tag=tag,
        )

    def chart(version: str) -> str:
        entry = {"name": "web", "repo": charts.url, "version": version, "releaseName": "r"}
        return yaml.safe_dump({"helmCharts": [entry]})

    def platform(tag: str) -> str:
        return f"resources:\n- {server.url}org/platform.git//base?ref={tag}\n"

    envs = {f"web-{i:02d}": f"envs/web-{i:02d}" for i in range(ENVS)}
    envs |= {f"platform-{i:02d}": f"envs/platform-{i:02d}" for i in range(ENVS)}
    config = {
        "version": 1,
        "environments": {
            name: {"kustomize": path, "namespace": f"ns-{name}"} for name, path in envs.items()
        },
        "sources": {"allow": [charts.url, server.url + "org/"]},
    }
    files: dict[str, str | None] = {
        ".gitops.yaml": yaml.safe_dump(config),
        "base/web/kustomization.yaml": chart("1.0.0"),
        "base/platform/kustomization.yaml": platform("v1"),
    }
    for i in range(ENVS):
        for kind in ("web", "platform"):
            files[f"envs/{kind}-{i:02d}/kustomization.yaml"] = (
                f"namePrefix: e{i:02d}-\nresources: [../../base/{kind}]\n"
            )
    remote = Remote(tmp_path / "git")
    remote.commit(files, "base")
    remote.push()
    pullerkit.git(remote.work, "checkout", "-q", "-b", "change")
    remote.commit(
        {
            "base/web/kustomization.yaml": chart("1.1.0"),
            "base/platform/kustomization.yaml": platform("v2"),
        },
        "bump both",
    )
    pullerkit.git(remote.work, "checkout", "-q", "main")
    return remote


def _plan(remote: Remote, binaries: Binaries, cache: Path, workers: int) -> dict[str, object]:
    result = CliRunner().invoke(
        cli,
        [
            "plan",
            *("--repo", str(remote.work), "--base", "main", "--head", "change"),
            *("--format", "json", "--source-cache", str(cache)),
            *("--helm", binaries.path("helm"), "--kustomize", binaries.path("kustomize")),
            *("--workers", str(workers)),
        ],
    )
    assert result.exit_code == 1, result.output
    report: dict[str, object] = json.loads(result.output)
    return report


def test_environments_planned_at_once_plan_as_they_do_one_by_one(
    binaries: Binaries,
    charts: ChartRepo,
    gitserver: GitServer,
    tmp_path: Path,
) -> None:
    remote = _repository(tmp_path, charts, gitserver)

    at_once = _plan(remote, binaries, tmp_path / "cache-at-once", 8)
    one_by_one = _plan(remote, binaries, tmp_path / "cache-one-by-one", 1)

    assert at_once == one_by_one
    envs = at_once["environments"]
    assert isinstance(envs, list)
    assert [e["name"] for e in envs] == sorted(  # the configuration's order (safe_dump's)
        [*(f"web-{i:02d}" for i in range(ENVS)), *(f"platform-{i:02d}" for i in range(ENVS))]
    )
    for env in envs:
        assert env["error"] is None, env["error"]
        (change,) = [c for c in env["changes"] if c["action"] != "unchanged"]
        i = env["name"][-2:]
        if env["name"].startswith("web-"):
            assert change["key"]["name"] == f"e{i}-r-web"
            assert "-  version: 1.0.0\n+  version: 1.1.0" in change["diff"]
        else:
            assert change["key"]["name"] == f"e{i}-platform"
            assert "-  version: '1'\n+  version: '2'" in change["diff"]
