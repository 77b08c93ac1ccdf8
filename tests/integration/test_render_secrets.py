"""No Secret value leaves through a failed render or another object's diff.

Real git, the real helm and kustomize, through the CLI in every format. Each
case plants a canary where a Secret value lives (a values file, a Secret
manifest, a generator) and breaks the render so that the tool's error is
the text most likely to quote it; then no output may hold the canary, in
clear or in any spelling the bot promises to cover.
"""

from __future__ import annotations

import base64
import json
import re
import textwrap
import urllib.parse
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from gitops_bot.cli import cli
from gitops_bot.core.pr import memory
from gitops_bot.core.repo.config import Environment, Source, SourceKind
from gitops_bot.core.report import json as report_json
from gitops_bot.core.report import markdown
from gitops_bot.core.report import text as report_text
from gitops_bot.core.report.plan import Plan
from gitops_bot.errors import RenderError
from gitops_bot.planner import plan as plan_app
from gitops_bot.render import render
from gitops_bot.render.render import Tools
from gitops_bot.vcs.git import Git
from tests.fakes.github_server import GitHubServer
from tests.integration.shop import NEW_PASSWORD, git
from tests.integration.test_run_github import REPO, comments, mirror, run_as_actions, server

CANARY = "canary-Zq81-hunter2"
CANARY_B64 = base64.b64encode(CANARY.encode()).decode()
FORMATS = ("json", "markdown", "text")
__all__ = ["server"]  # the GitHub emulator fixture, shared with test_run_github
ALWAYS = {
    ".gitops.yaml": """
        version: 1
        environments:
          app:
            path: app
            namespace: shop
    """
}


def spellings(value: str) -> list[str]:
    return [
        value,
        base64.b64encode(value.encode()).decode(),
        urllib.parse.quote(value, safe=""),
        json.dumps(value)[1:-1],
    ]


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))


def repo(tmp_path: Path, base: dict[str, str], head: dict[str, str]) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    write(root, {**ALWAYS, **base})
    git(root, "add", "-A")
    git(root, "commit", "-qm", "base")
    git(root, "checkout", "-q", "-b", "change")
    write(root, head)
    git(root, "add", "-A")
    git(root, "commit", "-qm", "change")
    return root


def plan(root: Path, fmt: str) -> Result:
    return CliRunner().invoke(
        cli,
        ["plan", "--repo", str(root), "--base", "main", "--head", "change", "--format", fmt],
    )


def assert_no_canary(result: Result, canary: str = CANARY) -> None:
    for spelling in spellings(canary):
        assert spelling not in result.output, (spelling, result.output)


CHART = {
    "app/Chart.yaml": "apiVersion: v2\nname: app\nversion: 0.1.0\n",
    "app/values.yaml": f"db:\n  user: app\n  password: {CANARY}\n",
    "app/templates/secret.yaml": """
        apiVersion: v1
        kind: Secret
        metadata: {name: db}
        stringData:
          password: {{ .Values.db.password | quote }}
    """,
}
# Ways a render fails with an error that would quote the value.
BROKEN: dict[str, dict[str, str]] = {
    "helm fail quoting a values file": {
        "app/templates/check.yaml": (
            '{{ fail (printf "password %s is too weak" .Values.db.password) }}\n'
        ),
    },
    "helm required quoting a value": {
        "app/templates/check.yaml": (
            '{{ required (printf "db.host is needed with %s" .Values.db.password)'
            " .Values.db.host }}\n"
        ),
    },
    "helm fail quoting it base64": {
        "app/templates/check.yaml": "{{ fail (.Values.db.password | b64enc) }}\n",
    },
    "helm fail quoting a file of the chart": {
        "app/files/token.txt": f"{CANARY}\n",
        "app/templates/check.yaml": '{{ fail (.Files.Get "files/token.txt") }}\n',
    },
    "helm template that does not parse as YAML": {
        "app/templates/secret.yaml": """
            apiVersion: v1
            kind: Secret
            metadata: {name: db}
            stringData:
              password: {{ .Values.db.password }}
               broken: [
        """,
    },
}


@pytest.mark.usefixtures("tools_env")
@pytest.mark.parametrize("case", sorted(BROKEN))
@pytest.mark.parametrize("at", ["head", "base"])
def test_a_failed_helm_render_quotes_no_secret_value(tmp_path: Path, case: str, at: str) -> None:
    broken = {**CHART, **BROKEN[case]}
    fixed = {"app/values.yaml": CHART["app/values.yaml"] + "  note: fixed\n"}
    root = repo(tmp_path, broken, fixed) if at == "base" else repo(tmp_path, CHART, broken)
    if at == "base":  # the fix leaves the broken file in place: delete it at the head
        for name in BROKEN[case]:
            if name not in CHART:
                git(root, "rm", "-q", name)
            else:
                write(root, {name: CHART[name]})
                git(root, "add", name)
        git(root, "commit", "-qm", "fix")
    for fmt in FORMATS:
        result = plan(root, fmt)
        assert result.exit_code == 2, result.output
        assert "rendering app" in result.output
        assert_no_canary(result)


KUSTOMIZE = {
    "app/kustomization.yaml": "resources: [secret.yaml]\n",
    "app/secret.yaml": f"""
        apiVersion: v1
        kind: Secret
        metadata: {{name: db}}
        data:
          password: {CANARY_B64}
    """,
}
KUSTOMIZE_BROKEN: dict[str, dict[str, str]] = {
    "Secret that is not YAML": {
        "app/secret.yaml": f"""
            apiVersion: v1
            kind: Secret
            metadata: {{name: db}}
            data:
              password: {CANARY_B64}
             other: [
        """,
    },
    "Secret data that is a string": {
        "app/secret.yaml": f"""
            apiVersion: v1
            kind: Secret
            metadata: {{name: db}}
            stringData: {CANARY}
        """,
    },
    "generator env file with a bad line": {
        "app/kustomization.yaml": "secretGenerator:\n- name: db\n  envs: [db.env]\n",
        "app/db.env": f"USER=app\n{CANARY} is not a key\n",
    },
    "generator literal that is malformed": {
        "app/kustomization.yaml": (
            f"secretGenerator:\n- name: db\n  literals: ['{CANARY}', 'P=x']\n"
        ),
    },
    "generator duplicate keys": {
        "app/kustomization.yaml": (
            f"secretGenerator:\n- name: db\n  literals: [P={CANARY}, P={CANARY}-2]\n"
        ),
    },
    "generator file that is missing next to one that is there": {
        "app/kustomization.yaml": (
            "secretGenerator:\n- name: db\n  files: [key=key.pem, missing.pem]\n"
        ),
        "app/key.pem": f"{CANARY}\n",
    },
    "patch that does not apply to the Secret": {
        "app/kustomization.yaml": (
            "resources: [secret.yaml]\n"
            'patches:\n- patch: \'[{"op": "replace", "path": "/data/none", "value": x}]\'\n'
            "  target: {kind: Secret, name: db}\n"
        ),
    },
}


@pytest.mark.usefixtures("tools_env")
@pytest.mark.parametrize("case", sorted(KUSTOMIZE_BROKEN))
def test_a_failed_kustomize_render_quotes_no_secret_value(tmp_path: Path, case: str) -> None:
    root = repo(tmp_path, KUSTOMIZE, KUSTOMIZE_BROKEN[case])
    for fmt in FORMATS:
        result = plan(root, fmt)
        # kustomize takes some of these (stringData: <string>, an env line
        # with no `=`): then the plan shows them, masked.
        assert result.exit_code in (1, 2), result.output
        if result.exit_code == 2:
            assert "rendering app" in result.output
        assert_no_canary(result)


@pytest.mark.parametrize(
    "text",
    [
        f"kind: Secret\nstringData:\n  password: '{CANARY}\n  x: [\n",
        f"kind: Secret\nstringData:\n  password: {CANARY}\n\tx: 1\n",
        f"kind: Secret\ndata:\n  password: !!binary {CANARY_B64}x\n",
        f"kind: Secret\nmetadata: {{name: {CANARY}}}\nstringData: {{a: {CANARY}}}\n---\n: [\n",
    ],
)
def test_a_plain_secret_that_is_not_yaml_quotes_no_value(tmp_path: Path, text: str) -> None:
    """Plain sources run no tool: the bot's own parser's error, scrubbed too."""
    write(tmp_path, {"app/secret.yaml": text})
    env = Environment("app", Source(SourceKind.PLAIN, "app"), namespace="shop")
    with pytest.raises(RenderError) as caught:
        render.render(env, root=tmp_path, tools=Tools(helm="helm", kustomize="kustomize"))
    said = str(caught.value)
    assert said.startswith("rendering app: ")
    assert not any(s in said for s in spellings(CANARY)), said
    assert caught.value.__cause__ is None  # a logged traceback shows no clear text either


@pytest.mark.usefixtures("tools_env")
@pytest.mark.parametrize("fmt", FORMATS)
def test_a_secret_value_inside_another_object_is_masked(tmp_path: Path, fmt: str) -> None:
    """A ConfigMap's DSN holds the password: clear, URL-encoded, base64."""
    password = "p@ss/w:rd-Zq81"

    def files(mode: str) -> dict[str, str]:
        quoted = urllib.parse.quote(password, safe="")
        encoded = base64.b64encode(f"app:{password}".encode()).decode()
        return {
            "app/kustomization.yaml": "resources: [objects.yaml]\n",
            "app/objects.yaml": f"""
                apiVersion: v1
                kind: Secret
                metadata: {{name: db}}
                stringData: {{password: "{password}"}}
                ---
                apiVersion: v1
                kind: ConfigMap
                metadata: {{name: web}}
                data:
                  dsn: "postgres://app:{password}@db:5432/shop?mode={mode}"
                  url: "https://app:{quoted}@db/{mode}"
                  basic: "Basic {encoded} {mode}"
            """,
        }

    root = repo(tmp_path, files("old"), files("new"))
    result = plan(root, fmt)
    assert result.exit_code == 1, result.output
    assert "mode=new" in result.output  # the ConfigMap's diff is shown
    assert_no_canary(result, password)
    assert base64.b64encode(f"app:{password}".encode()).decode() not in result.output


def every_format(root: Path) -> tuple[Plan, dict[str, str]]:
    """The plan of main..change and what each format makes of it (plain
    sources only: no tool runs, so none is needed)."""
    result = plan_app.plan(
        repo=Git(root),
        request=plan_app.Request(base="main", head="change"),
        tools=Tools(helm="helm", kustomize="kustomize"),
        mask_key=b"k" * 32,
    )
    comments = [p for env in result.envs for p in markdown.env_comment(result, env)]
    return result, {
        "json": report_json.render(result),
        "markdown": "\n".join([markdown.summary(result), *comments]),
        "text": report_text.render(result, color=False),
    }


PLAIN_CONFIG = {".gitops.yaml": "version: 1\nenvironments:\n  app:\n    plain: app\n"}


def test_a_failed_render_has_no_hash_and_unknown_drift_in_every_format(tmp_path: Path) -> None:
    good = {**PLAIN_CONFIG, "app/secret.yaml": KUSTOMIZE["app/secret.yaml"]}
    broken = {"app/secret.yaml": f"kind: Secret\nstringData:\n  password: '{CANARY}\n  x: [\n"}
    root = repo(tmp_path, good, broken)
    result, outputs = every_format(root)

    (env,) = result.envs
    assert env.render_hash is None  # not the hash of an empty render
    assert not env.drift_known
    doc = json.loads(outputs["json"])["environments"][0]
    assert doc["render_hash"] is None
    assert doc["drift"] is None
    assert "sha256:" not in outputs["markdown"]
    assert "sha256:" not in outputs["text"]
    assert re.search(r"\| `app` .*\| unknown +\| error", outputs["markdown"])
    assert "drift: unknown" in outputs["text"]
    for out in outputs.values():
        assert not any(s in out for s in spellings(CANARY)), out


def test_a_base_that_fails_still_shows_the_head_render_hash(tmp_path: Path) -> None:
    broken = {**PLAIN_CONFIG, "app/secret.yaml": f"kind: Secret\ndata: [{CANARY_B64}\n"}
    root = repo(tmp_path, broken, {"app/secret.yaml": KUSTOMIZE["app/secret.yaml"]})
    result, outputs = every_format(root)

    (env,) = result.envs
    assert env.error is not None
    assert env.error.startswith("at the merge base, not in this change: rendering app: ")
    assert env.render_hash is not None  # the head did render: its hash is true
    for out in outputs.values():
        assert not any(s in out for s in spellings(CANARY)), out


@pytest.mark.parametrize(
    "holder",
    [
        "dsn: postgres://app:{p}@db:5432/shop",
        "url: https://app:{q}@db/",
        'json: \'{{"password": "{p}"}}\'',
        "basic: Basic {b}",
        "env: |\n    USER=app\n    PASSWORD={p}",
    ],
)
def test_a_secret_value_in_another_object_is_masked_in_every_format(
    tmp_path: Path, holder: str
) -> None:
    password = "p@ss/w:rd-Zq81"
    held = holder.format(
        p=password,
        q=urllib.parse.quote(password, safe=""),
        b=base64.b64encode(f"app:{password}".encode()).decode(),
    )

    def files(mode: str) -> dict[str, str]:
        return {
            "app/secret.yaml": (
                f"apiVersion: v1\nkind: Secret\nmetadata: {{name: db}}\n"
                f"stringData: {{password: '{password}'}}\n"
            ),
            "app/config.yaml": (
                f"apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: web}}\n"
                f"data:\n  mode: {mode}\n  {held}\n"
            ),
        }

    root = repo(tmp_path, {**PLAIN_CONFIG, **files("old")}, files("new"))
    result, outputs = every_format(root)

    assert result.envs[0].error is None
    for name, out in outputs.items():
        assert "mode: new" in out, name  # the ConfigMap's diff is there
        assert not any(s in out for s in spellings(password)), (name, out)
        assert base64.b64encode(f"app:{password}".encode()).decode() not in out


@pytest.mark.parametrize(
    "kustomization",
    [
        f"resources: [a.yaml\nsecretGenerator:\n- name: db\n  literals: [P={CANARY}]\n",
        f"secretGenerator:\n- name: db\n  literals:\n  - 'P={CANARY}'\n\t- x\n",
        f"- secretGenerator: {CANARY}\n",
    ],
)
def test_a_kustomization_that_is_not_yaml_is_an_error_of_its_env(
    tmp_path: Path, kustomization: str
) -> None:
    """Not an abort of the whole plan: the env is planned, fails, and says why."""
    config = {".gitops.yaml": "version: 1\nenvironments:\n  app:\n    kustomize: app\n"}
    good = {**config, "app/kustomization.yaml": "resources: []\n"}
    root = repo(tmp_path, good, {"app/kustomization.yaml": kustomization})
    result, outputs = every_format(root)

    (env,) = result.envs
    assert env.error is not None
    assert env.error.startswith("rendering app: ")
    for out in outputs.values():
        assert not any(s in out for s in spellings(CANARY)), out


@pytest.mark.usefixtures("tools_env")
def test_run_on_github_posts_no_value_of_a_failed_render(
    shop: Path, server: GitHubServer, tmp_path: Path
) -> None:
    """`run` as Actions starts it: comments, statuses, the job summary, the
    step outputs and the log hold no value of renders that failed at the head."""
    git(shop, "checkout", "-q", "change")
    # prod: kustomize reads a Secret that is not YAML; cache-prod: helm fails
    # quoting a value of the environment's values file.
    (shop / "deploy/overlays/prod/db-secret.yaml").write_text(
        f"apiVersion: v1\nkind: Secret\nmetadata: {{name: db-credentials}}\n"
        f"stringData:\n  password: {NEW_PASSWORD}\n x: [\n"
    )
    (shop / "envs/prod/cache-values.yaml").write_text(f"replicas: 3\ntoken: {CANARY}\n")
    (shop / "charts/cache/templates/check.yaml").write_text(
        '{{ if .Values.token }}{{ fail (printf "token %s is refused" .Values.token) }}{{ end }}'
    )
    git(shop, "add", "-A")
    git(shop, "commit", "-qm", "break prod and cache-prod")
    git(shop, "checkout", "-q", "main")
    mirror(server, shop)

    result = run_as_actions(shop, server, tmp_path, "opened")

    written = comments(server)
    assert "stopped with an error" in written["prod"][1]
    assert "stopped with an error" in written["cache-prod"][1]
    # No render hash is remembered for them: an approval can never bind to a
    # render that failed (as it could to the hash of an empty one).
    head = server.repos[REPO].pulls[1].head_sha
    remembered: dict[str, str] = {}
    for _, body in written.values():
        for planned in memory.decode(body).state.planned:
            if planned.sha == head:
                remembered |= planned.hashes
    assert "dev" in remembered
    assert not {"prod", "cache-prod"} & set(remembered)
    everything = "\n".join(
        [
            result.output,
            (tmp_path / "output").read_text(),
            (tmp_path / "summary.md").read_text(),
            *(c.body for c in server.comments_on(REPO, 1)),
            *(str(s) for s in server.repos[REPO].statuses),
            *server.log,
        ]
    )
    for secret in (NEW_PASSWORD, CANARY):
        for spelling in spellings(secret):
            assert spelling not in everything, spelling


@pytest.mark.usefixtures("tools_env")
def test_a_scrubbed_render_error_still_names_what_the_configuration_shows(
    tmp_path: Path,
) -> None:
    """A values scalar that is also the chart's folder, the release, the
    environment or its namespace (`name: podinfo`, podinfo's own chart) is
    public in `.gitops.yaml` already: hiding it would make the error
    unreadable ("running helm template *** charts/***") and hide nothing."""
    config = """
        version: 1
        environments:
          podinfo:
            helm: {chart: charts/podinfo, values: [envs/podinfo-prod.yaml]}
            namespace: podinfo-prod
    """
    chart = {
        ".gitops.yaml": config,
        "charts/podinfo/Chart.yaml": "apiVersion: v2\nname: podinfo\nversion: 0.1.0\n",
        "charts/podinfo/values.yaml": f"name: podinfo\ndb:\n  password: {CANARY}\n",
        "charts/podinfo/templates/secret.yaml": CHART["app/templates/secret.yaml"],
        "envs/podinfo-prod.yaml": "namespace: podinfo-prod\n",
    }
    broken = {
        **chart,
        "charts/podinfo/templates/check.yaml": (
            '{{ fail (printf "%s: password %s is too weak" .Values.name .Values.db.password) }}\n'
        ),
    }
    root = repo(tmp_path, chart, broken)
    for fmt in FORMATS:
        result = plan(root, fmt)
        assert result.exit_code == 2, result.output
        assert_no_canary(result)
        assert "helm template podinfo charts/podinfo" in result.output, result.output
        assert "(podinfo/templates/check.yaml:1:3): podinfo: password ***" in result.output
