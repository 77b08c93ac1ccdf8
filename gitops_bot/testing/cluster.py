"""A real Kubernetes control plane on 127.0.0.1, for tests and the local demo.

Owns: starting etcd, kube-apiserver (TLS, client-certificate auth, RBAC),
kube-controller-manager, kube-scheduler and a kwok controller with one
simulated node, as separate processes of the upstream binaries; writing a
kubeconfig; waiting until the cluster can run a Deployment; stopping every
process it started (also if the Python process dies: the children get
SIGKILL through PR_SET_PDEATHSIG); restarting or killing one component for
fault tests; an audit log of the write requests (create, update, patch,
delete, deletecollection) at level Metadata, and reading it back.
Refuses: reusing state across instances (every instance has its own folder,
ports and CA) and mocking anything.
"""

from __future__ import annotations

import contextlib
import ctypes
import http.client
import json
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml

from gitops_bot.testing import binaries as binaries_mod
from gitops_bot.testing import pki
from gitops_bot.testing.binaries import Binaries, TestEnvError

NODE_NAME = "kwok-node-0"
_KWOK_NODE_ANNOTATION = "kwok.x-k8s.io/node"
_STOP_GRACE_S = 10.0
_POLL_S = 0.05
_PR_SET_PDEATHSIG = 1
_NODE_LEASE_S = 40  # the kubelet's default nodeLeaseDurationSeconds

# Who wrote what (tests prove a client sent no write without dryRun): the write
# verbs at Metadata (user, user agent, verb, requestURI, response code), once
# a request is complete; nothing else, so reads and watches cost nothing.
WRITE_VERBS = ("create", "update", "patch", "delete", "deletecollection")
_AUDIT_POLICY: dict[str, Any] = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    "omitStages": ["RequestReceived", "ResponseStarted"],
    "rules": [{"level": "Metadata", "verbs": list(WRITE_VERBS)}, {"level": "None"}],
}

# kwok's own pod stages make a pod Ready only on its way from Pending. A
# kubelet also makes a Running pod Ready again once its node is back after
# the node controller marked it NotReady (a kwok restart, a stalled
# heartbeat); this stage does the same, so a Deployment becomes available
# again instead of staying unavailable for good.
_POD_READY_AGAIN_STAGE = """\
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: gitops-bot-pod-ready-again
spec:
  resourceRef:
    apiGroup: v1
    kind: Pod
  selector:
    matchExpressions:
    - key: '.metadata.deletionTimestamp'
      operator: 'DoesNotExist'
    - key: '.status.phase'
      operator: 'In'
      values:
      - 'Running'
    - key: '.status.conditions.[] | select( .type == "Ready" ) | .status'
      operator: 'NotIn'
      values:
      - 'True'
  next:
    statusTemplate: |
      {{ $now := Now }}
      conditions:
      - lastTransitionTime: {{ $now | Quote }}
        status: "True"
        type: Initialized
      - lastTransitionTime: {{ $now | Quote }}
        status: "True"
        type: PodScheduled
      - lastTransitionTime: {{ $now | Quote }}
        status: "True"
        type: Ready
      - lastTransitionTime: {{ $now | Quote }}
        status: "True"
        type: ContainersReady
      {{ range .spec.readinessGates }}
      - lastTransitionTime: {{ $now | Quote }}
        status: "True"
        type: {{ .conditionType | Quote }}
      {{ end }}
      containerStatuses:
      {{ range .spec.containers }}
      - image: {{ .image | Quote }}
        name: {{ .name | Quote }}
        ready: true
        restartCount: 0
        started: true
        state:
          running:
            startedAt: {{ $now | Quote }}
      {{ end }}
"""


def _die_with_parent() -> None:  # runs in the child between fork and exec
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Component:
    """One local process of a test environment (a control plane's, Flux's), its
    output in `log`, killed with this process (PR_SET_PDEATHSIG)."""

    name: str
    argv: list[str]
    log: Path
    process: subprocess.Popen[bytes] | None = None
    env: Mapping[str, str] | None = None  # None: this process's environment

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=self.env,
                start_new_session=True,
                preexec_fn=_die_with_parent,  # noqa: PLW1509 - no threads in between
            )

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> None:
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(sig)
        try:
            proc.wait(timeout=_STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def tail(self, lines: int = 25) -> str:
        try:
            text = self.log.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return "\n".join(text[-lines:])


def wait_for(
    what: str,
    deadline: float,
    ready: Callable[[], bool],
    components: Iterable[Component],
    *,
    poll_s: float = _POLL_S,
) -> None:
    """Poll `ready` until it says yes; TestEnvError, with the last lines of each
    component's log, when one of them exits or the deadline passes. A connection
    error (OSError, an HTTP-level one) counts as not ready yet."""
    components = list(components)
    while True:
        for component in components:
            if component.process is not None and not component.running():
                raise TestEnvError(
                    f"waiting for {what}: {component.name} exited with code "
                    f"{component.process.returncode}; last lines of {component.log}:\n"
                    f"{component.tail()}"
                )
        with contextlib.suppress(OSError, http.client.HTTPException):
            if ready():
                return
        if time.monotonic() > deadline:
            logs = "\n".join(f"--- {c.name} ({c.log}):\n{c.tail(10)}" for c in components)
            raise TestEnvError(f"waiting for {what}: timed out\n{logs}")
        time.sleep(poll_s)


def read_audit_log(path: Path) -> list[dict[str, Any]]:
    """The events of the audit log at `path`, oldest first, its rotated files
    included. The API server rotates its log at 100 MB (lumberjack's default,
    --audit-log-maxsize unset) into `audit-<timestamp>.log` beside it, whose
    names sort in time; a run of 10,000 objects with every request audited
    fills that in minutes, and reading the current file alone lost a window's
    events. A line being written (no newline yet) is left for the next read."""
    while True:
        rotated = sorted(path.parent.glob(f"{path.stem}-*{path.suffix}"))
        events: list[dict[str, Any]] = []
        for file in [*rotated, path]:
            with contextlib.suppress(FileNotFoundError):
                lines = file.read_text(errors="replace").splitlines(keepends=True)
                events += [json.loads(line) for line in lines if line.endswith("\n")]
        if sorted(path.parent.glob(f"{path.stem}-*{path.suffix}")) == rotated:
            return events  # no rotation while reading: nothing lost, nothing twice


class LocalControlPlane:
    """One control plane. Use as a context manager, or call start() and stop()."""

    def __init__(
        self,
        binaries: Binaries,
        *,
        workdir: Path | None = None,
        extra_args: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        """`extra_args` adds flags per component (tests that shorten a timer)."""
        self.binaries = binaries
        self._extra_args = dict(extra_args or {})
        self._own_workdir = workdir is None
        self.workdir = (
            Path(tempfile.mkdtemp(prefix="gitops-bot-cp-")) if workdir is None else workdir
        )
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.server = f"https://127.0.0.1:{self.port}"
        self.kubeconfig = self.workdir / "kubeconfig"
        self.audit_log = self.workdir / "logs" / "audit.log"
        self._pki = pki.create(self.workdir / "pki")
        self._components = self._plan()
        self._ssl = ssl.create_default_context(cafile=str(self._pki.ca_cert))
        self._ssl.load_cert_chain(str(self._pki.admin_cert), str(self._pki.admin_key))
        self._write_kubeconfig()

    # -- lifecycle ---------------------------------------------------------

    def __enter__(self) -> LocalControlPlane:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self, *, timeout: float = 90.0) -> None:
        """Start every component and wait until a Deployment could roll out."""
        deadline = time.monotonic() + timeout
        try:
            self._components["etcd"].start()
            self._components["kube-apiserver"].start()
            self._wait("the API server to be ready", deadline, self._apiserver_ready)
            for name in ("kube-controller-manager", "kube-scheduler", "kwok"):
                self._components[name].start()
            self._create_node()
            self._wait(f"node {NODE_NAME} to be Ready", deadline, self._node_ready)
            self._wait("the default ServiceAccount", deadline, self._default_sa_exists)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop every component, newest first; remove the folder if we made it."""
        for component in reversed(self._components.values()):
            component.stop()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def processes(self) -> dict[str, int]:
        """PIDs of the running components (for tests that check nothing is left)."""
        return {
            name: c.process.pid
            for name, c in self._components.items()
            if c.process is not None and c.running()
        }

    def kill(self, name: str) -> None:
        """SIGKILL one component, as a crash would."""
        self._component(name).stop(signal.SIGKILL)

    def restart(self, name: str, *, timeout: float = 60.0) -> None:
        """Stop one component gracefully and start it again."""
        component = self._component(name)
        component.stop()
        component.start()
        if name == "kube-apiserver":
            self._wait(
                "the API server to be ready again",
                time.monotonic() + timeout,
                self._apiserver_ready,
            )

    def env(self) -> dict[str, str]:
        """Variables that point kubectl, helm and the bot at this cluster."""
        env = {
            "KUBECONFIG": str(self.kubeconfig),
            binaries_mod.ENV_VAR: str(self.binaries.folder),
        }
        if self.binaries.k8s_folder is not None:
            env[binaries_mod.K8S_BIN_ENV_VAR] = str(self.binaries.k8s_folder)
        return env

    def version(self) -> str:
        """The API server's gitVersion (v1.35.4), as /version reports it."""
        status, body = self.request("GET", "/version")
        if status != 200 or not isinstance(body, dict):
            raise TestEnvError(f"GET /version: HTTP {status}: {body}")
        return str(body["gitVersion"])

    # -- raw API access (no client library: the harness stays independent) ---

    def request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=self._ssl, timeout=10)
        try:
            payload = None if body is None else json.dumps(body)
            headers = {"Content-Type": "application/json", "Accept": "application/json"}
            conn.request(method, path, body=payload, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
        finally:
            conn.close()
        try:
            return resp.status, json.loads(data) if data else None
        except json.JSONDecodeError:
            return resp.status, data.decode(errors="replace")

    def audit_events(self, user_agent_prefix: str | None = None) -> list[dict[str, Any]]:
        """The audit log's events so far (write requests only; see _AUDIT_POLICY),
        oldest first, those whose userAgent starts with `user_agent_prefix` if given.

        The API server writes an event once the response is sent, so a request
        just answered may not be there yet: callers poll (tests.waiting).
        A line being written (no newline yet) is left for the next read.
        """
        events = read_audit_log(self.audit_log)
        if user_agent_prefix is None:
            return events
        return [e for e in events if str(e.get("userAgent", "")).startswith(user_agent_prefix)]

    # -- internals -----------------------------------------------------------

    def _component(self, name: str) -> Component:
        try:
            return self._components[name]
        except KeyError:
            raise TestEnvError(
                f"no control-plane component {name!r}; have {', '.join(self._components)}"
            ) from None

    def _plan(self) -> dict[str, Component]:
        b, p, w = self.binaries, self._pki, self.workdir
        logs = w / "logs"
        logs.mkdir(exist_ok=True)
        etcd_client = f"http://127.0.0.1:{free_port()}"
        etcd_peer = f"http://127.0.0.1:{free_port()}"
        audit_policy = w / "audit-policy.yaml"
        audit_policy.write_text(yaml.safe_dump(_AUDIT_POLICY, sort_keys=False))
        scheduler_config = w / "scheduler.yaml"
        scheduler_config.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "kubescheduler.config.k8s.io/v1",
                    "kind": "KubeSchedulerConfiguration",
                    "clientConnection": {"kubeconfig": str(self.kubeconfig)},
                    "leaderElection": {"leaderElect": False},
                }
            )
        )
        argv = {
            "etcd": [
                b.path("etcd"),
                "--name=testenv",
                f"--data-dir={w / 'etcd'}",
                f"--listen-client-urls={etcd_client}",
                f"--advertise-client-urls={etcd_client}",
                f"--listen-peer-urls={etcd_peer}",
                f"--initial-advertise-peer-urls={etcd_peer}",
                f"--initial-cluster=testenv={etcd_peer}",
                # A test cluster trades durability for speed.
                "--unsafe-no-fsync",
                "--log-level=warn",
            ],
            "kube-apiserver": [
                b.path("kube-apiserver"),
                f"--etcd-servers={etcd_client}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={self.port}",
                f"--tls-cert-file={p.server_cert}",
                f"--tls-private-key-file={p.server_key}",
                f"--client-ca-file={p.ca_cert}",
                f"--service-account-key-file={p.sa_pub}",
                f"--service-account-signing-key-file={p.sa_key}",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-cluster-ip-range={pki.SERVICE_CLUSTER_IP_RANGE}",
                "--authorization-mode=RBAC",
                "--allow-privileged=true",
                f"--cert-dir={w / 'apiserver-certs'}",
                "--profiling=false",
                f"--audit-policy-file={audit_policy}",
                f"--audit-log-path={self.audit_log}",
                "--audit-log-format=json",
            ],
            "kube-controller-manager": [
                b.path("kube-controller-manager"),
                f"--kubeconfig={self.kubeconfig}",
                "--leader-elect=false",
                "--secure-port=0",
                f"--service-account-private-key-file={p.sa_key}",
                f"--root-ca-file={p.ca_cert}",
                "--concurrent-deployment-syncs=10",
                "--concurrent-replicaset-syncs=10",
                "--concurrent-gc-syncs=20",
            ],
            "kube-scheduler": [
                b.path("kube-scheduler"),
                f"--config={scheduler_config}",
                "--secure-port=0",
            ],
            "kwok": [
                b.path("kwok"),
                f"--kubeconfig={self.kubeconfig}",
                f"--config={b.kwok_stages}",
                f"--config={self._write_harness_stages()}",
                f"--manage-nodes-with-annotation-selector={_KWOK_NODE_ANNOTATION}=fake",
                "--node-ip=127.0.0.1",
                f"--server-address=127.0.0.1:{free_port()}",
                # The node's heartbeat, as a kubelet sends it: without a Lease
                # renewed within the node controller's grace period (50 s), the
                # node is marked NotReady, its pods Ready=False and, after 300 s,
                # evicted. kwok's "fast" stages only heartbeat the node's status
                # every ten minutes, counting on this Lease in between.
                f"--node-lease-duration-seconds={_NODE_LEASE_S}",
            ],
        }
        unknown = set(self._extra_args) - set(argv)
        if unknown:
            raise TestEnvError(
                f"extra_args names no control-plane component: {', '.join(sorted(unknown))}"
            )
        return {
            name: Component(
                name=name, argv=[*args, *self._extra_args.get(name, ())], log=logs / f"{name}.log"
            )
            for name, args in argv.items()
        }

    def _write_harness_stages(self) -> Path:
        path = self.workdir / "kwok-harness-stages.yaml"
        path.write_text(_POD_READY_AGAIN_STAGE)
        return path

    def _write_kubeconfig(self) -> None:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "testenv",
                    "cluster": {
                        "server": self.server,
                        "certificate-authority": str(self._pki.ca_cert),
                    },
                }
            ],
            "users": [
                {
                    "name": "testenv-admin",
                    "user": {
                        "client-certificate": str(self._pki.admin_cert),
                        "client-key": str(self._pki.admin_key),
                    },
                }
            ],
            "contexts": [
                {"name": "testenv", "context": {"cluster": "testenv", "user": "testenv-admin"}}
            ],
            "current-context": "testenv",
        }
        self.kubeconfig.write_text(yaml.safe_dump(config, sort_keys=False))
        self.kubeconfig.chmod(0o600)

    def _wait(self, what: str, deadline: float, ready: Any) -> None:
        wait_for(what, deadline, ready, self._components.values())

    def _apiserver_ready(self) -> bool:
        status, _ = self.request("GET", "/readyz")
        return status == 200

    def _create_node(self) -> None:
        resources = {"cpu": "64", "memory": "256Gi", "pods": "2000"}
        node = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": NODE_NAME,
                "annotations": {_KWOK_NODE_ANNOTATION: "fake"},
                "labels": {
                    "kubernetes.io/hostname": NODE_NAME,
                    "kubernetes.io/os": "linux",
                    "kubernetes.io/arch": "amd64",
                    "type": "kwok",
                },
            },
            "status": {"capacity": resources, "allocatable": resources},
        }
        status, body = self.request("POST", "/api/v1/nodes", node)
        if status not in (201, 409):
            raise TestEnvError(f"creating node {NODE_NAME}: HTTP {status}: {body}")

    def _node_ready(self) -> bool:
        status, node = self.request("GET", f"/api/v1/nodes/{NODE_NAME}")
        if status != 200:
            return False
        conditions = node.get("status", {}).get("conditions") or []
        return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)

    def _default_sa_exists(self) -> bool:
        status, _ = self.request("GET", "/api/v1/namespaces/default/serviceaccounts/default")
        return status == 200


@contextlib.contextmanager
def running(binaries: Binaries, *, workdir: Path | None = None) -> Iterator[LocalControlPlane]:
    with LocalControlPlane(binaries, workdir=workdir) as cp:
        yield cp
