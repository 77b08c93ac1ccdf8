"""render.download: which URLs an allow-list admits, and URLs safe for messages."""

from __future__ import annotations

import pytest

from gitops_bot.render import download

# (url, allow-list prefix, admitted?)
ROWS = [
    ("https://charts.example.com/index.yaml", "https://charts.example.com/", True),
    ("https://charts.example.com/a/b.tgz", "https://charts.example.com", True),
    ("https://CHARTS.example.com/index.yaml", "https://charts.example.com/", True),
    ("https://charts.example.com:443/x", "https://charts.example.com/", True),
    ("HTTPS://charts.example.com/x", "https://charts.example.com/", True),
    ("https://charts.example.com/stable/x.tgz", "https://charts.example.com/stable", True),
    ("https://charts.example.com/stable", "https://charts.example.com/stable", True),
    ("http://127.0.0.1:8123/index.yaml", "http://127.0.0.1:8123/", True),
    # A prefix of whole names: host, port and path segments.
    ("https://charts.example.com.evil.org/x", "https://charts.example.com", False),
    ("https://charts.example.com/stablex/x.tgz", "https://charts.example.com/stable", False),
    ("https://charts.example.com/other/x", "https://charts.example.com/stable/", False),
    ("http://127.0.0.1:81230/x", "http://127.0.0.1:8123", False),
    ("http://127.0.0.1:8124/x", "http://127.0.0.1:8123/", False),
    ("http://127.0.0.2:8123/x", "http://127.0.0.1:8123/", False),
    # The scheme counts: https admits no http, and nothing else is fetched.
    ("http://charts.example.com/x", "https://charts.example.com/", False),
    ("ftp://charts.example.com/x", "ftp://charts.example.com/", False),
    ("file:///etc/passwd", "file:///", False),
    # A user name in the URL would be sent as credentials.
    ("https://user:pw@charts.example.com/x", "https://charts.example.com/", False),
    ("https://charts.example.com@evil.org/x", "https://charts.example.com", False),
    ("https://charts.example.com:notaport/x", "https://charts.example.com/", False),
]


@pytest.mark.parametrize(("url", "prefix", "admitted"), ROWS)
def test_an_allow_list_entry_admits_urls_below_it(url: str, prefix: str, admitted: bool) -> None:
    assert download.admitted(url, (prefix,)) is admitted


def test_an_empty_allow_list_admits_nothing() -> None:
    assert not download.admitted("https://charts.example.com/index.yaml", ())


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://charts.example.com/index.yaml", "https://charts.example.com/index.yaml"),
        ("https://u:secret@charts.example.com/a?token=secret#x", "https://charts.example.com/a"),
    ],
)
def test_a_shown_url_carries_no_secret(url: str, shown: str) -> None:
    assert download.shown(url) == shown
