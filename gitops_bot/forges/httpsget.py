"""One bounded HTTPS GET of a small JSON document, outside any forge SDK.

Owns: what the GitHub Actions token request (forges.github.oidc) and the
puller's OIDC key fetch (gitops_bot.web.jwks) both need: https only (also
after redirects, which are refused), a short timeout, a size cap checked on
Content-Length and again while reading, an optional CA file to trust
instead of the system's (GitHub Enterprise Server behind a private CA, the
tests' local issuer), and errors that name the URL without its query.
Refuses: sending anything but the headers it is given, and retrying.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gitops_bot.errors import BotError

TIMEOUT_S = 5.0
LIMIT_BYTES = 64 * 1024


class FetchError(BotError):
    """A document could not be fetched, or is not a small JSON object."""


class NoRedirects(urllib.request.HTTPRedirectHandler):
    # A redirect could lead to plain http or to another host; the documents
    # fetched here are never moved, so any redirect is refused.
    def redirect_request(self, *_: Any, **__: Any) -> None:
        return None


def shown(url: str) -> str:
    """The URL without its query and fragment, safe to put in a message."""
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def get_json(
    url: str,
    *,
    what: str,
    headers: Mapping[str, str] | None = None,
    ca_file: Path | None = None,
    timeout_s: float = TIMEOUT_S,
    limit: int = LIMIT_BYTES,
) -> dict[str, Any]:
    """The JSON object at `url`; FetchError saying what was being fetched otherwise."""
    where = f"fetching {what} from {shown(url)}"
    if urllib.parse.urlsplit(url).scheme != "https":
        raise FetchError(f"{where}: only https:// is allowed")
    context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    opener = urllib.request.build_opener(NoRedirects, urllib.request.HTTPSHandler(context=context))
    request = urllib.request.Request(  # noqa: S310 (the scheme is checked above)
        url, headers={"Accept": "application/json", **(headers or {})}
    )
    try:
        with opener.open(request, timeout=timeout_s) as reply:
            declared = reply.headers.get("Content-Length")
            if declared is not None and declared.isdigit() and int(declared) > limit:
                raise FetchError(f"{where}: the answer is larger than {limit} bytes")
            body = reply.read(limit + 1)
    except urllib.error.HTTPError as err:
        err.close()  # its body is not read: release the connection now
        raise FetchError(f"{where}: HTTP {err.code}") from err
    except (urllib.error.URLError, TimeoutError, OSError) as err:
        raise FetchError(f"{where}: {getattr(err, 'reason', err)}") from err
    if len(body) > limit:
        raise FetchError(f"{where}: the answer is larger than {limit} bytes")
    try:
        document = json.loads(body)
    except ValueError as err:
        raise FetchError(f"{where}: the answer is not JSON") from err
    if not isinstance(document, dict):
        raise FetchError(f"{where}: the answer is not a JSON object")
    return document
