"""The GitHub Actions job's OIDC token, for the puller's plan endpoint.

Owns: GitHub's documented token request: a GET of ACTIONS_ID_TOKEN_REQUEST_URL
with `audience` added to its query and ACTIONS_ID_TOKEN_REQUEST_TOKEN as the
bearer, answering {"value": "<JWT>"}; and the clear error when the job was
not given `permissions: id-token: write` (GitHub then sets neither variable).
Refuses: reading os.environ itself (the caller passes the environment),
caching tokens (each lives a few minutes) and putting either token in a
message.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from pathlib import Path

from gitops_bot.errors import ForgeError
from gitops_bot.forges import httpsget

REQUEST_URL = "ACTIONS_ID_TOKEN_REQUEST_URL"
REQUEST_TOKEN = "ACTIONS_ID_TOKEN_REQUEST_TOKEN"  # noqa: S105 (a variable's name)
_MAX_TOKEN_CHARS = 16 * 1024


def request_url(base: str, audience: str) -> str:
    """`base` with audience=... added to its query (GitHub's URL already has one)."""
    parts = urllib.parse.urlsplit(base)
    query = [(k, v) for k, v in urllib.parse.parse_qsl(parts.query) if k != "audience"]
    query.append(("audience", audience))
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


def request_token(env: Mapping[str, str], *, audience: str, ca_file: Path | None = None) -> str:
    """The job's OIDC token for `audience`; ForgeError saying why not."""
    if not audience:
        raise ForgeError("requesting the job's OIDC token: the audience is empty")
    base, bearer = env.get(REQUEST_URL, ""), env.get(REQUEST_TOKEN, "")
    if not base or not bearer:
        raise ForgeError(
            f"requesting the job's OIDC token: {REQUEST_URL} or {REQUEST_TOKEN} is not set; "
            "give the job `permissions: id-token: write` (GitHub Actions sets both then)"
        )
    try:
        answer = httpsget.get_json(
            request_url(base, audience),
            what="the job's OIDC token",
            headers={"Authorization": f"Bearer {bearer}"},
            ca_file=ca_file,
        )
    except httpsget.FetchError as err:
        raise ForgeError(str(err)) from err
    token = answer.get("value")
    if not isinstance(token, str) or not token or len(token) > _MAX_TOKEN_CHARS:
        raise ForgeError("requesting the job's OIDC token: the answer has no token in 'value'")
    return token
