"""Rendering a realistic repository with the real kustomize and helm."""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

import pytest
import yaml

from gitops_bot.core.objects.model import Render
from gitops_bot.core.repo.config import Environment, Source, SourceKind
from gitops_bot.errors import RenderError
from gitops_bot.render import render as render_mod
from gitops_bot.render.render import Limits, Tools
from gitops_bot.testing.binaries import Binaries

FILES = {
    "deploy/base/kustomization.yaml": """
        resources: [deployment.yaml, service.yaml]
        configMapGenerator:
        - name: web-config
          literals: [MODE=base, LOG=info]
    """,
    "deploy/base/deployment.yaml": """
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: web
        spec:
          replicas: 1
          selector: {matchLabels: {app: web}}
          template:
            metadata: {labels: {app: web}}
            spec:
              containers:
              - name: web
                image: nginx:1.27
                envFrom: [{configMapRef: {name: web-config}}]
    """,
    "deploy/base/service.yaml": """
        apiVersion: v1
        kind: Service
        metadata:
          name: web
        spec:
          selector: {app: web}
          ports: [{port: 80}]
    """,
    "deploy/overlays/dev/kustomization.yaml": """
        resources: [../../base, namespace.yaml]
        namespace: shop-dev
        namePrefix: dev-
        patches:
        - path: replicas.yaml
        configMapGenerator:
        - name: web-config
          behavior: merge
          literals: [MODE=dev]
    """,
    "deploy/overlays/dev/namespace.yaml": """
        apiVersion: v1
        kind: Namespace
        metadata:
          name: shop-dev
    """,
    "deploy/overlays/dev/replicas.yaml": """
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: web
        spec:
          replicas: 3
    """,
    "charts/web/Chart.yaml": """
        apiVersion: v2
        name: web
        version: 1.2.3
    """,
    "charts/web/values.yaml": """
        replicas: 1
        image: nginx:1.27
    """,
    "charts/web/templates/deployment.yaml": """
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: {{ .Release.Name }}-web
        spec:
          replicas: {{ .Values.replicas }}
          selector: {matchLabels: {app: web}}
          template:
            metadata: {labels: {app: web}}
            spec:
              containers: [{name: web, image: {{ .Values.image | quote }}}]
    """,
    "charts/web/templates/config.yaml": """
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: {{ .Release.Name }}-a
        ---
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: {{ .Release.Name }}-b
          namespace: {{ .Release.Namespace }}
        ---
        apiVersion: example.com/v1
        kind: Gadget
        metadata:
          name: {{ .Release.Name }}
    """,
    "charts/web/templates/test-connection.yaml": """
        apiVersion: v1
        kind: Pod
        metadata:
          name: {{ .Release.Name }}-test
          annotations: {helm.sh/hook: test}
        spec:
          containers: [{name: wget, image: busybox}]
    """,
    "charts/web/crds/gadgets.yaml": """
        apiVersion: apiextensions.k8s.io/v1
        kind: CustomResourceDefinition
        metadata:
          name: gadgets.example.com
        spec:
          group: example.com
          scope: Cluster
          names: {kind: Gadget, plural: gadgets}
          versions: [{name: v1, served: true, storage: true,
                      schema: {openAPIV3Schema: {type: object}}}]
    """,
    "values/prod.yaml": """
        replicas: 5
    """,
    "plain/app.yaml": """
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: one
        ---
        # only a comment
        ---
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: two
          namespace: elsewhere
    """,
    "plain/list/items.yml": """
        apiVersion: v1
        kind: List
        items:
        - apiVersion: v1
          kind: ServiceAccount
          metadata: {name: robot}
        - apiVersion: rbac.authorization.k8s.io/v1
          kind: ClusterRole
          metadata: {name: reader}
    """,
    "plain/list/role.json": """
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
         "metadata": {"name": "reader"}}
    """,
    "plain/README.md": "not a manifest\n",
}


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip())


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    write(root, FILES)
    return root


@pytest.fixture(scope="module")
def tools(binaries: Binaries) -> Tools:
    return Tools(helm=binaries.path("helm"), kustomize=binaries.path("kustomize"))


def env(
    name: str,
    path: str,
    *,
    namespace: str | None = None,
    release: str | None = None,
    values: tuple[str, ...] = (),
) -> Environment:
    source = Source(kind=SourceKind.AUTO, path=path, release=release, values=values)
    return Environment(name=name, source=source, namespace=namespace)


def summary(render: Render) -> list[tuple[str, str, str]]:
    """(qualified kind, namespace/name, origin) of each object, in render order."""
    return [
        (m.key.qualified_kind, f"{m.key.namespace}/{m.key.name}", str(m.origin))
        for m in render.manifests
    ]


def test_kustomize_overlay(repo: Path, tools: Tools) -> None:
    render = render_mod.render(env("dev", "deploy/overlays/dev"), root=repo, tools=tools)

    by_kind = {m.key.kind: m for m in render.manifests}
    config_name = by_kind["ConfigMap"].key.name
    # sorted by key; each origin is the repository file (and line) that produced the
    # object, as kustomize reports it: a generated object names its generator entry
    assert summary(render) == [
        ("ConfigMap", f"shop-dev/{config_name}", "deploy/base/kustomization.yaml:3 (document 1)"),
        ("Namespace", "/shop-dev", "deploy/overlays/dev/namespace.yaml:1 (document 1)"),
        ("Service", "shop-dev/dev-web", "deploy/base/service.yaml:1 (document 1)"),
        ("Deployment.apps", "shop-dev/dev-web", "deploy/base/deployment.yaml:1 (document 1)"),
    ]
    assert config_name.startswith("dev-web-config-")  # namePrefix, then the content hash
    assert len(config_name) == len("dev-web-config-") + 10
    config, deployment = by_kind["ConfigMap"].obj, by_kind["Deployment"].obj
    assert config["data"] == {"MODE": "dev", "LOG": "info"}
    assert deployment["spec"]["replicas"] == 3
    # kustomize rewrote the reference to the hash-suffixed name
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["envFrom"] == [{"configMapRef": {"name": config_name}}]
    assert render.env == "dev"


def test_kustomize_render_is_deterministic(repo: Path, tools: Tools) -> None:
    dev = env("dev", "deploy/overlays/dev")
    assert render_mod.render(dev, root=repo, tools=tools).hash == (
        render_mod.render(dev, root=repo, tools=tools).hash
    )


def test_helm_chart_with_values_outside_the_chart(repo: Path, tools: Tools) -> None:
    prod = env(
        "prod", "charts/web", namespace="shop-prod", release="shop", values=("values/prod.yaml",)
    )
    render = render_mod.render(prod, root=repo, tools=tools)

    assert summary(render) == [
        ("ConfigMap", "shop-prod/shop-a", "charts/web/templates/config.yaml (document 1)"),
        ("ConfigMap", "shop-prod/shop-b", "charts/web/templates/config.yaml (document 2)"),
        (
            "CustomResourceDefinition.apiextensions.k8s.io",
            "/gadgets.example.com",
            "charts/web/crds/gadgets.yaml (document 1)",  # --include-crds
        ),
        (
            "Deployment.apps",
            "shop-prod/shop-web",
            "charts/web/templates/deployment.yaml (document 1)",
        ),
        # Gadget is cluster-scoped by the CRD in the same render: no namespace
        ("Gadget.example.com", "/shop", "charts/web/templates/config.yaml (document 3)"),
    ]
    deployment = render.manifests[3].obj
    assert deployment["spec"]["replicas"] == 5  # values/prod.yaml won over the chart's values
    # --no-hooks: the test hook is not desired state
    assert all(m.key.kind != "Pod" for m in render.manifests)


def test_helm_release_defaults_to_the_environment_name(repo: Path, tools: Tools) -> None:
    render = render_mod.render(env("staging", "charts/web"), root=repo, tools=tools)
    assert "staging-web" in {m.key.name for m in render.manifests}
    # no namespace anywhere: helm's "default" only where the template asks for it
    assert {m.key.name: m.key.namespace for m in render.manifests if m.key.kind == "ConfigMap"} == {
        "staging-a": "",
        "staging-b": "default",
    }


def test_plain_folder(repo: Path, tools: Tools) -> None:
    render = render_mod.render(env("ops", "plain", namespace="ops"), root=repo, tools=tools)

    assert summary(render) == [
        ("ConfigMap", "elsewhere/two", "plain/app.yaml:8 (document 3)"),
        ("ConfigMap", "ops/one", "plain/app.yaml:1 (document 1)"),
        ("ServiceAccount", "ops/robot", "plain/list/items.yml:4 (document 1)"),
        ("ClusterRole.rbac.authorization.k8s.io", "/reader", "plain/list/items.yml:7 (document 1)"),
        ("Role.rbac.authorization.k8s.io", "ops/reader", "plain/list/role.json:1 (document 1)"),
    ]


def test_explicit_kinds_override_detection(repo: Path, tools: Tools) -> None:
    # A plain source ignores the kustomization file that would make AUTO choose kustomize.
    plain = Environment("raw", Source(kind=SourceKind.PLAIN, path="deploy/base"))
    render = render_mod.render(plain, root=repo, tools=tools)
    assert [str(m.key) for m in render.manifests] == ["Service web", "Deployment web"]


def test_duplicates_name_both_origins(repo: Path, tools: Tools) -> None:
    write(repo, {"plain/copy.yaml": FILES["plain/app.yaml"]})
    with pytest.raises(RenderError) as caught:
        render_mod.render(env("ops", "plain", namespace="ops"), root=repo, tools=tools)
    assert str(caught.value) == (
        "rendering ops: ConfigMap ops/one is defined twice: "
        "at plain/app.yaml:1 (document 1) and at plain/copy.yaml:1 (document 1); "
        "ConfigMap elsewhere/two is defined twice: "
        "at plain/app.yaml:8 (document 3) and at plain/copy.yaml:8 (document 3)"
    )


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("deploy/nope", "rendering x: source folder deploy/nope does not exist"),
        ("../outside", "rendering x: source folder ../outside: the path escapes the repository"),
    ],
)
def test_source_folder_must_exist_in_the_repository(
    repo: Path, tools: Tools, path: str, message: str
) -> None:
    with pytest.raises(RenderError) as caught:
        render_mod.render(env("x", path), root=repo, tools=tools)
    assert str(caught.value) == message


def test_explicit_kustomize_source_needs_a_kustomization(repo: Path, tools: Tools) -> None:
    plain_as_kustomize = Environment("k", Source(kind=SourceKind.KUSTOMIZE, path="plain"))
    with pytest.raises(RenderError) as caught:
        render_mod.render(plain_as_kustomize, root=repo, tools=tools)
    assert str(caught.value) == (
        "rendering k: plain has no kustomization file "
        "(kustomization.yaml, kustomization.yml, Kustomization)"
    )


def test_malformed_tool_output_names_the_line_of_the_output(repo: Path, tools: Tools) -> None:
    write(repo, {"charts/web/templates/bad.yaml": "apiVersion: v1\nkind: ConfigMap\n"})
    with pytest.raises(RenderError) as caught:
        render_mod.render(env("prod", "charts/web", release="shop"), root=repo, tools=tools)
    # the line of `helm template`'s output: helm sorts its output, so only that is exact
    assert (
        str(caught.value)
        == "rendering prod: helm template shop charts/web:16 (document 2): missing metadata"
    )


def test_a_chart_dependency_from_a_repository_nobody_allowed_is_a_clear_error(
    repo: Path, tools: Tools
) -> None:
    write(
        repo,
        {
            "charts/web/Chart.yaml": """
                apiVersion: v2
                name: web
                version: 1.2.3
                dependencies:
                - {name: db, version: 1.0.0, repository: https://charts.example.com}
            """
        },
    )
    with pytest.raises(RenderError) as caught:
        render_mod.render(env("prod", "charts/web", release="shop"), root=repo, tools=tools)
    assert str(caught.value) == (
        "rendering prod: chart charts/web: dependency db 1.0.0 from https://charts.example.com: "
        "the repository is not in the allow-list; admit it with sources.allow in the base "
        "branch's .gitops.yaml or the bot's --allow-source flag"
    )


def test_kustomize_errors_name_repository_paths(repo: Path, tools: Tools) -> None:
    write(
        repo,
        {
            "deploy/overlays/dev/kustomization.yaml": """
                resources: [../../base]
                patches: [{path: ../../base/service.yaml}]
            """
        },
    )
    with pytest.raises(RenderError) as caught:
        render_mod.render(env("dev", "deploy/overlays/dev"), root=repo, tools=tools)
    message = str(caught.value)
    assert message.startswith("rendering dev: running kustomize build deploy/overlays/dev: exit")
    # kustomize's own root-only restriction, with paths relative to the repository
    assert (
        "security; file 'deploy/base/service.yaml' is not in or below 'deploy/overlays/dev'"
        in message
    )
    assert str(repo) not in message


@pytest.mark.parametrize(
    ("environment", "limit", "message"),
    [
        (
            env("prod", "charts/web"),
            300,
            "rendering prod: running helm template prod charts/web: wrote more than 300 bytes "
            "of output (the render output limit); stopped it",
        ),
        (
            env("dev", "deploy/overlays/dev"),
            300,
            "rendering dev: running kustomize build deploy/overlays/dev: wrote more than 300 "
            "bytes of output (the render output limit); stopped it",
        ),
        (
            # kustomize's inputs are screened against the same limit before it runs
            env("dev", "deploy/overlays/dev"),
            100,
            "rendering dev: deploy/base/deployment.yaml: larger than the limit of 100 bytes",
        ),
    ],
)
def test_render_limits_apply(
    repo: Path, tools: Tools, environment: Environment, limit: int, message: str
) -> None:
    with pytest.raises(RenderError) as caught:
        render_mod.render(
            environment, root=repo, tools=tools, limits=Limits(max_output_bytes=limit)
        )
    assert str(caught.value) == message


ORIGINS = {
    "o/base/kustomization.yaml": "resources: [objects.yaml]\n",
    "o/base/objects.yaml": """
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: one
        ---
        apiVersion: v1
        kind: Service
        metadata:
          name: two
          annotations: {keep: me}
        spec:
          ports: [{port: 80}]
        ---
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: three
        data: {k: v}
    """,
    "o/app/kustomization.yaml": """
        resources: [../base, extra.yaml]
        namePrefix: p-
        secretGenerator:
        - name: token
          literals: [t=x]
        configMapGenerator:
        - name: settings
          literals: [a=b]
        - name: settings-more
          literals: [c=d]
        sortOptions: {order: fifo}  # top-level only: the wrapper carries them over
        buildMetadata: [managedByLabel]
    """,
    "o/app/extra.yaml": """
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: extra
        ---
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: extra-long
    """,
}


def test_kustomize_origins_name_the_source_file_and_line(repo: Path, tools: Tools) -> None:
    write(repo, ORIGINS)
    render = render_mod.render(env("o", "o/app"), root=repo, tools=tools)

    origins = {m.key.name: str(m.origin) for m in render.manifests}
    hashed = {n.rpartition("-")[0]: n for n in origins if n.startswith(("p-token-", "p-settings-"))}
    assert origins == {
        "p-one": "o/base/objects.yaml:1 (document 1)",
        "p-two": "o/base/objects.yaml:6 (document 2)",
        "p-three": "o/base/objects.yaml:14 (document 3)",
        "p-extra": "o/app/extra.yaml:1 (document 1)",
        "p-extra-long": "o/app/extra.yaml:6 (document 2)",  # not "extra", which it contains
        # generated: the generator's entry in the kustomization
        hashed["p-token"]: "o/app/kustomization.yaml:4 (document 1)",
        hashed["p-settings"]: "o/app/kustomization.yaml:7 (document 1)",
        hashed["p-settings-more"]: "o/app/kustomization.yaml:9 (document 1)",
    }
    # the annotation kustomize added is gone: the objects are the plain build's, exactly
    plain = subprocess.run(
        [tools.path("kustomize"), "build", "--load-restrictor=LoadRestrictionsRootOnly", "./o/app"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    by_name = {doc["metadata"]["name"]: doc for doc in yaml.safe_load_all(plain)}
    assert {m.key.name: dict(m.obj) for m in render.manifests} == by_name
    assert by_name["p-two"]["metadata"]["annotations"] == {"keep": "me"}
    assert by_name["p-two"]["metadata"]["labels"]["app.kubernetes.io/managed-by"]


def test_kustomize_origin_annotations_asked_for_are_kept(repo: Path, tools: Tools) -> None:
    write(
        repo,
        {
            **ORIGINS,
            "o/app/kustomization.yaml": "resources: [extra.yaml]\n"
            "buildMetadata: [originAnnotations]\n",
        },
    )
    extra, _ = render_mod.render(env("o", "o/app"), root=repo, tools=tools).manifests
    assert extra.obj["metadata"]["annotations"] == {
        "config.kubernetes.io/origin": "path: extra.yaml\n"
    }
    assert str(extra.origin) == "kustomize build o/app:1 (document 1)"
