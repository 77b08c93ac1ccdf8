"""A git server on 127.0.0.1 for the tests: `git http-backend` (git's own smart
HTTP server, protocol v2 included) behind a threaded HTTP server that records
every request and can redirect a path elsewhere."""

from __future__ import annotations

import contextlib
import http.server
import os
import re
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.integration.chartrepo import write


@dataclass
class GitServer:
    """Bare repositories under `folder`, served at `url` (`<url><name>.git`)."""

    folder: Path
    url: str = ""
    requests: list[str] = field(default_factory=list)
    redirects: dict[str, str] = field(default_factory=dict)  # path prefix -> URL prefix
    auth: dict[str, str] = field(default_factory=dict)  # path prefix -> Authorization needed
    authorizations: list[str] = field(default_factory=list)  # every Authorization received

    def repo(self, name: str, files: dict[str, str], *, tag: str | None = None) -> str:
        """Create (or add a commit to) `<name>.git` with `files` on main; its commit."""
        bare = self.folder / f"{name}.git"
        work = self.folder / ".work" / name
        if not bare.exists():
            _git("init", "-q", "--bare", "-b", "main", str(bare))
            work.mkdir(parents=True)
            _git("init", "-q", "-b", "main", cwd=work)
            _git("remote", "add", "origin", str(bare), cwd=work)
        write(work, files)
        _git("add", "-A", cwd=work)
        _git("commit", "-q", "--allow-empty", "-m", "change", cwd=work)
        if tag is not None:
            _git("tag", "-f", "-a", "-m", tag, tag, cwd=work)  # annotated, as releases are
        _git("push", "-q", "-f", "origin", "main", "--tags", cwd=work)
        return _git("rev-parse", "HEAD", cwd=work).strip()

    def fetches(self) -> list[str]:
        """The requests that transferred objects (protocol v2 `command=fetch`)."""
        return [r for r in self.requests if r.endswith(" command=fetch")]


def _git(*args: str, cwd: Path | None = None) -> str:
    env = {
        **os.environ,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
    }
    return subprocess.run(
        ["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True
    ).stdout


def _handler(server: GitServer) -> type[http.server.BaseHTTPRequestHandler]:
    backend = shutil.which("git")
    assert backend is not None

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            self._serve()

        def do_POST(self) -> None:
            self._serve()

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            command = re.search(rb"command=([a-z-]+)", body[:64])
            said = f" command={command.group(1).decode()}" if command else ""
            server.requests.append(f"{self.command} {self.path}{said}")
            if said_auth := self.headers.get("Authorization"):
                server.authorizations.append(said_auth)
            for prefix, needed in server.auth.items():
                if self.path.startswith(prefix) and self.headers.get("Authorization") != needed:
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="git"')
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
            for prefix, target in server.redirects.items():
                if self.path.startswith(prefix):
                    self.send_response(301)
                    self.send_header("Location", target + self.path[len(prefix) :])
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
            path, _, query = self.path.partition("?")
            env = {
                "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                "GIT_PROJECT_ROOT": str(server.folder),
                "GIT_HTTP_EXPORT_ALL": "1",
                "GIT_CONFIG_NOSYSTEM": "1",
                "GIT_CONFIG_GLOBAL": os.devnull,
                "PATH_INFO": path,
                "QUERY_STRING": query,
                "REQUEST_METHOD": self.command,
                "CONTENT_TYPE": self.headers.get("Content-Type", ""),
                "CONTENT_LENGTH": str(len(body)),
                "REMOTE_ADDR": "127.0.0.1",
            }
            if protocol := self.headers.get("Git-Protocol"):
                env["GIT_PROTOCOL"] = protocol
            done = subprocess.run(
                [backend, "http-backend"], input=body, env=env, capture_output=True, check=False
            )
            head, _, payload = done.stdout.partition(b"\r\n\r\n")
            status, headers = 200, []
            for line in head.decode("latin-1").split("\r\n"):
                name, _, value = line.partition(":")
                if name.lower() == "status":
                    status = int(value.strip().split()[0])
                elif name:
                    headers.append((name, value.strip()))
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    return Handler


@contextlib.contextmanager
def serving(folder: Path) -> Iterator[GitServer]:
    server = GitServer(folder)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(server))
    server.url = f"http://127.0.0.1:{httpd.server_address[1]}/"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def gitserver(tmp_path: Path) -> Iterator[GitServer]:
    folder = tmp_path / "gitserver"
    folder.mkdir()
    with serving(folder) as server:
        yield server
