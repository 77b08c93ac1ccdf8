"""cluster.kubeconfig reads what the `kubernetes` package's loader read, without importing it
for static kubeconfigs; an exec plugin still goes through that loader (a real plugin: a
Python script printing an ExecCredential)."""

from __future__ import annotations

import base64
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml

from gitops_bot.cluster.kubeconfig import load
from gitops_bot.errors import ClusterError


def _write(path: Path, *, users: list[dict[str, Any]], current: str | None = "one") -> Path:
    doc: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": "http://127.0.0.1:1/"}}],
        "users": users,
        "contexts": [
            {"name": u["name"], "context": {"cluster": "c", "user": u["name"]}} for u in users
        ],
    }
    if current:
        doc["current-context"] = current
    path.write_text(yaml.safe_dump(doc))
    return path


def test_a_token_file_is_read_relative_to_the_kubeconfig(tmp_path: Path) -> None:
    (tmp_path / "sa").mkdir()
    (tmp_path / "sa" / "token").write_text("from-the-file")
    path = _write(tmp_path / "config", users=[{"name": "one", "user": {"tokenFile": "sa/token"}}])
    connection = load(str(path))
    assert connection.server == "http://127.0.0.1:1"
    assert connection.authorization() == "Bearer from-the-file"
    assert connection.ssl_context is None


def test_a_rotated_token_file_is_read_again_after_a_minute(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pod's projected ServiceAccount token is rotated by the kubelet (about
    hourly); client-go re-reads tokenFile every minute, so a long-lived puller
    must too, and keep the last token when the file is briefly unreadable."""
    now = [1000.0]
    monkeypatch.setattr("gitops_bot.cluster.kubeconfig.time.monotonic", lambda: now[0])
    token = tmp_path / "token"
    token.write_text("first\n")
    path = _write(tmp_path / "config", users=[{"name": "one", "user": {"tokenFile": str(token)}}])
    connection = load(str(path))
    assert connection.authorization() == "Bearer first"
    token.write_text("second\n")
    now[0] += 30
    assert connection.authorization() == "Bearer first"  # cached within the minute
    now[0] += 31
    assert connection.authorization() == "Bearer second"
    token.unlink()  # the kubelet swaps the file: a moment without it
    now[0] += 61
    assert connection.authorization() == "Bearer second"


def test_the_token_wins_over_the_token_file_and_a_password(tmp_path: Path) -> None:
    user = {"token": "inline", "tokenFile": "missing", "username": "u", "password": "p"}
    path = _write(tmp_path / "config", users=[{"name": "one", "user": user}])
    assert load(str(path)).authorization() == "Bearer inline"


def test_username_and_password_are_basic_auth(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "config", users=[{"name": "one", "user": {"username": "u", "password": "p"}}]
    )
    assert load(str(path)).authorization() == "Basic " + base64.b64encode(b"u:p").decode()


def test_files_merge_first_name_wins_and_the_context_is_chosen(tmp_path: Path) -> None:
    first = _write(tmp_path / "a", users=[{"name": "one", "user": {"token": "a"}}], current=None)
    second = _write(
        tmp_path / "b",
        users=[{"name": "one", "user": {"token": "b"}}, {"name": "two", "user": {"token": "t"}}],
        current="one",
    )
    both = f"{first}:{second}"
    assert load(both).authorization() == "Bearer a"
    assert load(both, context="two").authorization() == "Bearer t"


@pytest.mark.parametrize(
    ("context", "current", "message"),
    [
        ("nope", "one", "context 'nope' is not in the kubeconfig"),
        (None, None, "no context given and no current-context set"),
    ],
)
def test_a_missing_context_is_an_error(
    tmp_path: Path, context: str | None, current: str | None, message: str
) -> None:
    path = _write(tmp_path / "config", users=[{"name": "one", "user": {}}], current=current)
    with pytest.raises(ClusterError, match=message):
        load(str(path), context=context)


def test_no_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ClusterError, match="no kubeconfig file"):
        load(str(tmp_path / "absent"))


def test_a_static_kubeconfig_does_not_import_the_kubernetes_package(tmp_path: Path) -> None:
    path = _write(tmp_path / "config", users=[{"name": "one", "user": {"token": "x"}}])
    code = textwrap.dedent(f"""
        import sys
        from gitops_bot.cluster.kube import Kube
        kube = Kube.from_kubeconfig({str(path)!r})
        print(sorted(m for m in sys.modules if m.split(".")[0] == "kubernetes"))
    """)
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    assert out.strip() == "[]"


def test_an_exec_plugin_goes_through_the_kubernetes_loader(tmp_path: Path) -> None:
    plugin = tmp_path / "plugin.py"
    plugin.write_text(
        "import json\n"
        "print(json.dumps({'apiVersion': 'client.authentication.k8s.io/v1', "
        "'kind': 'ExecCredential', 'status': {'token': 'from-the-plugin'}}))\n"
    )
    exec_ = {
        "apiVersion": "client.authentication.k8s.io/v1",
        "command": sys.executable,
        "args": [str(plugin)],
        "interactiveMode": "Never",
    }
    path = _write(tmp_path / "config", users=[{"name": "one", "user": {"exec": exec_}}])
    connection = load(str(path))
    assert connection.server == "http://127.0.0.1:1"
    assert connection.authorization() == "Bearer from-the-plugin"
