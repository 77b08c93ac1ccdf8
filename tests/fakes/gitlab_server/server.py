"""The GitLab REST API v4 emulator on 127.0.0.1 that python-gitlab talks to: its HTTP side.

Owns: GitLabServer (a context manager on a free port, made of the store,
the shapes, the hooks and the endpoint parts), the routing table, one
exchange at a time under one lock (so a check-and-create, such as
creating a tag that must not exist, is atomic), token authentication
(PRIVATE-TOKEN or Bearer), queued faults (429 with Retry-After, 5xx),
GitLab's pagination headers and Link, and the request log ("GET
/api/v4/projects/group/shop/merge_requests/7") for exact call counts.
Refuses: any endpoint's logic (the ep_* parts own it).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from tests.fakes.gitlab_server.ep_mrs import MergeRequestEndpoints
from tests.fakes.gitlab_server.ep_notes import NoteEndpoints
from tests.fakes.gitlab_server.ep_people import PeopleEndpoints
from tests.fakes.gitlab_server.ep_repo import RepositoryEndpoints
from tests.fakes.gitlab_server.ep_statuses import StatusEndpoints
from tests.fakes.gitlab_server.hooks import Hooks
from tests.fakes.gitlab_server.mr_shapes import MergeRequestShapes
from tests.fakes.gitlab_server.shapes import Shapes
from tests.fakes.gitlab_server.state import ApiError, Json, Request
from tests.fakes.gitlab_server.store import Store
from tests.fakes.gitlab_server.store_mrs import MergeRequests


class GitLabServer(
    MergeRequestEndpoints,
    NoteEndpoints,
    PeopleEndpoints,
    RepositoryEndpoints,
    StatusEndpoints,
    Hooks,
    MergeRequestShapes,
    Shapes,
    MergeRequests,
    Store,
):
    """The emulator; a context manager that serves on 127.0.0.1 at a free port."""

    def __init__(self, *, diff_max_files: int = 1000, per_page_max: int = 100) -> None:
        super().__init__(diff_max_files=diff_max_files, per_page_max=per_page_max)
        self._http: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> GitLabServer:
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._http.daemon_threads = True
        self._thread = threading.Thread(
            target=self._http.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._http is not None
        assert self._thread is not None
        self._http.shutdown()
        self._http.server_close()
        self._thread.join(timeout=10)

    @property
    def url(self) -> str:
        assert self._http is not None, "use the server inside `with`"
        host, port = self._http.server_address[:2]
        return f"http://{host!s}:{port}"

    def _routes(self) -> list[tuple[str, re.Pattern[str], Callable[[Request], Any], bool]]:
        p = "/projects/(?P<project>[^/]+)"
        mr = p + r"/merge_requests/(?P<iid>\d+)"
        note = mr + r"/notes/(?P<note>\d+)"
        table: list[tuple[str, str, Callable[[Request], Any], bool]] = [
            ("GET", "/user", self._get_user, False),
            ("GET", "/users", self._list_users, True),
            ("GET", p, self._get_project, False),
            ("POST", p + "/merge_requests", self._create_mr, False),
            ("GET", mr, self._get_mr, False),
            ("GET", mr + "/diffs", self._list_diffs, True),
            ("GET", mr + "/versions", self._list_versions, True),
            ("GET", mr + "/approvals", self._approvals, False),
            ("GET", mr + "/notes", self._list_notes, True),
            ("POST", mr + "/notes", self._create_note, False),
            ("GET", note, self._get_note, False),
            ("PUT", note, self._update_note, False),
            ("DELETE", note, self._delete_note, False),
            ("POST", note + "/award_emoji", self._create_award, False),
            ("POST", p + "/statuses/(?P<sha>[^/]+)", self._create_status, False),
            ("GET", p + "/repository/commits/(?P<sha>[^/]+)/statuses", self._list_statuses, True),
            ("POST", p + "/repository/commits", self._create_commit, False),
            ("POST", p + "/repository/branches", self._create_branch, False),
            ("POST", p + "/repository/tags", self._create_tag, False),
            ("GET", p + "/repository/tags/(?P<tag>[^/]+)", self._get_tag, False),
            ("DELETE", p + "/repository/tags/(?P<tag>[^/]+)", self._delete_tag, False),
            (
                "GET",
                p + "/repository/commits/(?P<sha>[^/]+)/merge_requests",
                self._commit_mrs,
                True,
            ),
            ("GET", p + "/merge_requests", self._list_mrs, True),
            ("PUT", mr, self._update_mr, False),
            ("PUT", mr + "/merge", self._merge_mr, False),
            ("POST", p + "/deployments", self._create_deployment, False),
            ("GET", p + "/deployments", self._list_deployments, True),
            ("PUT", p + r"/deployments/(?P<deployment>\d+)", self._update_deployment, False),
            ("HEAD", p + "/repository/files/(?P<path>[^/]+)", self._file_meta, False),
            ("GET", p + r"/members/all/(?P<user>\d+)", self._member, False),
            (
                "GET",
                r"/groups/(?P<group>[^/]+)/members/all/(?P<user>\d+)",
                self._group_member,
                False,
            ),
        ]
        return [(m, re.compile(f"/api/v4{pattern}"), fn, paged) for m, pattern, fn, paged in table]

    def handle(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        """One exchange: (status, headers, body)."""
        split = urlsplit(target)
        readable = f"{method} {unquote(split.path)}"
        with self._lock:
            meeting = next((m for m in self._meetings if m.line == readable), None)
            if meeting is not None:
                meeting.left -= 1
                if meeting.left == 0:
                    self._meetings.remove(meeting)
        if meeting is not None:
            meeting.barrier.wait()  # outside the lock: the others must get here too
        with self._lock:
            self.log.append(readable)
            for fault in self._faults:
                if (
                    fault.times > 0
                    and fault.method in (None, method)
                    and fault.path in (None, unquote(split.path))
                ):
                    fault.times -= 1
                    return self._json(fault.status, {"message": fault.message}, fault.headers)
            try:
                return self._dispatch(method, split.path, split.query, headers, body)
            except ApiError as err:
                return self._json(err.status, err.body)

    def _dispatch(
        self, method: str, path: str, query: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        token = headers.get("private-token") or headers.get("authorization", "").removeprefix(
            "Bearer "
        )
        user = next((u for u in self._users.values() if token and u.token == token), None)
        if user is None:
            raise ApiError(401, "401 Unauthorized")
        params: dict[str, Any] = dict(parse_qsl(query))
        if body:
            try:
                params.update(json.loads(body))
            except ValueError:
                params.update(parse_qsl(body.decode()))
        for verb, pattern, handler, paged in self._routes():
            found = pattern.fullmatch(path)
            if found is None or verb != method:
                continue
            parts = {k: unquote(v) for k, v in found.groupdict().items()}
            self.routes_hit.add(f"{verb} {pattern.pattern}")
            result = handler(Request(user, parts, params))
            status, extra = 200, {}
            if isinstance(result, tuple):
                status, result, *rest = result
                extra = rest[0] if rest else {}
            if paged:
                result, extra = self._paginate(result, path, params)
            return self._json(status, result, extra, head=method == "HEAD")
        raise ApiError(404, "404 Not Found", key="error")

    def _paginate(
        self, items: list[Json], path: str, params: dict[str, Any]
    ) -> tuple[Any, dict[str, str]]:
        per_page = max(1, min(int(params.get("per_page", 20)), self.per_page_max))
        page = max(1, int(params.get("page", 1)))
        pages = max(1, -(-len(items) // per_page))

        def link(number: int) -> str:
            query = {k: v for k, v in params.items() if not isinstance(v, (list, dict))}
            return f"{self.url}{path}?{urlencode({**query, 'page': number, 'per_page': per_page})}"

        links = [f'<{link(page + 1)}>; rel="next"'] if page < pages else []
        links += [f'<{link(page - 1)}>; rel="prev"'] if page > 1 else []
        links += [f'<{link(1)}>; rel="first"', f'<{link(pages)}>; rel="last"']
        headers = {
            "X-Page": str(page),
            "X-Per-Page": str(per_page),
            "X-Total": str(len(items)),
            "X-Total-Pages": str(pages),
            "X-Next-Page": str(page + 1) if page < pages else "",
            "X-Prev-Page": str(page - 1) if page > 1 else "",
            "Link": ", ".join(links),
        }
        return items[(page - 1) * per_page : page * per_page], headers

    @staticmethod
    def _json(
        status: int, body: object, headers: dict[str, str] | None = None, *, head: bool = False
    ) -> tuple[int, dict[str, str], bytes]:
        data = b"" if head or status == 204 else json.dumps(body).encode()
        return status, {"Content-Type": "application/json", **(headers or {})}, data


def _handler(server: GitLabServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, out_headers, data = server.handle(self.command, self.path, headers, body)
            self.send_response(status)
            for key, value in out_headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _serve  # noqa: N815

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: the server keeps its own log."""

    return Handler
