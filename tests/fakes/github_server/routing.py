"""The emulator's routing table: which handler answers which method and path.

Owns: ROUTES (filled by the @route decorator as the endpoint modules are
imported), the handler signature, and the small helpers every endpoint
module shares (finding a pull request, GitHub's 422 "Validation Failed").
Refuses: dispatching (server.py does) and any endpoint's logic.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tests.fakes.github_server.state import HttpError, Json, PullRecord, Repo

if TYPE_CHECKING:
    from tests.fakes.github_server.server import GitHubServer

# Each handler gets (server, repo, path params + "login", query, JSON body) and
# returns a payload (200) or (status, extra headers, payload).
Handler = Callable[["GitHubServer", Repo | None, dict[str, str], dict[str, str], Json], Any]
ROUTES: list[tuple[str, re.Pattern[str], Handler]] = []
_REPO = r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)"


def route(method: str, pattern: str) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        ROUTES.append((method, re.compile(pattern.replace("{repo}", _REPO) + "$"), handler))
        return handler

    return register


def find_pull(repo: Repo | None, params: dict[str, str], key: str = "number") -> PullRecord:
    assert repo is not None
    pull = repo.pulls.get(int(params[key]))
    if pull is None:
        raise HttpError(404, "Not Found")
    return pull


def invalid(resource: str, field_name: str, message: str, code: str = "custom") -> HttpError:
    error = {"resource": resource, "code": code, "field": field_name, "message": message}
    return HttpError(422, "Validation Failed", errors=[error])
