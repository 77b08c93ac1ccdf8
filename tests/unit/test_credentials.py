"""render.credentials: the operator's credentials file, which URL gets which
header, the environment for git, and that no error names a secret."""

from __future__ import annotations

import base64
import pickle
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gitops_bot.core.secrets import mask
from gitops_bot.errors import ConfigError
from gitops_bot.render import credentials
from gitops_bot.render.fetch import SourcePolicy

SECRET = "s3cret-Value-42"
BASIC = "Basic " + base64.b64encode(f"bot:{SECRET}".encode()).decode()


def _load(tmp_path: Path, text: str, **environ: str) -> credentials.Credentials:
    path = tmp_path / "creds.yaml"
    path.write_text(text)
    return credentials.load(path, environ)


def _error(tmp_path: Path, text: str, **environ: str) -> str:
    with pytest.raises(ConfigError) as err:
        _load(tmp_path, text, **environ)
    return str(err.value)


def test_basic_bearer_env_file_and_inline_values(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("tok-from-file\n")
    creds = _load(
        tmp_path,
        f"""
        - url: https://charts.example.com/private/
          username: bot
          password: {{env: CHARTS_PASSWORD}}
        - url: oci://ghcr.io/acme/
          token: {{file: token}}
        - url: https://git.example.com/
          username: {{env: GIT_USER}}
          password: inline-{SECRET}
        """.replace("\n        ", "\n"),
        CHARTS_PASSWORD=SECRET,
        GIT_USER="gitbot",
    )
    assert creds.headers("https://charts.example.com/private/index.yaml") == {
        "Authorization": BASIC
    }
    assert creds.headers("oci://ghcr.io/acme/app:1.0") == {"Authorization": "Bearer tok-from-file"}
    pair = base64.b64encode(f"gitbot:inline-{SECRET}".encode()).decode()
    assert creds.headers("https://git.example.com/org/repo") == {"Authorization": f"Basic {pair}"}


def test_an_empty_file_configures_nothing(tmp_path: Path) -> None:
    creds = _load(tmp_path, "")
    assert creds.headers("https://charts.example.com/") == {}
    assert creds.secrets == frozenset()


# (file text, what the error names) -- every error names the file, the entry's index, the key.
ERRORS = [
    ("url: https://x.example/\n", "must be a list of entries"),
    ("- https://x.example/\n", "entry 0: must be a mapping"),
    ("- url: https://x.example/\n  token: abcd\n  passwd: x\n", "entry 0: unknown key 'passwd'"),
    ("- token: abcd\n", "entry 0: url: missing"),
    ("- url: ftp://x.example/\n  token: abcd\n", "entry 0: url: the scheme must be"),
    ("- url: file:///etc/\n  token: abcd\n", "entry 0: url: the scheme must be"),
    ("- url: https://bot:pw@x.example/\n  token: abcd\n", "entry 0: url: a URL with user info"),
    ("- url: https://x.example/?a=1\n  token: abcd\n", "entry 0: url: a prefix has no query"),
    ("- url: https://x.example:port/\n  token: abcd\n", "entry 0: url: the port is not a number"),
    ("- url: https:///path/\n  token: abcd\n", "entry 0: url: no host"),
    ("- url: https://x.example/\n", "entry 0: token: missing"),
    ("- url: https://x.example/\n  username: bot\n", "entry 0: password: missing"),
    ("- url: https://x.example/\n  password: abcdef\n", "entry 0: username: missing"),
    (
        "- url: https://x.example/\n  username: bot\n  password: abcdef\n  token: abcd\n",
        "entry 0: token: give either",
    ),
    ("- url: https://x.example/\n  username: 'a:b'\n  password: abcdef\n", "entry 0: username:"),
    ("- url: https://x.example/\n  token: {env: NOPE}\n", "entry 0: token: the variable NOPE"),
    ("- url: https://x.example/\n  token: {file: nope}\n", "entry 0: token: cannot read the file"),
    ("- url: https://x.example/\n  token: {vault: x}\n", "entry 0: token: must be a string"),
    ("- url: https://x.example/\n  token: {env: A, file: b}\n", "entry 0: token: must be a"),
    ("- url: https://x.example/\n  token: ''\n", "entry 0: token: empty"),
    ("- url: https://x.example/\n  token: abc\n", "entry 0: token: shorter than 4"),
    ('- url: https://x.example/\n  token: "ab\\ncd"\n', "entry 0: token: holds a control"),
    ("- url: https://x.example/\n  token: abc€def\n", "entry 0: token: holds a space or"),
    ("- url: https://x.example/\n  token: abc def\n", "entry 0: token: holds a space or"),
    (
        "- url: https://a.example/\n  token: abcd\n- url: https://A.example:443/\n  token: efgh\n",
        "entry 1: url: the same prefix as entry 0",
    ),
    (
        "- url: oci://r.example/acme/\n  token: abcd\n- url: https://r.example/v2/acme/\n"
        "  token: efgh\n",
        "entry 1: url: the same prefix as entry 0",
    ),
]


@pytest.mark.parametrize(("text", "said"), ERRORS)
def test_every_error_names_the_file_the_entry_and_the_key(
    tmp_path: Path, text: str, said: str
) -> None:
    message = _error(tmp_path, text)
    assert message.startswith(f"source credentials {tmp_path / 'creds.yaml'}: ")
    assert said in message


@pytest.mark.parametrize(
    "text",
    [
        "- url: https://x.example/\n  token: {env: T}\n  bogus: 1\n",
        f"- url: https://x.example/\n  username: 'b:{SECRET}'\n  password: {{env: T}}\n",
        f'- url: https://x.example/\n  token: "{SECRET}\\x7f"\n',
        f"- url: https://bot:{SECRET}@x.example/\n  token: {{env: T}}\n",
        f"- url: https://x.example/\n  token: [{SECRET}]\n",
        f"- url: https://x.example/\n  token: {SECRET}\n  password: {{env: T}}\n",
        f"- url: https://x.example/\n  token: {SECRET}\n- {{url: 'https://y.example/', token: [\n",
    ],
)
def test_no_error_names_a_secret_value(tmp_path: Path, text: str) -> None:
    message = _error(tmp_path, text, T=SECRET)
    assert SECRET not in message


def test_a_credential_goes_to_its_own_scheme_host_port_and_path_only(tmp_path: Path) -> None:
    creds = _load(
        tmp_path, "- url: https://a.example/charts/\n  username: bot\n  password: p4ssword\n"
    )
    assert creds.headers("https://a.example/charts/index.yaml")
    assert creds.headers("https://A.EXAMPLE:443/charts/x/y.tgz")
    for other in [
        "https://a.example.evil/charts/index.yaml",
        "http://a.example/charts/index.yaml",
        "https://a.example:8443/charts/index.yaml",
        "https://a.example/chartsx/index.yaml",
        "https://a.example/other/index.yaml",
        "https://evil.example/a.example/charts/index.yaml",
        "https://a.example@evil.example/charts/index.yaml",
        "https://bot:x@a.example/charts/index.yaml",
        "oci://a.example/charts/x",
    ]:
        assert creds.headers(other) == {}, other


def test_the_longest_prefix_wins(tmp_path: Path) -> None:
    creds = _load(
        tmp_path,
        "- url: https://a.example/\n  token: wide-token\n"
        "- url: https://a.example/team/private/\n  token: narrow-token\n"
        "- url: https://a.example/team\n  token: middle-token\n",
    )
    assert creds.headers("https://a.example/x")["Authorization"] == "Bearer wide-token"
    assert creds.headers("https://a.example/team/x")["Authorization"] == "Bearer middle-token"
    got = creds.headers("https://a.example/team/private/x")
    assert got["Authorization"] == "Bearer narrow-token"


def test_an_oci_prefix_covers_the_registrys_v2_urls_of_that_repository(tmp_path: Path) -> None:
    creds = _load(tmp_path, "- url: oci://registry.example:5000/acme/\n  token: reg-token\n")
    for url in [
        "oci://registry.example:5000/acme/app",
        "https://registry.example:5000/v2/acme/app/manifests/1.0.0",
        "https://registry.example:5000/v2/acme/app/blobs/sha256:00",
        "http://registry.example:5000/v2/acme/app/tags/list",
    ]:
        assert creds.headers(url) == {"Authorization": "Bearer reg-token"}, url
    for url in [
        "oci://registry.example:5000/other/app",
        "oci://registry.example/acme/app",
        "https://registry.example:5000/acme/app",
        "https://registry.example:5000/v2/other/app/manifests/1",
    ]:
        assert creds.headers(url) == {}, url


HOSTS = st.sampled_from(["a.example", "a.example.evil", "b.example", "example"])
SEGMENTS = st.lists(st.sampled_from(["x", "xy", "team", "private", ""]), max_size=3)


@given(
    prefix=st.tuples(st.sampled_from(["http", "https"]), HOSTS, SEGMENTS, st.booleans()),
    url=st.tuples(st.sampled_from(["http", "https", "oci"]), HOSTS, SEGMENTS),
)
def test_a_header_is_sent_exactly_where_the_allow_list_rule_admits(
    prefix: tuple[str, str, list[str], bool], url: tuple[str, str, list[str]]
) -> None:
    scheme, host, path, slash = prefix
    entry = f"{scheme}://{host}/" + "/".join(path) + ("/" if slash and path else "")
    target = f"{url[0]}://{url[1]}/" + "/".join(url[2])
    creds = credentials.Credentials((credentials.Credential(entry, "", "tok-en"),))
    sent = bool(creds.headers(target))
    # An oci:// reference is fetched from the registry's https URL: that one counts.
    fetched = f"https://{url[1]}/v2/" + "/".join(url[2]) if url[0] == "oci" else target
    assert sent == credentials.download.admitted(fetched, (entry,))
    if sent:  # never another host, nor https's credential over http
        assert url[1] == host
        assert url[0] == scheme or (url[0], scheme) == ("oci", "https")


def test_secrets_hold_every_spelling_and_scrub_removes_them(tmp_path: Path) -> None:
    creds = _load(
        tmp_path,
        "- url: https://a.example/\n  username: bot\n  password: {env: P}\n",
        P=SECRET,
    )
    said = (
        f"HTTP 401 for https://a.example/?p={SECRET} (sent: Authorization: {BASIC}; "
        f"{base64.b64encode(SECRET.encode()).decode()})"
    )
    clean = creds.scrub(said)
    assert SECRET not in clean
    assert BASIC.split()[1] not in clean
    assert base64.b64encode(SECRET.encode()).decode() not in clean
    assert "HTTP 401 for https://a.example/" in clean
    assert creds.secrets >= mask.spellings([SECRET])


def test_git_env_configures_the_header_for_that_remote_only(tmp_path: Path) -> None:
    creds = _load(
        tmp_path,
        "- url: https://git.example/org/\n  username: bot\n  password: {env: P}\n",
        P=SECRET,
    )
    env = creds.git_env("https://git.example/org/repo.git", {"GIT_CONFIG_COUNT": "1", "X": "y"})
    assert env["X"] == "y"
    assert env["GIT_CONFIG_COUNT"] == "3"
    assert env["GIT_CONFIG_KEY_1"] == "http.https://git.example/org/.extraHeader"
    assert env["GIT_CONFIG_VALUE_1"] == f"Authorization: {BASIC}"
    assert env["GIT_CONFIG_KEY_2"] == "http.https://git.example/org/.followRedirects"
    assert creds.git_env("https://git.example/other/repo.git") == {}
    assert creds.git_env("ssh://git.example/org/repo.git") == {}

    # What the real git makes of it: the header for this remote, none for another.
    base = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "GIT_CONFIG_NOSYSTEM": "1"}
    env = creds.git_env("https://git.example/org/repo.git", base)

    def header(url: str) -> str:
        done = subprocess.run(
            ["git", "config", "--get-urlmatch", "http.extraHeader", url],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        return done.stdout.strip()

    assert header("https://git.example/org/repo.git") == f"Authorization: {BASIC}"
    for other in [
        "https://git.example/orgx/repo.git",
        "http://git.example/org/repo.git",
        "https://git.example.evil/org/repo.git",
    ]:
        assert header(other) == "", other


def test_a_policy_with_credentials_reaches_the_pullers_spawned_workers_and_repr_hides_them(
    tmp_path: Path,
) -> None:
    """The puller's plan workers get their SourcePolicy pickled (spawn); a log line
    or traceback showing the objects shows no secret."""
    creds = _load(
        tmp_path, "- url: https://a.example/\n  username: bot\n  password: {env: P}\n", P=SECRET
    )
    policy = SourcePolicy(credentials=creds)

    again = pickle.loads(pickle.dumps(policy))  # noqa: S301 (our own object)

    assert again.headers_for("https://a.example/x") == {"Authorization": BASIC}
    assert again.headers_for("https://b.example/x") == {}
    for shown in (repr(creds), repr(policy), repr(again)):
        assert SECRET not in shown
        assert BASIC.split()[1] not in shown


def test_a_password_outside_ascii_is_sent_as_utf8(tmp_path: Path) -> None:
    creds = _load(tmp_path, "- url: https://a.example/\n  username: bøt\n  password: pässwörd€\n")
    (value,) = creds.headers("https://a.example/").values()
    assert base64.b64decode(value.removeprefix("Basic ")).decode() == "bøt:pässwörd€"
    value.encode("latin-1")  # what http.client sends


def test_the_puller_reads_the_file_at_start_and_stops_on_an_error(tmp_path: Path) -> None:
    from click.testing import CliRunner  # noqa: PLC0415

    from gitops_bot.cli import cli  # noqa: PLC0415

    path = tmp_path / "creds.yaml"
    path.write_text("- url: https://x.example/\n  token: {env: GITOPS_TEST_UNSET_TOKEN}\n")
    result = CliRunner(env={"GITOPS_BOT_SOURCE_CREDENTIALS": str(path)}).invoke(
        cli,
        [
            *("puller", "--repo-url", "https://git.example/r.git", "--env", "dev"),
            *("--kubeconfig", str(tmp_path / "kubeconfig")),
        ],
    )
    assert isinstance(result.exception, ConfigError), result.output
    assert str(result.exception) == (
        f"source credentials {path}: entry 0: token: "
        "the variable GITOPS_TEST_UNSET_TOKEN is not set"
    )
