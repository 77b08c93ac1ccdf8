"""Checks HTTP exchanges against GitHub's official OpenAPI description.

Owns: locating the description that the npm package `@octokit/openapi`
ships (tests/fakes/node_modules, installed by `npm ci --prefix tests/fakes`),
loading it once per process, and judging one request and its response with
openapi-core: the operation must exist, the status code must be documented
for it and the body must match the schema of that status and content type.

Refuses: to skip. A missing package is an error that names the command that
installs it, so a test that needs the contract fails instead of passing
unchecked.

Bad credentials (401), rate limits and server errors (429, 5xx, and a 403 that says it is a rate
limit or carries Retry-After) and the 403 "Resource not accessible by
integration" an App token gets without a permission are documented once
for the whole API rather than per operation; a
response with such a status that its operation does not list is checked
against the generic error shape (`basic-error`) instead.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from jsonschema_path import SchemaPath
from openapi_core import Config, OpenAPI
from openapi_core.templating.responses.exceptions import ResponseNotFound
from openapi_core.testing import MockRequest, MockResponse
from openapi_schema_validator import OAS30Validator

PACKAGE = Path(__file__).parent / "node_modules" / "@octokit" / "openapi"
DESCRIPTION = PACKAGE / "generated" / "api.github.com.json"
SERVER = "https://api.github.com"  # the description's server; requests are matched under it
# 401: GitHub answers bad credentials (an expired token, a JWT it cannot
# decode) on every operation, whether or not the operation lists 401.
GLOBAL_STATUSES = frozenset({401, 429, 500, 502, 503, 504})
GREEDY = frozenset({"ref", "path", "branch"})  # path parameters whose values hold slashes


def _load_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise FileNotFoundError(
            f"reading GitHub's OpenAPI description: {path} is missing; "
            "install it with `npm ci --prefix tests/fakes`"
        )
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


@functools.cache
def description() -> dict[str, Any]:
    """The parsed description (about 13 MB of JSON, read once)."""
    return _load_json(DESCRIPTION)


@functools.cache
def package_version() -> str:
    version: str = _load_json(PACKAGE / "package.json")["version"]
    return version


@functools.cache
def _openapi() -> OpenAPI:
    # The description itself is GitHub's; validating it (minutes) adds nothing.
    spec = SchemaPath.from_dict(description())
    return OpenAPI(spec, config=Config(spec_validator_cls=None))


@functools.cache
def _basic_error() -> OAS30Validator:
    schema = description()["components"]["schemas"]["basic-error"]
    return OAS30Validator(schema)


def _describe(err: BaseException) -> str:
    cause = err.__cause__
    details = getattr(cause, "schema_errors", None) or ()
    if not details:
        return f"{type(err).__name__}: {err}" + (f" ({cause})" if cause else "")
    return f"{type(err).__name__}: " + "; ".join(
        f"at {'/'.join(str(p) for p in getattr(d, 'absolute_path', ())) or '(body)'}: "
        f"{getattr(d, 'message', d)}"
        for d in details
    )


@functools.cache
def _templates() -> list[tuple[str, list[str], re.Pattern[str]]]:
    """Every path of the description as a regex, most literal characters first.

    openapi-core matches a parameter within one path segment, but GitHub's
    `{ref}`, `{path}` and `{branch}` carry slashes ("heads/promote/prod"), so
    the template is found here and handed to openapi-core as the pattern.
    """
    found = []
    for template in description()["paths"]:
        pieces = re.split(r"\{([^}]+)\}", template)  # literal, name, literal, name, ...
        names = pieces[1::2]
        regex = "".join(
            re.escape(piece) if i % 2 == 0 else ("(.+)" if piece in GREEDY else "([^/]+)")
            for i, piece in enumerate(pieces)
        )
        found.append((template, names, re.compile(regex + "$")))
    return sorted(found, key=lambda item: -len("".join(re.split(r"\{[^}]+\}", item[0]))))


def _mock_request(
    method: str, path: str, query: dict[str, str], body: bytes, content_type: str
) -> MockRequest:
    pattern, params = path, {}
    for template, names, regex in _templates():
        matched = regex.match(path)
        if matched and method.lower() in description()["paths"][template]:
            pattern = template
            values = matched.groups()
            params = {name: unquote(value) for name, value in zip(names, values, strict=True)}
            break
    return MockRequest(
        SERVER,
        method,
        path,
        path_pattern=pattern,
        args=query,
        view_args=params,
        data=body,
        content_type=content_type,
    )


def request_violations(
    *, method: str, path: str, query: dict[str, str], body: bytes, content_type: str
) -> list[str]:
    """What is wrong with a request a client sent (empty when nothing is)."""
    request = _mock_request(method, path, query, body, content_type or "application/json")
    try:
        _openapi().validate_request(request)
    except Exception as err:
        return [f"request {method} {path}: {_describe(err)}"]
    return []


def response_violations(
    *,
    method: str,
    path: str,
    query: dict[str, str],
    status: int,
    headers: dict[str, str],
    body: bytes,
) -> list[str]:
    """What is wrong with a response for this request (empty when nothing is)."""
    request = _mock_request(method, path, query, b"", "application/json")
    content_type = headers.get("Content-Type", "application/json").split(";")[0]
    response = MockResponse(body, status_code=status, headers=headers, content_type=content_type)
    where = f"response {status} to {method} {path}"
    try:
        _openapi().validate_response(request, response)
    except ResponseNotFound:
        if status in GLOBAL_STATUSES or (
            status == 403
            and (
                "Retry-After" in headers
                or b"rate limit" in body
                or b"Resource not accessible by integration" in body
            )
        ):
            return [
                f"{where}: {error.message}"
                for error in _basic_error().iter_errors(json.loads(body or b"{}"))
            ]
        return [f"{where}: the operation does not document this status"]
    except Exception as err:
        return [f"{where}: {_describe(err)}"]
    return []
