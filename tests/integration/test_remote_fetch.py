"""Remote references never leave the machine: render.remote against the real
kustomize, and `gitops-bot plan` where no network namespace can be made.

The fetches are observed, not guessed: a `git` and `ssh` planted first on
kustomize's PATH record being called, an HTTP proxy on 127.0.0.1 records
every request kustomize makes, and an SSH port on 127.0.0.1 records every
connection.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from gitops_bot.cli import cli
from gitops_bot.render import remote, sandbox
from gitops_bot.testing.binaries import Binaries
from tests.unit.test_remote import LOCAL_ROWS, REMOTE_ROWS

NAMESPACES = ["unshare", "--user", "--map-root-user", "--net"]
PLAN = [sys.executable, "-m", "gitops_bot", "plan", "--base", "main", "--head", "change"]
CM = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: local\n"
CANARY = """#!/bin/sh
echo "$(basename "$0") $*" >> {log}
exit 1
"""


class Recorder:
    """A TCP listener on 127.0.0.1 that counts connections and closes each at once."""

    def __init__(self, port: int = 0) -> None:
        self.socket = socket.create_server(("127.0.0.1", port))
        self.port = self.socket.getsockname()[1]
        self.connections = 0
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.socket.accept()
            except OSError:
                return
            self.connections += 1
            conn.close()

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.socket.shutdown(socket.SHUT_RDWR)  # wakes the accept()
        self.socket.close()
        self.thread.join(timeout=5)


@pytest.fixture
def proxy() -> Iterator[Recorder]:
    recorder = Recorder()
    yield recorder
    recorder.close()


def _kustomize_fetches(kustomize: str, reference: str, folder: Path, proxy: Recorder) -> bool:
    """Whether the real kustomize tries to fetch `reference` (git, ssh or HTTP)."""
    folder.mkdir(parents=True)
    canaries, log = folder / "bin", folder / "calls.log"
    canaries.mkdir()
    for name in ("git", "ssh"):
        (canaries / name).write_text(CANARY.format(log=log))
        (canaries / name).chmod(0o755)
    (folder / "app").mkdir()
    (folder / "app/kustomization.yaml").write_text(f"resources:\n- {json.dumps(reference)}\n")
    before = proxy.connections
    subprocess.run(
        [kustomize, "build", "./app"],
        cwd=folder,
        env={
            "PATH": f"{canaries}:{sandbox.SAFE_PATH}",
            "HOME": str(folder),
            "HTTP_PROXY": f"http://127.0.0.1:{proxy.port}",
            "HTTPS_PROXY": f"http://127.0.0.1:{proxy.port}",
        },
        capture_output=True,
        timeout=60,
        check=False,
    )
    return log.exists() or proxy.connections > before


def test_every_reference_real_kustomize_fetches_is_remote(
    binaries: Binaries, tmp_path: Path, proxy: Recorder
) -> None:
    """kustomize itself is the oracle: each row of the table, rendered by the real
    kustomize with recording canaries; whatever it tried to fetch, render.remote
    calls remote."""
    fetched = {
        reference
        for number, (reference, _) in enumerate(REMOTE_ROWS + LOCAL_ROWS)
        if _kustomize_fetches(binaries.path("kustomize"), reference, tmp_path / str(number), proxy)
    }
    assert "probe@127.0.0.1:org/repo//base" in fetched  # the canaries do see fetches
    assert {r for r in fetched if not remote.why(r)} == set()
    assert not fetched & {r for r, _ in LOCAL_ROWS}


# --- the whole bot, where no network namespace can be made ---------------------------

# Runs inside `unshare --user --map-root-user --net`: its own loopback, where it
# may listen on port 22, and user.max_user_namespaces=0, so the sandbox's
# `unshare --net` fails as it does under Docker's default seccomp profile.
INSIDE = """
import json, socket, subprocess, sys, threading
sys.path.insert(0, {tests!r})
from tests.integration.test_remote_fetch import Recorder

ssh = Recorder(22)
plan = subprocess.run({plan!r}, capture_output=True, text=True, env={env!r}, check=False)
bot = ssh.connections
control = subprocess.run({control!r}, capture_output=True, text=True, env={env!r}, timeout=120)
print(json.dumps({{"bot": bot, "control": ssh.connections - bot, "plan": plan.stdout,
                  "stderr": plan.stderr, "code": plan.returncode, "control_err": control.stderr}}))
"""


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        check=True,
        capture_output=True,
    )


def _repository(root: Path) -> Path:
    repo = root / "repo"
    files = {
        ".gitops.yaml": "version: 1\nenvironments:\n  app:\n    kustomize: app\n",
        "app/kustomization.yaml": "resources: [cm.yaml]\n",
        "app/cm.yaml": CM,
    }
    for name, text in files.items():
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text(text)
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "base")
    _git(repo, "checkout", "-q", "-b", "change")
    (repo / "app/kustomization.yaml").write_text(
        "resources:\n- cm.yaml\n- probe@127.0.0.1:org/repo//base\n"
    )
    _git(repo, "commit", "-qam", "a remote base, fetched over SSH")
    return repo


def _namespaces_work() -> bool:
    unshare, ip = shutil.which("unshare"), shutil.which("ip")
    if unshare is None or ip is None:
        return False
    probe = [unshare, "--user", "--map-root-user", "--net", "sh", "-c", "ip link set lo up"]
    return subprocess.run(probe, capture_output=True, check=False).returncode == 0


def _can_listen_on_22() -> bool:
    try:
        socket.create_server(("127.0.0.1", 22)).close()
    except OSError:
        return False
    return True


# Where the sandbox has no network namespace already (Docker's default seccomp),
# the script runs as it is; elsewhere it makes that situation in namespaces.
_ALREADY_WITHOUT = sandbox.network_isolation() is None and _can_listen_on_22()


@pytest.mark.skipif(
    not (_ALREADY_WITHOUT or _namespaces_work()),
    reason="needs user and network namespaces, or no namespace and port 22 free",
)
def test_without_a_network_namespace_no_render_reaches_the_network(
    binaries: Binaries, tmp_path: Path
) -> None:
    repo = _repository(tmp_path)
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "GITOPS_BOT_HELM": binaries.path("helm"),
        "GITOPS_BOT_KUSTOMIZE": binaries.path("kustomize"),
        "GIT_SSH_COMMAND": "ssh -o BatchMode=yes -o StrictHostKeyChecking=no",
    }
    plan = [*PLAN, "--repo", str(repo), "--format", "json"]
    control_dir = tmp_path / "control"
    (control_dir / "app").mkdir(parents=True)
    (control_dir / "app/kustomization.yaml").write_text(
        "resources:\n- probe@127.0.0.1:org/repo//base\n"
    )
    control = [binaries.path("kustomize"), "build", str(control_dir / "app")]
    script = INSIDE.format(
        tests=str(Path(__file__).resolve().parents[2]), plan=plan, control=control, env=env
    )
    inside = "ip link set lo up && echo 0 > /proc/sys/user/max_user_namespaces"
    inside += ' && exec "$0" "$@"'
    argv = [sys.executable, "-c", script]
    done = subprocess.run(
        argv if _ALREADY_WITHOUT else [*NAMESPACES, "sh", "-c", inside, *argv],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)

    # the control: kustomize itself, on this machine, connects to the SSH port
    assert seen["control"] >= 1, seen["control_err"]
    # the bot: refused the reference before kustomize ran, and said which isolation held
    assert seen["bot"] == 0
    document = json.loads(seen["plan"])
    assert document["sandbox"] == sandbox.NO_NETWORK_NAMESPACE
    [app] = document["environments"]
    # refused by the fetch step (render.gitbases), which fetches http(s) bases only
    assert (
        "resources entry probe@127.0.0.1:org/repo//base: a base over SSH or from a file is "
        "not fetched here" in app["error"]
    )


def test_plan_output_names_the_isolation_in_force(
    binaries: Binaries, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = _repository(tmp_path)
    (repo / "app/kustomization.yaml").write_text("resources: [cm.yaml]\n")
    (repo / "app/cm.yaml").write_text(CM + "data: {v: changed}\n")
    _git(repo, "commit", "-qam", "local again, and a change")
    monkeypatch.setenv("GITOPS_BOT_KUSTOMIZE", binaries.path("kustomize"))
    words = sandbox.isolation()
    for fmt, line in (
        ("text", f"sandbox: {words}\n"),
        ("markdown", f" · sandbox: {words}\n"),
        ("json", f'"sandbox": "{words}"'),
    ):
        done = CliRunner().invoke(cli, [*PLAN[3:], "--repo", str(repo), "--format", fmt])
        assert line in done.output, (fmt, done.output)
