"""Flux's source-controller and kustomize-controller against the local control plane.

Owns: finding the binaries and CRDs testenv/flux/build.sh builds and copies
(running it from a source checkout when $GITOPS_BOT_FLUX_BIN is not set: it
returns at once when its cache is warm); installing those CRDs; starting the
two controllers as local processes with the control plane's (admin)
kubeconfig, leader election off, and their metrics, health and artifact
storage on free 127.0.0.1 ports; the Flux objects the bench and the smoke
test create (GitRepository, Kustomization); asking for a reconcile the way
`flux reconcile` does (the reconcile.fluxcd.io/requestedAt annotation); the
controllers' /metrics text and PIDs; stopping them (SIGTERM, then SIGKILL;
SIGKILL as well if the Python process dies).
Refuses: notification-controller (no Receiver: the annotation triggers a
sync), RBAC of their own (the kubeconfig is admin) and downloading anything.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml

from gitops_bot.testing.binaries import TestEnvError
from gitops_bot.testing.cluster import Component, LocalControlPlane, free_port, wait_for

ENV_VAR = "GITOPS_BOT_FLUX_BIN"
CONTROLLERS = ("source-controller", "kustomize-controller")
SOURCE_API = "source.toolkit.fluxcd.io/v1"
KUSTOMIZE_API = "kustomize.toolkit.fluxcd.io/v1"
REQUESTED_AT = "reconcile.fluxcd.io/requestedAt"
_CRD_API = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
_BUILD_TIMEOUT_S = 3600
_POLL_S = 0.1


def locate(env: Mapping[str, str] | None = None) -> Path:
    """The folder with source-controller and kustomize-controller (CRDs in ../crds):
    $GITOPS_BOT_FLUX_BIN, else what testenv/flux/build.sh (`make flux`) prints."""
    env = os.environ if env is None else env
    if folder := env.get(ENV_VAR):
        found = Path(folder)
    else:
        script = Path(__file__).resolve().parents[2] / "testenv" / "flux" / "build.sh"
        bash = shutil.which("bash")
        if not script.is_file() or bash is None:
            raise TestEnvError(
                f"looking for Flux's controllers: ${ENV_VAR} is not set and {script} cannot "
                "be run here; run `make flux` and set it to the folder printed"
            )
        try:
            done = subprocess.run(
                [bash, str(script)],
                check=True,
                stdout=subprocess.PIPE,
                text=True,
                timeout=_BUILD_TIMEOUT_S,
            )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as err:
            raise TestEnvError(f"building Flux's controllers with {script}: {err}") from err
        found = Path(done.stdout.strip().splitlines()[-1])
    missing = [n for n in CONTROLLERS if not (found / n).is_file()]
    if not list((found.parent / "crds").glob("*.yaml")):
        missing.append("../crds/*.yaml")
    if missing:
        raise TestEnvError(
            f"looking for Flux's controllers in {found}: missing {', '.join(missing)} "
            "(run testenv/flux/build.sh)"
        )
    return found


class LocalFlux:
    """Flux's two controllers on one control plane. A context manager, or start()/stop()."""

    def __init__(
        self,
        cp: LocalControlPlane,
        folder: Path,
        *,
        workdir: Path | None = None,
        extra_args: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        """`extra_args` adds flags per controller (the bench's --concurrent ...)."""
        self.cp = cp
        self.folder = folder
        self.crds = folder.parent / "crds"
        self._own_workdir = workdir is None
        self.workdir = (
            Path(tempfile.mkdtemp(prefix="gitops-bot-flux-")) if workdir is None else workdir
        )
        self.workdir.mkdir(parents=True, exist_ok=True)
        unknown = set(extra_args or {}) - set(CONTROLLERS)
        if unknown:
            raise TestEnvError(f"extra_args names no Flux controller: {', '.join(sorted(unknown))}")
        self.metrics_ports = {n: free_port() for n in CONTROLLERS}
        self.health_ports = {n: free_port() for n in CONTROLLERS}
        storage = free_port()
        (self.workdir / "storage").mkdir(exist_ok=True)  # source-controller refuses a missing one
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "KUBECONFIG": str(cp.kubeconfig)}
        specific = {
            "source-controller": [
                f"--storage-path={self.workdir / 'storage'}",
                f"--storage-addr=127.0.0.1:{storage}",
                f"--storage-adv-addr=127.0.0.1:{storage}",
            ],
            "kustomize-controller": [],
        }
        self._processes = {
            name: Component(
                name=name,
                argv=[
                    str(folder / name),
                    f"--metrics-addr=127.0.0.1:{self.metrics_ports[name]}",
                    f"--health-addr=127.0.0.1:{self.health_ports[name]}",
                    "--enable-leader-election=false",
                    "--log-level=info",
                    *specific[name],
                    *(extra_args or {}).get(name, ()),
                ],
                env=env,
                log=self.workdir / f"{name}.log",
            )
            for name in CONTROLLERS
        }

    def __enter__(self) -> LocalFlux:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self, *, timeout: float = 120.0) -> None:
        """Install the CRDs, start both controllers, wait until both are ready."""
        deadline = time.monotonic() + timeout
        try:
            names = self.install_crds()
            for name in names:
                self._wait(
                    f"CRD {name} to be Established", deadline, lambda n=name: self._established(n)
                )
            for proc in self._processes.values():
                proc.start()
            for name in CONTROLLERS:
                self._wait(f"{name} to be ready", deadline, lambda n=name: self._ready(n))
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        for proc in reversed(self._processes.values()):
            proc.stop()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def processes(self) -> dict[str, int]:
        """PIDs of the running controllers."""
        return {
            n: p.process.pid
            for n, p in self._processes.items()
            if p.process is not None and p.process.poll() is None
        }

    def log(self, name: str, lines: int = 20) -> str:
        return self._processes[name].tail(lines)

    def metrics(self, name: str) -> str:
        """A controller's Prometheus text (rest_client_requests_total ...)."""
        url = f"http://127.0.0.1:{self.metrics_ports[name]}/metrics"
        with urllib.request.urlopen(url, timeout=10) as resp:
            return str(resp.read().decode())

    def install_crds(self) -> list[str]:
        """Create (or replace) every CRD the build copied; their names."""
        names = []
        for path in sorted(self.crds.glob("*.yaml")):
            crd = yaml.safe_load(path.read_text())
            name = crd["metadata"]["name"]
            status, body = self.cp.request("POST", _CRD_API, crd)
            if status == 409:
                status, live = self.cp.request("GET", f"{_CRD_API}/{name}")
                crd["metadata"]["resourceVersion"] = live["metadata"]["resourceVersion"]
                status, body = self.cp.request("PUT", f"{_CRD_API}/{name}", crd)
            if status not in (200, 201):
                raise TestEnvError(f"installing Flux's CRD {name}: HTTP {status}: {body}")
            names.append(name)
        return names

    def _established(self, name: str) -> bool:
        status, crd = self.cp.request("GET", f"{_CRD_API}/{name}")
        conditions = (crd or {}).get("status", {}).get("conditions") or [] if status == 200 else []
        return any(c["type"] == "Established" and c["status"] == "True" for c in conditions)

    def _ready(self, name: str) -> bool:
        url = f"http://127.0.0.1:{self.health_ports[name]}/readyz"
        with urllib.request.urlopen(url, timeout=2) as resp:
            return bool(resp.status == 200)

    def _wait(self, what: str, deadline: float, ready: Any) -> None:
        wait_for(what, deadline, ready, self._processes.values(), poll_s=_POLL_S)


# -- Flux objects ------------------------------------------------------------


def git_repository(
    name: str, namespace: str, url: str, *, branch: str = "main", interval: str = "10m"
) -> dict[str, Any]:
    return {
        "apiVersion": SOURCE_API,
        "kind": "GitRepository",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"url": url, "ref": {"branch": branch}, "interval": interval},
    }


def kustomization(
    name: str,
    namespace: str,
    *,
    source: str,
    path: str,
    target_namespace: str,
    interval: str = "10m",
    prune: bool = True,
) -> dict[str, Any]:
    return {
        "apiVersion": KUSTOMIZE_API,
        "kind": "Kustomization",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "interval": interval,
            "sourceRef": {"kind": "GitRepository", "name": source},
            "path": path,
            "prune": prune,
            "targetNamespace": target_namespace,
        },
    }


def _path(api_version: str, kind: str, namespace: str, name: str = "") -> str:
    plural = {"GitRepository": "gitrepositories", "Kustomization": "kustomizations"}[kind]
    return f"/apis/{api_version}/namespaces/{namespace}/{plural}" + (f"/{name}" if name else "")


def create(cp: LocalControlPlane, obj: dict[str, Any]) -> None:
    meta = obj["metadata"]
    status, body = cp.request("POST", _path(obj["apiVersion"], obj["kind"], meta["namespace"]), obj)
    if status != 201:
        raise TestEnvError(f"creating {obj['kind']} {meta['name']}: HTTP {status}: {body}")


def get(cp: LocalControlPlane, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
    api = SOURCE_API if kind == "GitRepository" else KUSTOMIZE_API
    status, body = cp.request("GET", _path(api, kind, namespace, name))
    return body if status == 200 and isinstance(body, dict) else None


def ready(obj: dict[str, Any] | None) -> bool:
    """The object's Ready condition is True for its current generation."""
    if obj is None:
        return False
    status = obj.get("status") or {}
    if status.get("observedGeneration") != obj["metadata"].get("generation"):
        return False
    return any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in status.get("conditions") or []
    )


def request_reconcile(cp: LocalControlPlane, kind: str, namespace: str, name: str) -> str:
    """Annotate the object as `flux reconcile` does; the token, which the
    controller copies to status.lastHandledReconcileAt once it has handled it."""
    token = datetime.now(UTC).isoformat()
    api = SOURCE_API if kind == "GitRepository" else KUSTOMIZE_API
    for _ in range(10):  # read-modify-write; a 409 means the controller wrote in between
        obj = get(cp, kind, namespace, name)
        if obj is None:
            raise TestEnvError(f"requesting a reconcile of {kind} {namespace}/{name}: not found")
        obj["metadata"].setdefault("annotations", {})[REQUESTED_AT] = token
        status, body = cp.request("PUT", _path(api, kind, namespace, name), obj)
        if status == 200:
            return token
        if status != 409:
            raise TestEnvError(f"annotating {kind} {namespace}/{name}: HTTP {status}: {body}")
    raise TestEnvError(f"annotating {kind} {namespace}/{name}: conflicts kept coming")
