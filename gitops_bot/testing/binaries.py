"""Where the control-plane binaries are.

Owns: finding the folder that testenv/build.sh fills (etcd, kube-apiserver,
kube-controller-manager, kube-scheduler, kwok, kubectl, helm, kustomize, and
kwok's stage file beside it), the older Kubernetes versions testenv/k8s/build.sh
fills (kube-apiserver, kube-controller-manager and kube-scheduler of 1.35 or
1.34, used instead of the newest when $GITOPS_BOT_K8S_VERSION or
$GITOPS_BOT_K8S_BIN says so), and the OCI registry testenv/registry/build.sh
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
# The Kubernetes version under test, when not the newest: a minor version that
# testenv/k8s/<minor>/ pins ("1.35"), or the folder its build printed.
K8S_VERSION_ENV_VAR = "GITOPS_BOT_K8S_VERSION"
K8S_BIN_ENV_VAR = "GITOPS_BOT_K8S_BIN"
# What a Kubernetes version changes; etcd, kwok, kubectl, helm and kustomize
# stay the newest (see testenv/k8s/build.sh for why that holds).
VERSIONED = ("kube-apiserver", "kube-controller-manager", "kube-scheduler")
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
    # Where the VERSIONED binaries come from instead, for another Kubernetes version.
    k8s_folder: Path | None = None

    def path(self, name: str) -> str:
        if self.k8s_folder is not None and name in VERSIONED:
            return str(self.k8s_folder / name)
        return str(self.folder / name)

    @property
    def kwok_stages(self) -> Path:
        return self.folder.parent / "kwok-stages.yaml"

    def check(self) -> Binaries:
        missing = [n for n in NAMES if not Path(self.path(n)).is_file()]
        if not self.kwok_stages.is_file():
            missing.append(str(self.kwok_stages.name))
        if missing:
            where = str(self.folder)
            if self.k8s_folder is not None:
                where += f" and {self.k8s_folder}"
            raise TestEnvError(
                f"looking for the control-plane binaries in {where}: "
                f"missing {', '.join(missing)} (run testenv/build.sh"
                + (", testenv/k8s/build.sh <minor>" if self.k8s_folder is not None else "")
                + ")"
            )
        return self


def _build_script(*under: str) -> Path:
    return Path(__file__).resolve().parents[2].joinpath("testenv", *under, "build.sh")


def locate(env: dict[str, str] | None = None) -> Binaries:
    """The binaries named by $GITOPS_BOT_TESTENV_BIN, else build or reuse them;
    with the Kubernetes version's own apiserver, controller manager and
    scheduler if $GITOPS_BOT_K8S_BIN or $GITOPS_BOT_K8S_VERSION names one."""
    env = dict(os.environ if env is None else env)
    k8s = _k8s_folder(env)
    if folder := env.get(ENV_VAR):
        return Binaries(Path(folder), k8s).check()
    script = _build_script()
    if not script.is_file():
        raise TestEnvError(
            f"looking for the control-plane binaries: ${ENV_VAR} is not set and "
            f"{script} does not exist (this is not a source checkout); "
            "set it to the folder testenv/build.sh printed"
        )
    return Binaries(_built(script, "building the control plane"), k8s).check()


def _k8s_folder(env: dict[str, str]) -> Path | None:
    """The older Kubernetes version's binaries, if the environment asks for one."""
    if folder := env.get(K8S_BIN_ENV_VAR):
        return Path(folder)
    minor = env.get(K8S_VERSION_ENV_VAR, "")
    if not minor:
        return None
    script = _build_script("k8s")
    pinned = sorted(p.parent.name for p in script.parent.glob("*/go.mod"))
    if minor not in pinned:
        raise TestEnvError(
            f"${K8S_VERSION_ENV_VAR}={minor}: testenv/k8s/ pins {', '.join(pinned) or 'nothing'}"
            f" (the newest is testenv/build.sh's; unset ${K8S_VERSION_ENV_VAR} for it), or set "
            f"${K8S_BIN_ENV_VAR} to a folder testenv/k8s/build.sh printed"
        )
    return _built(script, f"building Kubernetes {minor}", args=(minor,))


def _built(script: Path, doing: str, fix: str = "", *, args: tuple[str, ...] = ()) -> Path:
    """The folder a build script printed last (it builds or reuses its cache)."""
    bash = shutil.which("bash")
    if bash is None:
        raise TestEnvError(f"{doing} with {script}: bash is not on PATH{fix}")
    try:
        done = subprocess.run(
            [bash, str(script), *args],
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
