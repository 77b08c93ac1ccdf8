"""testenv/k8s/<minor>/go.mod: the older Kubernetes versions of the supported
range are the two minors right below testenv/go.mod's, and each pins one
release throughout (every staging module at the same patch), so that the
apiserver built is the release its folder names."""

from __future__ import annotations

import re
from pathlib import Path

TESTENV = Path(__file__).resolve().parents[2] / "testenv"


def kubernetes(go_mod: Path) -> tuple[int, int]:
    found = re.search(r"^\s*k8s\.io/kubernetes v1\.(\d+)\.(\d+)", go_mod.read_text(), re.M)
    assert found, go_mod
    return int(found[1]), int(found[2])


def test_the_older_versions_are_the_two_minors_below_the_newest() -> None:
    newest, _ = kubernetes(TESTENV / "go.mod")
    older = sorted(p.parent.name for p in (TESTENV / "k8s").glob("*/go.mod"))
    assert older == [f"1.{newest - 2}", f"1.{newest - 1}"]


def test_each_version_pins_one_release_and_its_staging_modules_at_the_same_patch() -> None:
    for go_mod in (TESTENV / "k8s").glob("*/go.mod"):
        minor, patch = kubernetes(go_mod)
        assert go_mod.parent.name == f"1.{minor}"
        replaced = re.findall(r"^\s*(k8s\.io/\S+) => (\S+) (v\S+)$", go_mod.read_text(), re.M)
        assert len(replaced) > 20, go_mod
        assert {(src == dst, v) for src, dst, v in replaced} == {(True, f"v0.{minor}.{patch}")}
