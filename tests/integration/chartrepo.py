"""A Helm chart repository on 127.0.0.1 for the tests: charts packaged by the
pinned helm, indexed with `helm repo index`, served by a server that records
every request (and the Authorization header it came with) and can redirect,
serve other bytes, drip its answer, or require HTTP Basic auth on a path."""

from __future__ import annotations

import contextlib
import http.server
import subprocess
import textwrap
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from gitops_bot.testing.binaries import Binaries

SUBCHART = {
    "Chart.yaml": "apiVersion: v2\nname: redis\nversion: {version}\n",
    "templates/cm.yaml": """\
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: {{ .Release.Name }}-redis
        data:
          version: {{ .Chart.Version | quote }}
    """,
}
APP_TEMPLATE = """\
    apiVersion: v1
    kind: ConfigMap
    metadata:
      name: {{ .Release.Name }}-app
    data: {}
"""


def umbrella(version: str, repository: str, lock: str | None = None) -> dict[str, str]:
    """deploy/app: a chart that depends on redis `version` from `repository`."""
    files = {
        "deploy/app/Chart.yaml": f"""\
            apiVersion: v2
            name: app
            version: 0.1.0
            dependencies:
            - name: redis
              version: "{version}"
              repository: "{repository}"
        """,
        "deploy/app/templates/cm.yaml": APP_TEMPLATE,
    }
    if lock is not None:
        files["deploy/app/Chart.lock"] = lock
    return files


def write(folder: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


@dataclass
class ChartRepo:
    """A chart repository served on 127.0.0.1: files from `folder`, plus `routes`
    ("redirect", url) / ("bytes", data) / ("stream", data: no Content-Length) /
    ("slow", ""): a byte at a time."""

    folder: Path
    url: str = ""
    requests: list[str] = field(default_factory=list)
    routes: dict[str, tuple[str, str | bytes]] = field(default_factory=dict)
    # Path prefix -> the Authorization header it requires (401 without it), and
    # (path, the Authorization header received or None) for every request.
    auth: dict[str, str] = field(default_factory=dict)
    authorizations: list[tuple[str, str | None]] = field(default_factory=list)

    def archive_requests(self) -> list[str]:
        return [path for path in self.requests if path.endswith(".tgz")]


@contextlib.contextmanager
def serving(repo: ChartRepo) -> Iterator[ChartRepo]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            repo.requests.append(self.path)
            said = self.headers.get("Authorization")
            repo.authorizations.append((self.path, said))
            wanted = [v for k, v in repo.auth.items() if self.path.startswith(k)]
            if wanted and said not in wanted:
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="charts"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            kind, value = repo.routes.get(self.path, ("file", self.path.lstrip("/")))
            if kind == "redirect":
                self.send_response(302)
                self.send_header("Location", str(value))
                self.end_headers()
                return
            if kind == "file":
                path = repo.folder / str(value)
                if not path.is_file():
                    self.send_error(404)
                    return
                value, kind = path.read_bytes(), "bytes"
            data = value if isinstance(value, bytes) else value.encode()
            self.send_response(200)
            if kind == "slow":  # a byte every 0.1 s, for 3 s
                self.end_headers()
                for _ in range(30):
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    time.sleep(0.1)
                return
            if kind == "bytes":
                self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *_: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    repo.url = f"http://127.0.0.1:{server.server_address[1]}/"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield repo
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture(scope="module")
def packaged(binaries: Binaries, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """redis 1.0.0 and 1.1.0, packaged by the pinned helm (indexed per server)."""
    out = tmp_path_factory.mktemp("packaged")
    for version in ("1.0.0", "1.1.0"):
        source = out / "src" / version / "redis"
        write(source, {k: v.replace("{version}", version) for k, v in SUBCHART.items()})
        helm(binaries, "package", str(source), "--destination", str(out / "archives"))
    return out / "archives"


def helm(binaries: Binaries, *args: str, home: Path | None = None) -> str:
    home = home or Path("/nonexistent")
    env = {"HOME": str(home), "PATH": "/usr/bin:/bin", "XDG_CONFIG_HOME": str(home / "config")}
    env |= {"XDG_CACHE_HOME": str(home / "cache"), "XDG_DATA_HOME": str(home / "data")}
    done = subprocess.run(
        [binaries.path("helm"), *args], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def repo(binaries: Binaries, packaged: Path, tmp_path: Path) -> Iterator[ChartRepo]:
    folder = tmp_path / "served"
    folder.mkdir()
    for archive in packaged.iterdir():
        (folder / archive.name).write_bytes(archive.read_bytes())
    with serving(ChartRepo(folder)) as served:
        helm(binaries, "repo", "index", str(folder), "--url", served.url)
        yield served
