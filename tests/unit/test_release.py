"""The release workflow publishes what the issue asks (both architectures, the
version tag, an SBOM and provenance, a keyless signature by digest) with the
least it needs (id-token only where it signs, no template expansion in a
shell); action.yml and the GitLab template name a released image only by its
full digest, and actions/pin_image.py (`make pin-image`) writes exactly that
form into both. The linters' verdicts on the workflow: test_packaging_lint.py."""

from __future__ import annotations

import importlib.util
import re
import shutil
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
RELEASE = ROOT / ".github" / "workflows" / "release.yml"
GITLAB = ROOT / "actions" / "gitlab" / "gitops-bot.gitlab-ci.yml"
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")


def _pin_image() -> ModuleType:
    spec = importlib.util.spec_from_file_location("pin_image", ROOT / "actions" / "pin_image.py")
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


PIN = _pin_image()
DIGEST = "sha256:" + "ab" * 32


def _release() -> dict[str, Any]:
    loaded: dict[Any, Any] = yaml.safe_load(RELEASE.read_text())
    loaded["on"] = loaded.pop(True, loaded.get("on"))  # YAML 1.1 reads `on:` as True
    return loaded


def _steps(job: str) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = _release()["jobs"][job]["steps"]
    return steps


def _step(job: str, uses: str) -> dict[str, Any]:
    found = [s for s in _steps(job) if s.get("uses", "").startswith(f"{uses}@")]
    assert len(found) == 1, f"{job}: one step uses {uses}"
    return found[0]


def test_only_a_version_tag_starts_a_release() -> None:
    assert _release()["on"] == {"push": {"tags": ["v[0-9]+.[0-9]+.[0-9]+"]}}


def test_the_image_is_built_for_both_architectures_with_sbom_and_provenance() -> None:
    build = _step("image", "docker/build-push-action")["with"]
    assert set(build["platforms"].split(",")) == {"linux/amd64", "linux/arm64"}
    assert build["push"] is True
    assert build["sbom"] is True
    assert build["provenance"] == "mode=max"
    assert build["tags"] == "${{ env.IMAGE }}:${{ steps.version.outputs.version }}"
    assert "cache-from" not in build, "a release is built from the tagged commit alone"
    assert _release()["env"]["IMAGE"] == PIN.IMAGE


def test_the_image_is_signed_keyless_by_digest() -> None:
    sign = [s for s in _steps("sign") if "cosign sign" in s.get("run", "")]
    assert len(sign) == 1
    assert sign[0]["run"] == 'cosign sign --yes "${IMAGE}@${DIGEST}"'
    assert sign[0]["env"]["DIGEST"] == "${{ needs.image.outputs.digest }}"
    assert _release()["jobs"]["image"]["outputs"]["digest"] == "${{ steps.build.outputs.digest }}"
    assert "--key" not in sign[0]["run"]
    _step("sign", "sigstore/cosign-installer")


def test_the_digest_goes_to_the_job_summary_with_the_pin_command() -> None:
    summary = [s for s in _steps("sign") if "GITHUB_STEP_SUMMARY" in s.get("run", "")]
    assert len(summary) == 1
    assert "${DIGEST}" in summary[0]["run"]
    assert "make pin-image REF=${IMAGE}:${VERSION}@${DIGEST}" in summary[0]["run"]


def test_permissions_are_none_by_default_and_id_token_only_where_it_signs() -> None:
    release = _release()
    assert release["permissions"] == {}
    assert release["jobs"]["image"]["permissions"] == {"contents": "read", "packages": "write"}
    assert release["jobs"]["sign"]["permissions"] == {"packages": "write", "id-token": "write"}
    assert not any("actions/checkout" in s.get("uses", "") for s in _steps("sign"))


@pytest.mark.parametrize("job", ["image", "sign"])
def test_every_action_is_pinned_by_commit_and_no_shell_expands_an_expression(job: str) -> None:
    for step in _steps(job):
        if "uses" in step:
            assert PINNED.match(step["uses"]), step["uses"]
        else:
            assert "${{" not in step["run"], f"{step['name']}: pass it through env"
    checkout = [s for s in _steps(job) if s.get("uses", "").startswith("actions/checkout@")]
    assert all(s["with"]["persist-credentials"] is False for s in checkout)


def _action_image() -> str:
    image: str = yaml.safe_load((ROOT / "action.yml").read_text())["runs"]["image"]
    return image


def _gitlab_image() -> str:
    image: str = yaml.safe_load(GITLAB.read_text())["variables"]["GITOPS_BOT_IMAGE"]
    return image


def test_a_released_image_is_named_by_its_full_digest_in_both_places() -> None:
    action = _action_image()
    if action == "Dockerfile":
        # No release has published the image yet (docs/release.md): the action
        # builds it from this commit, and GitLab users push their own.
        assert _gitlab_image().startswith(f"{PIN.IMAGE}:")
        return
    assert action.startswith("docker://")
    assert PIN.REFERENCE.fullmatch(action.removeprefix("docker://")), action
    assert _gitlab_image() == action.removeprefix("docker://")


def _copy(tmp_path: Path) -> Path:
    for name in ("action.yml", "actions/gitlab/gitops-bot.gitlab-ci.yml"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, tmp_path / name)
    return tmp_path


def test_pin_image_names_the_release_by_digest_in_both_files_and_nothing_else(
    tmp_path: Path,
) -> None:
    root = _copy(tmp_path)
    ref = f"{PIN.IMAGE}:1.2.3@{DIGEST}"

    assert PIN.main([ref, "--root", str(root)]) == 0

    action = yaml.safe_load((root / "action.yml").read_text())
    assert action["runs"]["image"] == f"docker://{ref}"
    before = yaml.safe_load((ROOT / "action.yml").read_text())
    before["runs"]["image"] = f"docker://{ref}"
    assert action == before
    gitlab = yaml.safe_load((root / "actions/gitlab/gitops-bot.gitlab-ci.yml").read_text())
    assert gitlab["variables"]["GITOPS_BOT_IMAGE"] == ref
    # Pinning again to the same reference changes nothing.
    assert PIN.pin(root, ref) == []


@pytest.mark.parametrize(
    "ref",
    [
        "ghcr.io/gitops-bot/gitops-bot:1.2.3",
        f"ghcr.io/gitops-bot/gitops-bot@{DIGEST}",
        "ghcr.io/gitops-bot/gitops-bot:1.2.3@sha256:abc",
        f"ghcr.io/someone/else:1.2.3@{DIGEST}",
    ],
    ids=["tag-only", "no-version", "short-digest", "other-image"],
)
def test_pin_image_refuses_anything_but_a_version_and_a_full_digest(
    tmp_path: Path, ref: str, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _copy(tmp_path)
    assert PIN.main([ref, "--root", str(root)]) == 2
    assert "sha256" in capsys.readouterr().err
    assert (root / "action.yml").read_text() == (ROOT / "action.yml").read_text()
