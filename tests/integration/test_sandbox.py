"""The render sandbox (SECURITY.md, promise 3), with the real helm and kustomize.

Each refusal is checked twice: the message a person reads, and that nothing
leaked (no canary in any output or error, no file written, no connection).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from gitops_bot.core.objects.model import Render
from gitops_bot.core.repo.config import Environment, Source, SourceKind
from gitops_bot.errors import RenderError
from gitops_bot.render import kustomize, sandbox
from gitops_bot.render import render as render_mod
from gitops_bot.render.render import Limits, Tools
from gitops_bot.testing.binaries import Binaries

SECRET = "s3cr3t-outside-the-repo"  # content of a file outside the repository
CANARY = "canary-123"  # a value in the bot's environment

CM = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n"
CHART = "apiVersion: v2\nname: web\nversion: 1.0.0\n"


@pytest.fixture(scope="module")
def tools(binaries: Binaries) -> Tools:
    return Tools(helm=binaries.path("helm"), kustomize=binaries.path("kustomize"))


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """An empty repository, beside a secret file that renders must never read."""
    (tmp_path / "secret.txt").write_text(f"password: {SECRET}\n")
    (tmp_path / "repo").mkdir()
    return tmp_path / "repo"


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())


def env(path: str, *, values: tuple[str, ...] = ()) -> Environment:
    return Environment(name="x", source=Source(kind=SourceKind.AUTO, path=path, values=values))


def refused(environment: Environment, root: Path, tools: Tools, **limits: Any) -> str:
    """The message of the RenderError that rendering raises; checks it leaks nothing."""
    with pytest.raises(RenderError) as caught:
        render_mod.render(environment, root=root, tools=tools, limits=Limits(**limits))
    message = str(caught.value)
    assert SECRET not in message
    assert CANARY not in message
    assert message.startswith(f"rendering {environment.name}: ")
    return message


def dump(render: Render) -> str:
    return repr([m.obj for m in render.manifests])


# --- files outside the repository ------------------------------------------------------


@pytest.mark.parametrize("values", ["../../etc/passwd", "../secret.txt", "/etc/passwd"])
def test_helm_values_outside_the_repository(repo: Path, tools: Tools, values: str) -> None:
    write(repo, {"chart/Chart.yaml": CHART, "chart/templates/cm.yaml": CM.format(name="a")})
    message = refused(env("chart", values=(values,)), repo, tools)
    assert message == f"rendering x: values file {values}: the path escapes the repository"
    assert "root:" not in message


def test_helm_values_through_a_symlink_out(repo: Path, tools: Tools) -> None:
    write(repo, {"chart/Chart.yaml": CHART, "chart/templates/cm.yaml": CM.format(name="a")})
    (repo / "values.yaml").symlink_to(repo.parent / "secret.txt")
    message = refused(env("chart", values=("values.yaml",)), repo, tools)
    assert message == "rendering x: values file values.yaml: the path escapes the repository"


def test_helm_values_url_is_never_fetched(repo: Path, tools: Tools) -> None:
    write(repo, {"chart/Chart.yaml": CHART, "chart/templates/cm.yaml": CM.format(name="a")})
    message = refused(env("chart", values=("https://example.com/values.yaml",)), repo, tools)
    assert message == (
        "rendering x: values file https://example.com/values.yaml: not a file in the repository"
    )


OUT = "is a symbolic link that points outside the repository"


@pytest.mark.parametrize(
    ("files", "link", "path", "message"),
    [
        ({}, "plain/leak.yaml", "plain", f"plain/leak.yaml {OUT}"),
        (
            {"chart/Chart.yaml": CHART},
            "chart/templates/leak.yaml",
            "chart",
            f"chart/templates/leak.yaml {OUT}",
        ),
        (
            # a chart file a template would read with .Files.Get
            {
                "chart/Chart.yaml": CHART,
                "chart/templates/cm.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n"
                'data: {x: {{ .Files.Get "leak.txt" | quote }}}\n',
            },
            "chart/leak.txt",
            "chart",
            f"chart/leak.txt {OUT}",
        ),
        (
            {"kust/kustomization.yaml": "resources: [leak.yaml]\n"},
            "kust/leak.yaml",
            "kust",
            "kust/kustomization.yaml: resources entry leak.yaml points outside the repository",
        ),
        (
            {
                "kust/kustomization.yaml": "resources: [cm.yaml]\n",
                "kust/cm.yaml": CM.format(name="a"),
            },
            "kust/sub/etc",
            "kust",
            f"kust/sub/etc {OUT}",
        ),
        # a folder link deeper down: the walk does not stop at the first level
        ({"plain/cm.yaml": CM.format(name="a")}, "plain/sub/etc", "plain", f"plain/sub/etc {OUT}"),
    ],
)
def test_symlink_out_of_the_repository_is_refused(
    *, repo: Path, tools: Tools, files: dict[str, str], link: str, path: str, message: str
) -> None:
    write(repo, files)
    (repo / link).parent.mkdir(parents=True, exist_ok=True)
    target = repo.parent if link.endswith("etc") else repo.parent / "secret.txt"
    (repo / link).symlink_to(target)
    assert refused(env(path), repo, tools) == f"rendering x: {message}"


def test_helm_would_follow_a_symlink_out(repo: Path, tools: Tools) -> None:
    """The control for the .Files.Get case above: unchecked, helm reads the target."""
    write(
        repo,
        {
            "chart/Chart.yaml": CHART,
            "chart/templates/cm.yaml": 'x: {{ .Files.Get "leak.txt" | quote }}\n',
        },
    )
    (repo / "chart/leak.txt").symlink_to(repo.parent / "secret.txt")
    done = subprocess.run(
        [tools.helm, "template", "x", "./chart"],
        cwd=repo,
        env={"HOME": str(repo.parent)},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert SECRET in done.stdout
    assert refused(env("chart"), repo, tools) == f"rendering x: chart/leak.txt {OUT}"


def test_symlinks_inside_the_repository_work(repo: Path, tools: Tools) -> None:
    write(
        repo, {"shared/cm.yaml": CM.format(name="one"), "shared/more/b.yaml": CM.format(name="two")}
    )
    (repo / "plain").mkdir()
    (repo / "plain/cm.yaml").symlink_to("../shared/cm.yaml")
    (repo / "plain/more").symlink_to("../shared/more")
    (repo / "plain/self").symlink_to(".")  # a loop: walked once, not forever

    render = render_mod.render(env("plain"), root=repo, tools=tools)

    assert [(m.key.name, str(m.origin)) for m in render.manifests] == [
        ("one", "plain/cm.yaml:1 (document 1)"),
        ("two", "plain/more/b.yaml:1 (document 1)"),
    ]


def test_symlink_loop_is_refused(repo: Path, tools: Tools) -> None:
    (repo / "plain").mkdir()
    (repo / "plain/a.yaml").symlink_to("a.yaml")
    assert refused(env("plain"), repo, tools) == "rendering x: plain/a.yaml is a symbolic link loop"


# --- kustomize ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kustomization", "message"),
    [
        (
            "resources: [../../../etc]\n",
            "resources entry ../../../etc points outside the repository",
        ),
        (
            "resources: [/etc/passwd]\n",
            "resources entry /etc/passwd points outside the repository",
        ),
        (
            "bases: [../../../secret.txt]\n",
            "bases entry ../../../secret.txt points outside the repository",
        ),
        (
            "resources: [cm.yaml]\npatches: [{path: ../../../secret.txt}]\n",
            "patches entry ../../../secret.txt points outside the repository",
        ),
        (
            "configMapGenerator: [{name: c, files: [key=../../../secret.txt]}]\n",
            "configMapGenerator entry ../../../secret.txt points outside the repository",
        ),
        (
            "secretGenerator: [{name: c, envs: [../../../secret.txt]}]\n",
            "secretGenerator entry ../../../secret.txt points outside the repository",
        ),
        ("resources: [.]\n", "resources entry . makes a cycle: deploy/app -> deploy/app"),
        (
            "resources:\n- github.com/kubernetes-sigs/kustomize//examples/helloWorld?ref=v5.0.0\n",
            "resources entry github.com/kubernetes-sigs/kustomize//examples/helloWorld?ref=v5.0.0"
            ": the git remote https://github.com/kubernetes-sigs/kustomize is not in the "
            "allow-list; admit it with sources.allow in the base branch's .gitops.yaml or the "
            "bot's --allow-source flag",
        ),
        (
            "resources: [https://example.com/cm.yaml]\n",
            "resources entry https://example.com/cm.yaml: a remote file is not fetched here; "
            "vendor it into the repository, or name a git base "
            "(https://host/org/repo//folder?ref=v1.0.0)",
        ),
        (
            "resources: ['git@github.com:org/repo.git//deploy']\n",
            "resources entry git@github.com:org/repo.git//deploy: a base over SSH or from a "
            "file is not fetched here; write its https:// URL",
        ),
        (
            "resources: [cm.yaml]\npatches: [{path: 'https://example.com/patch.yaml'}]\n",
            "patches entry https://example.com/patch.yaml is remote (a URL); only git bases "
            "named in resources, bases, components are fetched before the render: vendor it "
            "into the repository",
        ),
    ],
)
def test_kustomization_entries_are_checked_before_kustomize_runs(
    repo: Path, tools: Tools, kustomization: str, message: str
) -> None:
    write(
        repo,
        {"deploy/app/kustomization.yaml": kustomization, "deploy/app/cm.yaml": CM.format(name="a")},
    )
    assert refused(env("deploy/app"), repo, tools) == (
        f"rendering x: deploy/app/kustomization.yaml: {message}"
    )


def test_kustomization_entry_through_a_symlink_loop(repo: Path, tools: Tools) -> None:
    write(repo, {"app/kustomization.yaml": "resources: [loop.yaml]\n"})
    (repo / "app/loop.yaml").symlink_to("loop.yaml")
    assert refused(env("app"), repo, tools) == (
        "rendering x: app/kustomization.yaml: resources entry loop.yaml is a symbolic link loop"
    )


def test_kustomizations_including_each_other_are_refused_at_once(repo: Path, tools: Tools) -> None:
    write(
        repo,
        {
            "deploy/app/kustomization.yaml": "resources: [../base]\n",
            "deploy/base/kustomization.yaml": "components: [../app]\n",
        },
    )
    started = time.monotonic()
    assert refused(env("deploy/app"), repo, tools) == (
        "rendering x: deploy/base/kustomization.yaml: components entry ../app makes a cycle: "
        "deploy/app -> deploy/base -> deploy/app"
    )
    assert time.monotonic() - started < 5


def test_only_fetched_remote_bases_pass_the_walk(repo: Path, tools: Tools) -> None:
    entry = "https://example.com/org/base.git//app?ref=v1"
    write(repo, {"app/kustomization.yaml": f"resources: ['{entry}']\n"})

    command = kustomize.command(
        "app", root=repo, tools=tools, fetched=frozenset({entry}), env={"GIT_CONFIG_GLOBAL": "/x"}
    )

    # root-only loading, and no flag that enables plugins, exec functions or the network
    assert command.argv == (
        tools.path("kustomize"),
        "build",
        "--load-restrictor=LoadRestrictionsRootOnly",
        "./app",
    )
    assert command.cwd == str(repo.resolve())
    assert command.env == (("GIT_CONFIG_GLOBAL", "/x"),)
    with pytest.raises(RenderError, match=r"is remote \(a URL\); only git bases named in"):
        kustomize.command("app", root=repo, tools=tools)


EXEC_FUNCTION = """
    apiVersion: example.com/v1
    kind: Canary
    metadata:
      name: c
      annotations:
        config.kubernetes.io/function: |
          exec:
            path: ./fn.sh
"""
CONTAINER_FUNCTION = """
    apiVersion: example.com/v1
    kind: Canary
    metadata:
      name: c
      annotations:
        config.kubernetes.io/function: |
          container:
            image: example.com/writes-a-canary:1
"""
LEGACY_PLUGIN = """
    apiVersion: someteam.example.com/v1
    kind: MyPlugin
    metadata:
      name: p
"""


@pytest.mark.parametrize(
    ("field", "config", "message"),
    [
        (
            "transformers",
            EXEC_FUNCTION,
            "external plugins disabled; unable to load external plugin 'Canary'",
        ),
        (
            "generators",
            EXEC_FUNCTION,
            "external plugins disabled; unable to load external plugin 'Canary'",
        ),
        (
            "validators",
            EXEC_FUNCTION,
            "external plugins disabled; unable to load external plugin 'Canary'",
        ),
        (
            "transformers",
            CONTAINER_FUNCTION,
            "external plugins disabled; unable to load external plugin 'Canary'",
        ),
        (
            "generators",
            LEGACY_PLUGIN,
            "external plugins disabled; unable to load external plugin 'MyPlugin'",
        ),
    ],
)
def test_kustomize_plugins_and_functions_never_run(
    *,
    repo: Path,
    tools: Tools,
    monkeypatch: pytest.MonkeyPatch,
    field: str,
    config: str,
    message: str,
) -> None:
    canary = repo.parent / "canary-file"
    script = f"#!/bin/sh\ntouch '{canary}'\ncat\n"
    # A legacy exec plugin where the bot's own environment would point kustomize.
    plugin_home = repo.parent / "plugins"
    plugin = plugin_home / "someteam.example.com/v1/myplugin/MyPlugin"
    write(
        repo,
        {
            "app/kustomization.yaml": f"resources: [cm.yaml]\n{field}: [fn.yaml]\n",
            "app/cm.yaml": CM.format(name="a"),
            "app/fn.yaml": config,
            "app/fn.sh": script,
        },
    )
    plugin.parent.mkdir(parents=True)
    plugin.write_text(script)
    for executable in (repo / "app/fn.sh", plugin):
        executable.chmod(0o755)
    monkeypatch.setenv("KUSTOMIZE_PLUGIN_HOME", str(plugin_home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(plugin_home))

    message_seen = refused(env("app"), repo, tools)

    assert message_seen.startswith("rendering x: running kustomize build app: exit code 1: ")
    assert message in message_seen
    assert not canary.exists()
    if config is not CONTAINER_FUNCTION:  # (that one would need a container runtime)
        # The control: with the flags the bot never passes, the same files do run the script.
        subprocess.run(
            [tools.kustomize, "build", "--enable-alpha-plugins", "--enable-exec", "app"],
            cwd=repo,
            capture_output=True,
            check=False,
            timeout=60,
        )
        assert canary.exists()


def test_kustomize_never_pulls_a_helm_chart_itself(repo: Path, tools: Tools) -> None:
    # --enable-helm is on for helmCharts (render.helmcharts places the charts;
    # tests/integration/test_helmcharts.py); an entry kustomize would pull the
    # newest version of is refused before it runs.
    write(
        repo, {"app/kustomization.yaml": "helmCharts: [{name: web, repo: https://example.com}]\n"}
    )
    assert refused(env("app"), repo, tools) == (
        "rendering x: app/kustomization.yaml: helmCharts entry web: version: none given, "
        "so kustomize would pull the newest; pin an exact version, or allow floating "
        "sources for this environment (policy.floating-sources: true)"
    )


def test_kustomize_alias_bomb_is_refused_before_kustomize_expands_it(
    repo: Path, tools: Tools
) -> None:
    write(
        repo,
        {
            "app/kustomization.yaml": "resources: [bomb.yaml]\n",
            "app/bomb.yaml": CM.format(name="bomb") + "data:\n" + _bomb(indent="  "),
        },
    )
    started = time.monotonic()
    assert refused(env("app"), repo, tools) == (
        "rendering x: app/bomb.yaml:11 (document 1): YAML aliases expand to more than 100000 "
        "nodes; refusing a possible alias bomb"
    )
    assert time.monotonic() - started < 5  # kustomize itself would spend minutes on it


# --- helm ---------------------------------------------------------------------------


def test_helm_lookup_and_dns_reach_nothing(
    repo: Path, tools: Tools, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A "cluster" that the bot's environment points at: helm must never connect to it.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.setblocking(False)
        port = listener.getsockname()[1]
        kubeconfig = repo.parent / "kubeconfig"
        kubeconfig.write_text(
            textwrap.dedent(f"""
                apiVersion: v1
                kind: Config
                clusters: [{{name: c, cluster: {{server: "https://127.0.0.1:{port}"}}}}]
                users: [{{name: u, user: {{token: {CANARY}}}}}]
                contexts: [{{name: c, context: {{cluster: c, user: u}}}}]
                current-context: c
            """)
        )
        monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
        write(
            repo,
            {
                "chart/Chart.yaml": CHART,
                "chart/templates/cm.yaml": """
                    apiVersion: v1
                    kind: ConfigMap
                    metadata: {name: probe}
                    data:
                      secret: {{ lookup "v1" "Secret" "kube-system" "token" | toJson | quote }}
                      namespaces: {{ lookup "v1" "Namespace" "" "" | toJson | quote }}
                      dns: {{ getHostByName "kubernetes.default.svc" | quote }}
                      public: {{ getHostByName "example.com" | quote }}
                """,
            },
        )

        render = render_mod.render(env("chart"), root=repo, tools=tools)

        (probe,) = render.manifests
        assert probe.obj["data"] == {"secret": "{}", "namespaces": "{}", "dns": "", "public": ""}
        with pytest.raises(BlockingIOError):
            listener.accept()  # nobody knocked
    assert CANARY not in dump(render)


def test_helm_template_that_loops_meets_the_time_limit(repo: Path, tools: Tools) -> None:
    write(
        repo,
        {
            "chart/Chart.yaml": CHART,
            "chart/templates/loop.yaml": (
                "{{ range until 100000 }}{{ range until 100000 }}{{ end }}{{ end }}\n"
            ),
        },
    )
    started = time.monotonic()
    assert refused(env("chart"), repo, tools, timeout_s=2) == (
        "rendering x: running helm template x chart: took longer than 2 s "
        "(the render time limit); stopped it"
    )
    assert time.monotonic() - started < 10


def test_helm_huge_output_meets_the_output_limit(repo: Path, tools: Tools) -> None:
    write(
        repo,
        {
            "chart/Chart.yaml": CHART,
            "chart/templates/big.yaml": CM.format(name="big")
            + 'data: {big: {{ repeat 4000000 "x" | quote }}}\n',
        },
    )
    assert refused(env("chart"), repo, tools, max_output_bytes=1 << 20) == (
        "rendering x: running helm template x chart: wrote more than 1048576 bytes of output "
        "(the render output limit); stopped it"
    )


def test_helm_memory_hog_meets_the_memory_limit(repo: Path, tools: Tools) -> None:
    assert shutil.which("prlimit", path=sandbox.SAFE_PATH), "util-linux's prlimit bounds memory"
    write(
        repo,
        {
            "chart/Chart.yaml": CHART,
            "chart/templates/hog.yaml": '# {{ len (repeat 3000000000 "x") }}\n',
        },
    )
    limit = 1536 << 20
    assert refused(env("chart"), repo, tools, max_memory_bytes=limit) == (
        f"rendering x: running helm template x chart: ran out of memory "
        f"(the render limit is {limit} bytes)"
    )


# --- YAML and file size caps ---------------------------------------------------------


def _bomb(indent: str = "") -> str:
    lines = [f"{indent}a0: &a0 [" + ", ".join(["lol"] * 9) + "]"]
    for i in range(1, 9):
        lines.append(f"{indent}a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def test_plain_alias_bomb_is_refused(repo: Path, tools: Tools) -> None:
    write(repo, {"plain/bomb.yaml": _bomb()})
    assert refused(env("plain"), repo, tools) == (
        "rendering x: plain/bomb.yaml:6 (document 1): YAML aliases expand to more than 100000 "
        "nodes; refusing a possible alias bomb"
    )


def test_plain_huge_file_is_refused(repo: Path, tools: Tools) -> None:
    write(
        repo, {"plain/huge.yaml": CM.format(name="huge") + "data: {x: " + "y" * (2 << 20) + "}\n"}
    )
    assert refused(env("plain"), repo, tools, max_output_bytes=1 << 20) == (
        "rendering x: plain/huge.yaml: the manifests add up to more than 1048576 bytes "
        "(the render output limit)"
    )


# --- the environment and the network -------------------------------------------------


def test_the_bots_environment_never_reaches_a_render(
    repo: Path, tools: Tools, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITOPS_CANARY", CANARY)
    write(
        repo,
        {
            # helm has no env or expandenv function: a template cannot ask
            "env/Chart.yaml": CHART,
            "env/templates/cm.yaml": 'x: {{ env "GITOPS_CANARY" }}\n',
            "expand/Chart.yaml": CHART,
            "expand/templates/cm.yaml": 'x: {{ expandenv "$GITOPS_CANARY" }}\n',
            # a key without a value in an env file: kustomize leaves it empty
            "kust/kustomization.yaml": "configMapGenerator: [{name: c, envs: [app.env]}]\n",
            "kust/app.env": "GITOPS_CANARY\nMODE=dev\n",
        },
    )
    assert 'function "env" not defined' in refused(env("env"), repo, tools)
    assert 'function "expandenv" not defined' in refused(env("expand"), repo, tools)
    render = render_mod.render(env("kust"), root=repo, tools=tools)
    assert render.manifests[0].obj["data"] == {"GITOPS_CANARY": "", "MODE": "dev"}
    assert CANARY not in dump(render)


def test_run_builds_the_environment_from_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GITOPS_CANARY", CANARY)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "kubeconfig"))
    out = sandbox.run(sandbox.Command(("env",), str(tmp_path), "env"), limits=Limits())
    seen = dict(line.split("=", 1) for line in out.splitlines())
    assert sorted(seen) == [
        "HELM_CACHE_HOME",
        "HELM_CONFIG_HOME",
        "HELM_DATA_HOME",
        "HELM_PLUGINS",
        "HOME",
        "HTTPS_PROXY",
        "HTTP_PROXY",
        "KUSTOMIZE_PLUGIN_HOME",
        "LANG",
        "LC_ALL",
        "NO_PROXY",
        "PATH",
        "TMPDIR",
        "http_proxy",
        "https_proxy",
        "no_proxy",
    ]
    assert seen["PATH"] == sandbox.SAFE_PATH
    # Go's HTTP client (kustomize, helm) goes through a proxy that is a closed
    # port: no request leaves, even where there is no network namespace.
    assert {seen[k] for k in seen if k.lower().endswith("_proxy") and k.lower() != "no_proxy"} == {
        "http://127.0.0.1:9"
    }
    assert seen["NO_PROXY"] == seen["no_proxy"] == ""
    assert seen["LC_ALL"] == seen["LANG"] == "C.UTF-8"
    home = Path(seen["HOME"])
    assert not home.exists()  # a fresh folder, gone after the run
    assert all(
        Path(seen[k]).is_relative_to(home.parent)
        for k in seen
        if k.endswith(("HOME", "PLUGINS", "TMPDIR")) and "PROXY" not in k
    )
    assert CANARY not in out


def test_run_reads_nothing_from_stdin(tmp_path: Path) -> None:
    out = sandbox.run(sandbox.Command(("cat",), str(tmp_path), "cat"), limits=Limits(timeout_s=5))
    assert out == ""


def test_network_is_cut_where_user_namespaces_allow_it(tmp_path: Path) -> None:
    out = sandbox.run(
        sandbox.Command(("cat", "/proc/net/dev"), str(tmp_path), "cat /proc/net/dev"),
        limits=Limits(),
    )
    interfaces = {line.split(":")[0].strip() for line in out.splitlines()[2:]}
    if sandbox.network_isolation() is not None:
        assert interfaces == {"lo"}
    else:  # documented: without user namespaces the tool shares the host's network
        assert interfaces == {
            line.split(":")[0].strip()
            for line in Path("/proc/net/dev").read_text().splitlines()[2:]
        }


def test_run_stops_what_the_tool_left_behind(tmp_path: Path) -> None:
    marker = tmp_path / "late"
    command = sandbox.Command(
        ("sh", "-c", f"(sleep 3; touch '{marker}') & exit 0"), str(tmp_path), "sh"
    )
    with pytest.raises(RenderError) as caught:
        sandbox.run(command, limits=Limits(timeout_s=1))
    assert (
        str(caught.value) == "running sh: took longer than 1 s (the render time limit); stopped it"
    )
    time.sleep(3)
    assert not marker.exists()


def test_run_reports_the_tail_of_stderr(tmp_path: Path) -> None:
    script = "for i in $(seq 1 100); do echo line $i >&2; done; exit 3"
    with pytest.raises(RenderError) as caught:
        sandbox.run(sandbox.Command(("sh", "-c", script), str(tmp_path), "noisy"), limits=Limits())
    lines = [f"line {i}" for i in range(61, 101)]
    assert str(caught.value) == "running noisy: exit code 3: " + "\n".join(lines)


# --- names are data ---------------------------------------------------------------------


def test_shell_metacharacters_in_names_are_data(repo: Path, tools: Tools) -> None:
    names = {
        "plain": "deploy/a;touch pwned",
        "kustomize": "deploy/$(touch pwned)",
        "flag": "deploy/--enable-alpha-plugins",
        "helm": "charts/`touch pwned` && x",
    }
    values = "values/$(id),x;touch pwned.yaml"  # a comma: helm reads --values as CSV
    write(
        repo,
        {
            f"{names['plain']}/cm.yaml": CM.format(name="plain"),
            f"{names['kustomize']}/kustomization.yaml": "resources: [cm.yaml]\n",
            f"{names['kustomize']}/cm.yaml": CM.format(name="kustomize"),
            f"{names['flag']}/kustomization.yaml": "resources: [cm.yaml]\n",
            f"{names['flag']}/cm.yaml": CM.format(name="flag"),
            f"{names['helm']}/Chart.yaml": CHART,
            f"{names['helm']}/templates/cm.yaml": CM.format(name="{{ .Values.name }}"),
            f"{names['helm']}/values.yaml": "name: chart-default\n",
            values: "name: from-values\n",
        },
    )
    origins = {}
    for kind, path in names.items():
        environment = env(path, values=(values,) if kind == "helm" else ())
        render = render_mod.render(environment, root=repo, tools=tools)
        (manifest,) = render.manifests
        origins[manifest.key.name] = str(manifest.origin)

    assert origins == {
        "plain": "deploy/a;touch pwned/cm.yaml:1 (document 1)",
        "kustomize": "deploy/$(touch pwned)/cm.yaml:1 (document 1)",
        "flag": "deploy/--enable-alpha-plugins/cm.yaml:1 (document 1)",
        "from-values": "charts/`touch pwned` && x/templates/cm.yaml (document 1)",
    }
    assert not [p for p in repo.parent.rglob("pwned") if p.is_file()]
    assert not Path("pwned").exists()
