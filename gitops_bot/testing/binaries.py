"""Where the control-plane binaries are.

Owns: finding the folder that testenv/build.sh fills (etcd, kube-apiserver,
kube-controller-manager, kube-scheduler, kwok, kubectl, helm, kustomize, and
kwok's stage file beside it), and the OCI registry testenv/registry/build.sh
builds (`registry`). Refuses: downloading anything; the binaries are built
from pinned Go modules by those scripts, which this module runs when they are
reachable from a source checkout (they return at once when the cache is warm).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from gitops_bot.errors import BotError

ENV_VAR = "GITOPS_BOT_TESTENV_BIN"
REGISTRY_ENV_VAR = "GITOPS_BOT_REGISTRY_BIN"
NAMES = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kwok",
    "kubectl",
    "helm",
    "kustomize",
)
# A cold build compiles Kubernetes; see docs/testenv.md for the figures.
_BUILD_TIMEOUT_S = 3600


class TestEnvError(BotError):
    """The local control plane could not be built, found or started."""

    __test__ = False  # not a pytest test class, despite the name


@dataclass(frozen=True)
class Binaries:
    folder: Path

    def path(self, name: str) -> str:
        return str(self.folder / name)

    @property
    def kwok_stages(self) -> Path:
        return self.folder.parent / "kwok-stages.yaml"

    def check(self) -> Binaries:
        missing = [n for n in NAMES if not (self.folder / n).is_file()]
        if not self.kwok_stages.is_file():
            missing.append(str(self.kwok_stages.name))
        if missing:
            raise TestEnvError(
                f"looking for the control-plane binaries in {self.folder}: "
                f"missing {', '.join(missing)} (run testenv/build.sh)"
            )
        return self


def _build_script(*under: str) -> Path:
    return Path(__file__).resolve().parents[2].joinpath("testenv", *under, "build.sh")


def locate(env: dict[str, str] | None = None) -> Binaries:
    """The binaries named by $GITOPS_BOT_TESTENV_BIN, else build or reuse them."""
    env = dict(os.environ if env is None else env)
    if folder := env.get(ENV_VAR):
        return Binaries(Path(folder)).check()
    script = _build_script()
    if not script.is_file():
        raise TestEnvError(
            f"looking for the control-plane binaries: ${ENV_VAR} is not set and "
            f"{script} does not exist (this is not a source checkout); "
            "set it to the folder testenv/build.sh printed"
        )
    return Binaries(_built(script, "building the control plane")).check()


def _built(script: Path, doing: str, fix: str = "") -> Path:
    """The folder a build script printed last (it builds or reuses its cache)."""
    bash = shutil.which("bash")
    if bash is None:
        raise TestEnvError(f"{doing} with {script}: bash is not on PATH{fix}")
    try:
        done = subprocess.run(
            [bash, str(script)],
            check=True,
            stdout=subprocess.PIPE,
            text=True,
            timeout=_BUILD_TIMEOUT_S,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as err:
        raise TestEnvError(f"{doing} with {script}: {err}{fix}") from err
    return Path(done.stdout.strip().splitlines()[-1])


def registry(env: dict[str, str] | None = None) -> Path:
    """The OCI registry binary: in $GITOPS_BOT_REGISTRY_BIN, else built or reused by
    testenv/registry/build.sh (`make registry`)."""
    env = dict(os.environ if env is None else env)
    fix = "run `make registry` (testenv/registry/build.sh)"
    if folder := env.get(REGISTRY_ENV_VAR):
        found = Path(folder) / "registry"
    else:
        script = _build_script("registry")
        if not script.is_file():
            raise TestEnvError(
                f"looking for the OCI registry: ${REGISTRY_ENV_VAR} is not set and "
                f"{script} cannot be run here; {fix} and set it to the folder printed"
            )
        found = _built(script, "building the OCI registry", f"; {fix}") / "registry"
    if not found.is_file():
        raise TestEnvError(f"looking for the OCI registry: {found} does not exist; {fix}")
    return found
