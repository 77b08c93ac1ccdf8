"""One bounded GET of a remote source, for render.fetch.

Owns: `admitted` (does an allow-list entry cover a URL: the same scheme,
host and port, and a path below the entry's at a `/`, so that
`https://charts.example.com` never admits `https://charts.example.com.evil/`),
`shown` (a URL without user info, query and fragment, safe for a message),
and `get`, which streams a body to a file with a deadline, a size cap
checked on Content-Length and again while reading, and at most 5 redirects,
each to a URL the allow-list admits; it answers the sha256 of what it read,
can hand the answer's headers to its caller, and raises HTTPStatusError
(with the status and WWW-Authenticate) for an error status.
Refuses: schemes other than http and https, URLs carrying a user name or
password, sending credentials or cookies, retrying, and caching (render.fetch).
Proxies named in the environment (http_proxy, no_proxy) are honoured, as
helm honours them.
"""

from __future__ import annotations

import email.message
import hashlib
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from typing import IO, Any

from gitops_bot.errors import RenderError

MAX_REDIRECTS = 5
_CHUNK = 1 << 16
_DEFAULT_PORTS = {"http": 80, "https": 443}


def admitted(url: str, allow: Iterable[str]) -> bool:
    """Whether one of the URL prefixes in `allow` admits `url`."""
    return any(_below(url, prefix) for prefix in allow)


def shown(url: str) -> str:
    """`url` without user name, password, query and fragment, safe for a message."""
    parts = urllib.parse.urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urllib.parse.urlunsplit((parts.scheme, host, parts.path, "", ""))


def _below(url: str, prefix: str) -> bool:
    u, p = urllib.parse.urlsplit(url), urllib.parse.urlsplit(prefix)
    scheme = u.scheme.lower()
    if scheme != p.scheme.lower() or scheme not in _DEFAULT_PORTS or u.username or u.password:
        return False
    try:
        same_port = (u.port or _DEFAULT_PORTS[scheme]) == (p.port or _DEFAULT_PORTS[scheme])
    except ValueError:  # a port that is not a number
        return False
    if not same_port or (u.hostname or "") != (p.hostname or ""):
        return False
    path, base = u.path or "/", p.path or "/"
    if base.endswith("/"):
        return path.startswith(base)
    return path == base or path.startswith(base + "/")


class HTTPStatusError(RenderError):
    """The server answered an HTTP error status; `challenge` is its WWW-Authenticate."""

    def __init__(self, message: str, code: int, challenge: str) -> None:
        super().__init__(message)
        self.code, self.challenge = code, challenge


class _RedirectRefusedError(Exception):
    """A redirect the allow-list does not admit."""


def _redirects(admits: Callable[[str], bool]) -> urllib.request.HTTPRedirectHandler:
    class Redirects(urllib.request.HTTPRedirectHandler):
        max_redirections = MAX_REDIRECTS

        def redirect_request(  # noqa: PLR0917 (urllib's signature)
            self, req: Any, fp: Any, code: int, msg: str, headers: Any, newurl: str
        ) -> Any:
            if not admits(newurl):
                fp.close()  # urllib closes it only after a redirect it follows
                host = urllib.parse.urlsplit(newurl).netloc.rpartition("@")[2]
                raise _RedirectRefusedError(
                    f"redirected to {host} ({shown(newurl)}), which the allow-list does not admit"
                )
            return super().redirect_request(req, fp, code, msg, headers, newurl)

    return Redirects()


def get(
    url: str,
    sink: IO[bytes],
    *,
    admits: Callable[[str], bool],
    timeout_s: float,
    limit: int,
    where: str,
    headers: Callable[[str], Mapping[str, str]] | None = None,
    replied: Callable[[email.message.Message], None] | None = None,
) -> str:
    """Write the body at `url` to `sink`; its sha256 (hex). RenderError naming the URL
    (HTTPStatusError for an error status). `headers(url)` gives extra headers for the
    first URL (credentials); a redirect is sent without them. `replied` is given the
    answer's headers before its body is read."""
    doing = f"{where}: fetching {shown(url)}"
    if not admits(url):  # the callers check first; a URL reaching here unchecked is a bug
        raise RenderError(f"{doing}: the allow-list does not admit it")
    opener = urllib.request.build_opener(_redirects(admits))
    request = urllib.request.Request(url, headers={"User-Agent": "gitops-bot"})  # noqa: S310 (admitted http(s))
    for name, value in (headers(url) if headers is not None else {}).items():
        request.add_unredirected_header(name, value)  # urllib copies the others on a redirect
    deadline = time.monotonic() + timeout_s
    digest, size = hashlib.sha256(), 0
    try:
        with opener.open(request, timeout=timeout_s) as reply:
            if replied is not None:
                replied(reply.headers)
            declared = reply.headers.get("Content-Length")
            if declared is not None and declared.isdigit() and int(declared) > limit:
                raise RenderError(f"{doing}: {declared} bytes is more than the {limit} allowed")
            while chunk := reply.read1(_CHUNK):  # read1: a slow drip still meets the deadline
                size += len(chunk)
                if size > limit:
                    raise RenderError(f"{doing}: more than the {limit} bytes allowed")
                if time.monotonic() > deadline:
                    raise RenderError(f"{doing}: not done within {timeout_s:g} s")
                digest.update(chunk)
                sink.write(chunk)
    except _RedirectRefusedError as err:
        raise RenderError(f"{doing}: {err}") from err
    except urllib.error.HTTPError as err:
        err.close()
        what = (
            f"more than {MAX_REDIRECTS} redirects" if 300 <= err.code < 400 else f"HTTP {err.code}"
        )
        challenge = str(err.headers.get("WWW-Authenticate") or "") if err.headers else ""
        raise HTTPStatusError(f"{doing}: {what}", err.code, challenge) from err
    except (urllib.error.URLError, TimeoutError, OSError) as err:
        reason = getattr(err, "reason", err)
        if isinstance(reason, TimeoutError):
            reason = f"no answer within {timeout_s:g} s"
        raise RenderError(f"{doing}: {reason}") from err
    return digest.hexdigest()
