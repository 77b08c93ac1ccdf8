"""Faults on a control plane of the test's own: the API server restarted and
the puller killed, both in the middle of an apply."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from gitops_bot.cluster.kube import Kube
from gitops_bot.puller import status as status_mod
from gitops_bot.testing.binaries import Binaries
from gitops_bot.testing.cluster import LocalControlPlane
from tests.integration import pullerkit
from tests.integration.pullerkit import Remote

pytestmark = pytest.mark.cluster

COUNT = 400


def _count(cp: LocalControlPlane, namespace: str, value: str) -> int:
    code, body = cp.request("GET", f"/api/v1/namespaces/{namespace}/configmaps")
    if code != 200:
        return -1
    return sum(1 for i in body["items"] if (i.get("data") or {}).get("v") == value)


def _status(kube: Kube, namespace: str) -> dict[str, str]:
    obj = kube.get("v1", "ConfigMap", status_mod.name_for("dev"), namespace=namespace)
    return obj["data"] if obj else {}


def _setup(cp: LocalControlPlane, tmp_path: Path) -> tuple[Kube, str, Remote, str]:
    kube = Kube.from_kubeconfig(str(cp.kubeconfig))
    namespace = "shop"
    kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    remote = Remote(tmp_path / "git")
    remote.commit({".gitops.yaml": pullerkit.config(namespace), **pullerkit.configmaps("dev", 2)})
    tip = remote.commit(pullerkit.configmaps("dev", COUNT, value="2"), "many")
    remote.push()
    return kube, namespace, remote, tip


def _wait_mid_apply(cp: LocalControlPlane, namespace: str) -> int:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        n = _count(cp, namespace, "2")
        if n > 0:
            return n
        time.sleep(0.005)
    raise AssertionError("the apply never started")


def test_the_api_server_restarted_mid_apply(
    own_control_plane: LocalControlPlane, binaries: Binaries, tmp_path: Path
) -> None:
    cp = own_control_plane
    kube, namespace, remote, tip = _setup(cp, tmp_path)
    puller = pullerkit.make(
        kube, remote, namespace=namespace, cache=tmp_path / "c", binaries=binaries, retry_s=0.5
    )
    stop = threading.Event()
    loop = threading.Thread(target=puller.run, args=(stop,), daemon=True)
    loop.start()
    try:
        seen = _wait_mid_apply(cp, namespace)
        cp.restart("kube-apiserver")
        assert seen < COUNT, "the restart came after the apply: the test proves nothing"
        pullerkit.eventually(lambda: _status(kube, namespace).get("commit") == tip, timeout=120)
    finally:
        stop.set()
        loop.join(60)
    assert _count(cp, namespace, "2") == COUNT
    assert _count(cp, namespace, "1") == 0
    status = _status(kube, namespace)
    assert status["outcome"] == "applied"


def test_the_puller_killed_mid_apply_and_started_again(
    own_control_plane: LocalControlPlane, binaries: Binaries, tmp_path: Path
) -> None:
    cp = own_control_plane
    kube, namespace, remote, tip = _setup(cp, tmp_path)

    def start(name: str) -> subprocess.Popen[bytes]:
        argv = [
            sys.executable,
            "-c",
            "from gitops_bot.cli.puller import puller; puller(prog_name='gitops-bot puller')",
            "--repo-url",
            remote.url,
            "--env",
            "dev",
            "--namespace",
            namespace,
            "--kubeconfig",
            str(cp.kubeconfig),
            "--listen",
            "127.0.0.1:0",
            "--interval",
            "0.5",
            "--retry",
            "0.5",
            "--no-wait",
            "--lease-duration",
            "3",
            "--identity",
            name,
            "--cache-dir",
            str(tmp_path / name),
            "--helm",
            binaries.path("helm"),
            "--kustomize",
            binaries.path("kustomize"),
        ]
        with (tmp_path / f"{name}.log").open("wb") as log:
            return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=log)

    first = start("first")
    try:
        seen = _wait_mid_apply(cp, namespace)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        at_kill = _count(cp, namespace, "2")
        assert seen < COUNT, "killed after the apply: the test proves nothing"
        assert at_kill < COUNT, "killed after the apply: the test proves nothing"
        status = _status(kube, namespace)
        assert status.get("attempted") == tip
        assert status.get("commit") != tip
    finally:
        if first.poll() is None:
            first.kill()
    second = start("second")
    try:
        pullerkit.eventually(lambda: _status(kube, namespace).get("commit") == tip, timeout=120)
        second.send_signal(signal.SIGTERM)
        assert second.wait(30) == 0, (tmp_path / "second.log").read_text()[-2000:]
    finally:
        if second.poll() is None:
            second.kill()
    assert _count(cp, namespace, "2") == COUNT
    lease = kube.get(
        "coordination.k8s.io/v1", "Lease", "gitops-bot-puller-dev", namespace=namespace
    )
    assert lease is not None
    assert lease["spec"]["holderIdentity"] == "", "given up on SIGTERM"
    member = "gitops-bot-puller.member.second"
    assert kube.get("coordination.k8s.io/v1", "Lease", member, namespace=namespace) is None
