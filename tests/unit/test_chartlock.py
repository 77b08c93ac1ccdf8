"""render.chartlock: helm's Chart.lock digest, reproduced, against locks helm wrote.

The golden rows were written by the pinned helm (v4.2.4, `helm dependency
update` against a chart repository on 127.0.0.1); tests/integration/test_fetch.py
checks a lock the pinned helm writes during the test run as well.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml

from gitops_bot.errors import RenderError
from gitops_bot.render import chartlock

# Escapes (<, &), tags, an alias, import-values with a mapping, the same chart twice.
CHART = """\
    apiVersion: v2
    name: app
    version: 0.1.0
    dependencies:
    - name: redis
      version: "^1.0.0"
      repository: http://127.0.0.1:8765/
      condition: redis.enabled,x<y&z
      tags: [cache, "a&b"]
      import-values:
      - data
      - child: z.b
        parent: a
      alias: cache1
    - name: redis
      version: 1.0.0
      repository: "http://127.0.0.1:8765"
"""
LOCK = """\
    dependencies:
    - name: redis
      repository: http://127.0.0.1:8765/
      version: 1.0.0
    - name: redis
      repository: http://127.0.0.1:8765
      version: 1.0.0
    digest: sha256:5f5a16350a41853ad1695045dc8ee41691eb17088cd7cd441981ed439c89f56f
    generated: "2026-12-07T05:47:38.140951826Z"
"""


def _deps(text: str) -> object:
    return yaml.safe_load(textwrap.dedent(text))["dependencies"]


def test_the_digest_is_helms() -> None:
    digest = yaml.safe_load(textwrap.dedent(LOCK))["digest"]
    assert chartlock.digest(_deps(CHART), _deps(LOCK)) == digest


def test_values_helm_would_convert_are_not_hashed() -> None:
    assert chartlock.digest([{"name": "redis", "version": 1.0}], []) is None
    assert chartlock.digest([{"name": "redis", "tags": [1]}], []) is None
    assert chartlock.digest("redis", []) is None
    # null and [] differ for Go, and so here.
    assert chartlock.digest(None, None) != chartlock.digest([], [])


def _chart(root: Path, chart: str, lock: str) -> None:
    (root / "app").mkdir()
    (root / "app/Chart.yaml").write_text(textwrap.dedent(chart))
    (root / "app/Chart.lock").write_text(textwrap.dedent(lock))


def test_a_lock_helm_wrote_pins_the_versions(tmp_path: Path) -> None:
    _chart(tmp_path, CHART, LOCK)
    assert chartlock.dependencies(tmp_path, "app") == [
        chartlock.Dependency("redis", "1.0.0", "http://127.0.0.1:8765/", locked=True),
        chartlock.Dependency("redis", "1.0.0", "http://127.0.0.1:8765", locked=True),
    ]


def test_a_changed_chart_with_the_old_lock_is_out_of_sync(tmp_path: Path) -> None:
    _chart(tmp_path, CHART.replace("alias: cache1", "alias: cache2"), LOCK)
    with pytest.raises(RenderError, match=r"Chart\.lock is out of sync with Chart\.yaml"):
        chartlock.dependencies(tmp_path, "app")


@pytest.mark.parametrize(
    ("version", "exact"),
    [
        ("1.2.3", True),
        ("v1.2.3", True),
        ("1.2.3-rc.1+build.5", True),
        ("1.2", False),
        ("^1.2.3", False),
        ("~1.2.3", False),
        (">=1.2.3", False),
        ("1.2.x", False),
        ("*", False),
        ("", False),
        ("1.2.3 || 2.0.0", False),
    ],
)
def test_exact_versions(version: str, exact: bool) -> None:
    assert chartlock.is_exact(version) is exact
