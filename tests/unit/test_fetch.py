"""render.fetch: what is refused before anything is fetched. No server runs
here: the allow-list admits the repository (so a refusal is not the
allow-list's), and every refusal comes before a request."""

from __future__ import annotations

import hashlib
import json
import textwrap
from pathlib import Path

import pytest

from gitops_bot.errors import RenderError
from gitops_bot.render import chartlock
from gitops_bot.render.fetch import Pinned, SourcePolicy, prepare_chart

REPO = "https://charts.example.com/"
ADMITTED = (
    REPO,
    "https://user:pw@charts.example.com/",
    "ftp://charts.example.com/",
    "oci://registry.example.com/",
)


def _chart(root: Path, dependencies: str, **files: str) -> None:
    folder = root / "app"
    folder.mkdir(parents=True, exist_ok=True)
    text = "apiVersion: v2\nname: app\nversion: 0.1.0\ndependencies:\n"
    (folder / "Chart.yaml").write_text(text + textwrap.indent(textwrap.dedent(dependencies), "  "))
    for name, body in files.items():
        path = folder / name.replace("__", "/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(body))


def _refusal(root: Path, allow: tuple[str, ...] = ADMITTED) -> str:
    with pytest.raises(RenderError) as caught:
        prepare_chart(root, "app", SourcePolicy(allow=allow, cache=root / "cache"))
    return str(caught.value)


@pytest.mark.parametrize("version", ["^1.2.0", "~1", "'>=1.0.0'", "'*'", "1.x", "1.2", "''"])
def test_a_floating_version_without_a_lock_is_refused(tmp_path: Path, version: str) -> None:
    _chart(tmp_path, f"- {{name: redis, version: {version}, repository: '{REPO}'}}\n")
    message = _refusal(tmp_path)
    assert message.startswith(
        f"chart app: dependency redis {version.strip(chr(39)) or '(no version)'} from {REPO}: "
    )
    assert "pin an exact version or run `helm dependency update`" in message


@pytest.mark.parametrize(
    ("repository", "says"),
    [
        ("oci://user:pw@registry.example.com/charts", "credentials in the URL are refused"),
        ("'oci://registry.example.com/charts?token=pw'", "no query"),
        ("'oci://registry.example.com/charts@sha256:abc'", "no query, fragment, tag or digest"),
        ("oci://registry.example.com/Charts", "lowercase letters"),
        ("oci://registry.example.com:http/charts", "not a number"),
        ("'@bitnami'", "repositories.yaml"),
        ("alias:bitnami", "repositories.yaml"),
        ("https://user:pw@charts.example.com/", "credentials in the URL are refused"),
        ("ftp://charts.example.com/", "not an http(s) chart repository URL"),
        ("'https://charts.example.com/?token=pw'", "no query"),
    ],
)
def test_sources_it_cannot_fetch_are_refused(tmp_path: Path, repository: str, says: str) -> None:
    _chart(tmp_path, f"- {{name: redis, version: 1.0.0, repository: {repository}}}\n")
    message = _refusal(tmp_path)
    assert says in message
    assert "pw" not in message


def test_a_repository_outside_the_allow_list_names_the_setting(tmp_path: Path) -> None:
    _chart(tmp_path, f"- {{name: redis, version: 1.0.0, repository: '{REPO}'}}\n")
    message = _refusal(tmp_path, allow=("https://other.example.com/",))
    assert message == (
        f"chart app: dependency redis 1.0.0 from {REPO}: the repository is not in the "
        "allow-list; admit it with sources.allow in the base branch's .gitops.yaml "
        "or the bot's --allow-source flag"
    )


@pytest.mark.parametrize(
    ("url", "admitted"),
    [
        ("oci://registry.example.com/charts/redis", True),
        ("oci://registry.example.com/charts", False),  # the entry ends in /
        ("oci://registry.example.com/chartsx/redis", False),
        ("oci://registry.example.com:443/charts/redis", True),
        ("oci://registry.example.com:5000/charts/redis", False),
        ("oci://registry.example.com.evil/charts/redis", False),
        ("https://registry.example.com/v2/charts/redis/manifests/1.0.0", True),
        ("https://registry.example.com/v2/charts/redis/blobs/sha256:00", True),
        ("https://registry.example.com/charts/redis", False),  # not the registry API
        ("http://registry.example.com/v2/charts/redis/manifests/1.0.0", False),
    ],
)
def test_an_oci_entry_admits_the_references_and_registry_urls_below_it(
    url: str, admitted: bool
) -> None:
    policy = SourcePolicy(allow=("oci://registry.example.com/charts/",))
    assert policy.admits(url) is admitted


def test_an_https_entry_admits_no_oci_reference_and_loopback_registries_speak_http() -> None:
    assert not SourcePolicy(allow=("https://registry.example.com/",)).admits(
        "oci://registry.example.com/charts/redis"
    )
    for host in ("127.0.0.1:5000", "127.9.9.9:5000", "[::1]:5000", "localhost:5000"):
        policy = SourcePolicy(allow=(f"oci://{host}/charts/",))
        assert policy.admits(f"http://{host}/v2/charts/redis/manifests/1.0.0"), host
        assert policy.admits(f"https://{host}/v2/charts/redis/manifests/1.0.0"), host


LOCK = """\
    dependencies:
    - {name: redis, repository: 'https://charts.example.com/', version: 1.0.0}
    digest: sha256:0
"""


@pytest.mark.parametrize(
    "dependencies",
    [
        "- {name: redis, version: ^1.0.0, repository: 'https://other.example.com/'}\n",
        "- {name: redis, version: 1.1.0, repository: 'https://charts.example.com/'}\n",
        "- {name: redis, version: ^1.0.0, repository: 'https://charts.example.com/'}\n"
        "- {name: pg, version: 2.0.0, repository: 'https://charts.example.com/'}\n",
        "[]\n",
    ],
)
def test_a_lock_out_of_sync_with_the_chart_is_refused(tmp_path: Path, dependencies: str) -> None:
    _chart(tmp_path, dependencies, **{"Chart.lock": LOCK})
    assert "Chart.lock is out of sync with Chart.yaml" in _refusal(tmp_path)


def test_vendored_dependencies_are_not_fetched(tmp_path: Path) -> None:
    _chart(
        tmp_path,
        f"""\
        - {{name: redis, version: 1.0.0, repository: '{REPO}'}}
        - {{name: pg, version: ^2.0.0, repository: 'oci://registry.example.com/charts'}}
        - {{name: local, version: 0.1.0}}
        """,
        **{
            "charts__redis-1.0.0.tgz": "an archive",
            "charts__pg__Chart.yaml": "apiVersion: v2\nname: pg\nversion: 2.0.1\n",
            "charts__local__Chart.yaml": "apiVersion: v2\nname: local\nversion: 0.1.0\n",
        },
    )
    digest = "sha256:" + hashlib.sha256(b"an archive").hexdigest()
    pins = prepare_chart(tmp_path, "app", SourcePolicy(allow=(), cache=tmp_path / "cache"))
    assert pins == (Pinned("app", "redis", "1.0.0", REPO, digest),)


def test_a_missing_dependency_without_repository_is_named(tmp_path: Path) -> None:
    _chart(tmp_path, "- {name: local, version: 0.1.0}\n")
    assert "not in app/charts, and no repository to fetch it from" in _refusal(tmp_path)


@pytest.mark.parametrize(("name", "version"), [("../../../x", "1.0.0"), ("a b", "1.0.0")])
def test_a_name_or_version_that_is_no_file_name_is_refused(
    tmp_path: Path, name: str, version: str
) -> None:
    _chart(tmp_path, f"- {{name: '{name}', version: '{version}', repository: '{REPO}'}}\n")
    assert "helm would write in a file name" in _refusal(tmp_path)


def test_a_locked_version_that_is_no_file_name_is_refused(tmp_path: Path) -> None:
    declared = [{"name": "redis", "version": "^1.0.0", "repository": REPO}]
    locked = [{"name": "redis", "version": "1.0.0/../../../x", "repository": REPO}]
    lock = {"dependencies": locked, "digest": chartlock.digest(declared, locked)}
    _chart(tmp_path, f"- {{name: redis, version: ^1.0.0, repository: '{REPO}'}}\n")
    (tmp_path / "app/Chart.lock").write_text(json.dumps(lock))
    assert "not a chart version helm would write in a file name" in _refusal(tmp_path, (REPO,))
