"""The packaging linters `make lint` runs have teeth: each one, with the
project's own configuration, passes the real files and rejects a known-bad
variant of them. The linters are the binaries `make lint` installs into the
virtualenv; a missing one fails with the command that installs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
WORKFLOW = ROOT / "actions" / "github" / "pull_request.yml"
_JOB_PERMISSIONS = (
    "    permissions:\n"
    "      contents: read # check out the base and the head\n"
    "      pull-requests: write # one comment per environment\n"
    "      statuses: write # `gitops` and `gitops/plan/<env>` on the head\n"
)


def _lint(tool: str, *args: str | Path) -> subprocess.CompletedProcess[str]:
    binary = BIN / tool
    assert binary.exists(), f"{binary} is missing: `make lint` installs it"
    return subprocess.run(
        [str(binary), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
    )


def _zizmor(*paths: Path) -> subprocess.CompletedProcess[str]:
    return _lint(
        "zizmor",
        "--offline",
        "--strict-collection",
        "--no-progress",
        "--config",
        ROOT / "actions" / "zizmor.yml",
        *paths,
    )


def test_zizmor_passes_the_action_and_the_examples() -> None:
    done = _zizmor(ROOT / "action.yml", *sorted((ROOT / "actions" / "github").glob("*.yml")))
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(
    ("change", "finding"),
    [
        (
            ("actions/checkout@de0fac2e4500dabe0009e67214ff5f5447ce83dd", "actions/checkout@v6"),
            "unpinned-uses",
        ),
        (("pull_request:\n", "pull_request_target:\n"), "dangerous-triggers"),
        (("          persist-credentials: false\n", ""), "artipacked"),
        ((_JOB_PERMISSIONS, "    permissions: write-all\n"), "excessive-permissions"),
    ],
    ids=["tag-pinned-checkout", "pull_request_target", "persisted-token", "write-all"],
)
def test_zizmor_rejects_an_unsafe_variant_of_the_example(
    tmp_path: Path, change: tuple[str, str], finding: str
) -> None:
    old, new = change
    text = WORKFLOW.read_text()
    assert old in text
    bad = tmp_path / "pull_request.yml"
    bad.write_text(text.replace(old, new, 1))
    done = _zizmor(bad)
    assert done.returncode != 0
    assert finding in done.stdout


RELEASE = ROOT / ".github" / "workflows" / "release.yml"


def test_the_linters_pass_the_release_workflow() -> None:
    for done in (
        _zizmor(RELEASE),
        _lint("actionlint", f"-shellcheck={BIN / 'shellcheck'}", RELEASE),
        _lint("check-jsonschema", "--builtin-schema", "vendor.github-workflows", RELEASE),
    ):
        assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(
    ("change", "finding"),
    [
        (
            (
                'run: cosign sign --yes "${IMAGE}@${DIGEST}"',
                'run: cosign sign --yes "${IMAGE}@${{ needs.image.outputs.digest }}"',
            ),
            "template-injection",
        ),
        (
            (
                "docker/build-push-action@53b7df96c91f9c12dcc8a07bcb9ccacbed38856a",
                "docker/build-push-action@v7",
            ),
            "unpinned-uses",
        ),
        (
            (
                "    permissions:\n"
                "      contents: read # check out the tagged commit\n"
                "      packages: write # push the image to ghcr.io\n",
                "    permissions: write-all\n",
            ),
            "excessive-permissions",
        ),
    ],
    ids=["digest-in-shell", "tag-pinned-build-push", "write-all"],
)
def test_zizmor_rejects_an_unsafe_variant_of_the_release(
    tmp_path: Path, change: tuple[str, str], finding: str
) -> None:
    old, new = change
    text = RELEASE.read_text()
    assert old in text
    bad = tmp_path / "release.yml"
    bad.write_text(text.replace(old, new, 1))
    done = _zizmor(bad)
    assert done.returncode != 0
    assert finding in done.stdout


def test_actionlint_rejects_a_permission_that_does_not_exist(tmp_path: Path) -> None:
    assert _lint("actionlint", WORKFLOW).returncode == 0
    bad = tmp_path / "pull_request.yml"
    bad.write_text(WORKFLOW.read_text().replace("statuses: write", "status: write"))
    done = _lint("actionlint", bad)
    assert done.returncode != 0
    assert "status" in done.stdout


def test_hadolint_rejects_running_the_image_as_root(tmp_path: Path) -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert _lint("hadolint", ROOT / "Dockerfile").returncode == 0
    bad = tmp_path / "Dockerfile"
    # The image has no USER (a Docker action runs as root); hadolint objects
    # to a last USER that is root, which says so without the reason.
    bad.write_text(dockerfile.replace("\nENTRYPOINT ", "\nUSER root\nENTRYPOINT ", 1))
    done = _lint("hadolint", bad)
    assert done.returncode != 0
    assert "DL3002" in done.stdout


def test_the_gitlab_schema_rejects_a_misspelt_job_key(tmp_path: Path) -> None:
    template = ROOT / "actions" / "gitlab" / "gitops-bot.gitlab-ci.yml"
    schema = ("--builtin-schema", "vendor.gitlab-ci")
    assert _lint("check-jsonschema", *schema, template).returncode == 0
    bad = tmp_path / "bad.gitlab-ci.yml"
    bad.write_text(template.read_text().replace("  rules:\n", "  rule:\n", 1))
    assert _lint("check-jsonschema", *schema, bad).returncode != 0
