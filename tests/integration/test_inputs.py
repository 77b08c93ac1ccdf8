"""render.inputs on real folder trees, and core.repo.affected on top of it.

No renderer runs here: these tests check which files a render would read.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from gitops_bot.core.repo import affected, config
from gitops_bot.core.repo.affected import Inputs
from gitops_bot.core.repo.config import Environment, Source, SourceKind
from gitops_bot.errors import RenderError
from gitops_bot.render import inputs as inputs_mod

GITOPS_YAML = """\
version: 1
environments:
  dev:
    kustomize: deploy/overlays/dev
  staging:
    kustomize: deploy/overlays/staging
  prod:
    helm:
      chart: charts/shop
      values: [envs/prod/values.yaml]
  legacy:
    plain: manifests/legacy
"""

FILES = {
    ".gitops.yaml": GITOPS_YAML,
    "README.md": "# shop\n",
    # The shared base: a remote resource, and a configMapGenerator with files.
    "deploy/base/kustomization.yaml": """\
        resources:
          - deployment.yaml
          - service.yaml
          - github.com/acme/common/deploy/base?ref=v1.2.0
        configMapGenerator:
          - name: app
            files:
              - config/app.properties
              - extra=config/extra.txt
            envs: [app.env]
        """,
    "deploy/base/deployment.yaml": "kind: Deployment\n",
    "deploy/base/service.yaml": "kind: Service\n",
    "deploy/base/app.env": "A=1\n",
    "deploy/base/config/app.properties": "a=1\n",
    "deploy/base/config/extra.txt": "x\n",
    "deploy/base/config/unused.txt": "not read\n",
    # A component, with a patch of its own.
    "deploy/components/monitoring/kustomization.yaml": """\
        apiVersion: kustomize.config.k8s.io/v1alpha1
        kind: Component
        resources: [servicemonitor.yaml]
        patches:
          - path: patch.yaml
        """,
    "deploy/components/monitoring/servicemonitor.yaml": "kind: ServiceMonitor\n",
    "deploy/components/monitoring/patch.yaml": "kind: Deployment\n",
    # Two kustomizations that include each other.
    "deploy/cycle/a/kustomization.yaml": "resources: [../b]\n",
    "deploy/cycle/b/kustomization.yaml": "resources: [../a, ./]\n",
    # dev: the base, a patch in a subfolder, the component and the cycle.
    "deploy/overlays/dev/kustomization.yaml": """\
        resources:
          - ../../base
          - ../../cycle/a
        components:
          - ../../components/monitoring
        patches:
          - path: patches/replicas.yaml
            target: {kind: Deployment}
        """,
    "deploy/overlays/dev/patches/replicas.yaml": "replicas: 1\n",
    # staging: a remote base, references leaving the repository (by .. and by
    # a symlink), an inline patch, a missing patch and a helm chart home.
    "deploy/overlays/staging/kustomization.yaml": """\
        resources:
          - ../../base
          - https://github.com/acme/shop//deploy/base?ref=main
          - probe@127.0.0.1:org/repo//base
          - GitLab.com/acme/shop//deploy
          - ../../../../outside
          - escape
        patchesStrategicMerge:
          - patches/resources.yaml
          - |-
            apiVersion: apps/v1
            kind: Deployment
        patchesJson6902:
          - path: patches/not-yet.yaml
            target: {kind: Deployment, name: web}
        replacements:
          - path: ../../shared/replacements.yaml
        helmGlobals:
          chartHome: ../../../charts/vendor
        helmCharts:
          - name: redis
            valuesFile: redis-values.yaml
        """,
    "deploy/overlays/staging/patches/resources.yaml": "kind: Deployment\n",
    "deploy/overlays/staging/redis-values.yaml": "a: 1\n",
    "deploy/shared/replacements.yaml": "- source: {}\n",
    "deploy/shared/unused.yaml": "no\n",
    # prod: a chart with a local dependency (which points back: a cycle) and a
    # remote one, and a values file outside the chart.
    "charts/shop/Chart.yaml": """\
        apiVersion: v2
        name: shop
        version: 1.0.0
        dependencies:
          - name: common
            repository: file://../common
          - name: redis
            repository: https://charts.example.com
          - name: far
            repository: file://../../../far
        """,
    "charts/shop/values.yaml": "replicas: 1\n",
    "charts/shop/templates/deployment.yaml": "kind: Deployment\n",
    "charts/common/Chart.yaml": """\
        apiVersion: v2
        name: common
        version: 1.0.0
        dependencies:
          - {name: shop, repository: "file://../shop"}
        """,
    "charts/common/templates/_helpers.tpl": "{{/* */}}\n",
    "charts/vendor/redis/Chart.yaml": "name: redis\n",
    "envs/prod/values.yaml": "replicas: 3\n",
    "envs/staging/values.yaml": "replicas: 2\n",
    "manifests/legacy/app.yaml": "kind: ConfigMap\n",
    "manifests/legacy/more/app.json": "{}\n",
}

# Outside the repository, broken on purpose: if anything followed a
# reference out of the repository, reading this would raise.
OUTSIDE = {"outside/kustomization.yaml": "resources: [\n"}


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    _write(root, FILES)
    _write(tmp_path, OUTSIDE)
    (root / "deploy/overlays/staging/escape").symlink_to(tmp_path / "outside")
    return root


def _inputs(root: Path, name: str) -> Inputs:
    env = config.parse((root / ".gitops.yaml").read_text()).env(name)
    return inputs_mod.inputs(env, root=root)


def test_overlay_with_base_component_generator_and_cycle(repo: Path) -> None:
    assert _inputs(repo, "dev") == Inputs(
        files=frozenset(
            {
                "deploy/base/config/app.properties",
                "deploy/base/config/extra.txt",
                "deploy/overlays/dev/patches/replicas.yaml",
            }
        ),
        folders=frozenset(
            {
                "deploy/overlays/dev",
                "deploy/base",
                "deploy/components/monitoring",
                "deploy/cycle/a",
                "deploy/cycle/b",
            }
        ),
    )


def test_overlay_skips_remote_and_escaping_references(repo: Path) -> None:
    assert _inputs(repo, "staging") == Inputs(
        files=frozenset(
            {
                "deploy/base/config/app.properties",
                "deploy/base/config/extra.txt",
                "deploy/overlays/staging/patches/resources.yaml",
                "deploy/overlays/staging/patches/not-yet.yaml",  # missing: creating it counts
                "deploy/shared/replacements.yaml",
            }
        ),
        folders=frozenset({"deploy/overlays/staging", "deploy/base"}),
        trees=frozenset({"charts/vendor"}),
    )


def test_helm_chart_with_values_outside_and_local_dependency(repo: Path) -> None:
    assert _inputs(repo, "prod") == Inputs(
        files=frozenset({"envs/prod/values.yaml"}),
        trees=frozenset({"charts/shop", "charts/common"}),
    )


def test_plain_folder(repo: Path) -> None:
    assert _inputs(repo, "legacy") == Inputs(trees=frozenset({"manifests/legacy"}))


@pytest.mark.parametrize(
    ("changed", "affected_envs"),
    [
        (["deploy/base/deployment.yaml"], {"dev", "staging"}),
        (["deploy/base/config/app.properties"], {"dev", "staging"}),
        (["deploy/base/config/unused.txt"], set()),
        (["deploy/overlays/dev/patches/replicas.yaml"], {"dev"}),
        (["deploy/overlays/staging/kustomization.yaml"], {"staging"}),
        (["deploy/overlays/staging/patches/not-yet.yaml"], {"staging"}),
        (["deploy/components/monitoring/patch.yaml"], {"dev"}),
        (["deploy/cycle/b/kustomization.yaml"], {"dev"}),
        (["deploy/shared/unused.yaml"], set()),
        (["charts/vendor/redis/templates/x.yaml"], {"staging"}),
        (["envs/prod/values.yaml"], {"prod"}),
        (["envs/staging/values.yaml"], set()),
        (["charts/common/templates/_helpers.tpl"], {"prod"}),
        (["manifests/legacy/more/app.json"], {"legacy"}),
        (["README.md"], set()),
        ([".gitops.yaml"], {"dev", "staging", "prod", "legacy"}),
        (["README.md", "deploy/overlays/dev/kustomization.yaml", "envs/prod/values.yaml"],
         {"dev", "prod"}),
    ],
)  # fmt: skip
def test_decide_on_realistic_changes(
    repo: Path, changed: list[str], affected_envs: set[str]
) -> None:
    names = ("dev", "staging", "prod", "legacy")
    verdicts = affected.decide({n: _inputs(repo, n) for n in names}, changed)
    assert [v.env for v in verdicts] == list(names)
    assert {v.env for v in verdicts if v.affected} == affected_envs


def test_reasons_name_the_files(repo: Path) -> None:
    reads = {n: _inputs(repo, n) for n in ("dev", "prod")}
    assert affected.decide(reads, ["deploy/base/service.yaml", "README.md"]) == (
        affected.Verdict("dev", True, "deploy/base/service.yaml changed"),
        affected.Verdict("prod", False, "no file it reads changed"),
    )


# -- smaller trees, one rule each ---------------------------------------------


def _env(kind: SourceKind, path: str, *, values: tuple[str, ...] = ()) -> Environment:
    return Environment("e", Source(kind, path, values=values))


@pytest.mark.parametrize(
    ("files", "kind"),
    [
        ({"app/kustomization.yaml": "resources: []\n"}, SourceKind.KUSTOMIZE),
        ({"app/kustomization.yml": "resources: []\n"}, SourceKind.KUSTOMIZE),
        ({"app/Kustomization": "resources: []\n"}, SourceKind.KUSTOMIZE),
        ({"app/Chart.yaml": "name: app\n"}, SourceKind.HELM),
        ({"app/cm.yaml": "kind: ConfigMap\n"}, SourceKind.PLAIN),
        ({}, SourceKind.PLAIN),
    ],
)
def test_auto_detects_the_kind(tmp_path: Path, files: dict[str, str], kind: SourceKind) -> None:
    _write(tmp_path, files)
    assert inputs_mod.detect(tmp_path, "app") is kind


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        (
            {"app/Kustomization": "resources: [../shared/cm.yaml]\n", "shared/cm.yaml": ""},
            Inputs(folders=frozenset({"app"}), files=frozenset({"shared/cm.yaml"})),
        ),
        ({"app/Chart.yaml": "name: app\n"}, Inputs(trees=frozenset({"app"}))),
        ({"app/cm.yaml": "kind: ConfigMap\n"}, Inputs(trees=frozenset({"app"}))),
    ],
)
def test_auto_reads_like_the_kind_it_detects(
    tmp_path: Path, files: dict[str, str], expected: Inputs
) -> None:
    _write(tmp_path, files)
    assert inputs_mod.inputs(_env(SourceKind.AUTO, "app"), root=tmp_path) == expected


def test_kustomization_at_the_repository_root(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {"kustomization.yaml": "resources: [app.yaml, sub]\n", "app.yaml": "", "sub/x": ""},
    )
    assert inputs_mod.inputs(_env(SourceKind.KUSTOMIZE, "."), root=tmp_path) == Inputs(
        folders=frozenset({".", "sub"})
    )


def test_missing_references_still_count(tmp_path: Path) -> None:
    _write(
        tmp_path, {"app/kustomization.yaml": "resources: [../base]\npatches: [{path: p.yaml}]\n"}
    )
    reads = inputs_mod.inputs(_env(SourceKind.KUSTOMIZE, "app"), root=tmp_path)
    # ../base may become a folder or a file: anything there counts.
    assert reads == Inputs(folders=frozenset({"app"}), trees=frozenset({"base"}))
    assert reads.matches("base/kustomization.yaml")
    # A source folder that does not exist yet is read once it does.
    assert inputs_mod.inputs(_env(SourceKind.KUSTOMIZE, "new"), root=tmp_path) == Inputs(
        folders=frozenset({"new"})
    )


def test_generator_and_other_file_fields(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "app/kustomization.yaml": """\
                secretGenerator:
                  - {name: s, files: [k=../secrets/key.txt], env: ../secrets/s.env}
                crds: [../crds/widget.json]
                configurations: [../conf/names.yaml]
                openapi: {path: ../schema/openapi.json}
                transformers: [../transformers/labels.yaml, ../transformers/set]
                generators:
                  - |
                    apiVersion: builtin
                    kind: ConfigMapGenerator
                validators: [/etc/validator.yaml]
                """,
            "transformers/labels.yaml": "kind: LabelTransformer\n",
            "transformers/set/kustomization.yaml": "resources: [labels.yaml]\n",
            "transformers/set/labels.yaml": "kind: LabelTransformer\n",
        },
    )
    assert inputs_mod.inputs(_env(SourceKind.KUSTOMIZE, "app"), root=tmp_path) == Inputs(
        files=frozenset(
            {
                "secrets/key.txt",
                "secrets/s.env",
                "crds/widget.json",
                "conf/names.yaml",
                "schema/openapi.json",
                "transformers/labels.yaml",
            }
        ),
        folders=frozenset({"app", "transformers/set"}),
    )


def test_symlink_inside_the_repository_is_followed_and_counted(tmp_path: Path) -> None:
    _write(tmp_path, {"manifests/v2/app.yaml": "kind: ConfigMap\n"})
    (tmp_path / "manifests/current").symlink_to("v2")
    reads = inputs_mod.inputs(_env(SourceKind.PLAIN, "manifests/current"), root=tmp_path)
    assert reads == Inputs(
        files=frozenset({"manifests/current"}), trees=frozenset({"manifests/v2"})
    )


def test_symlinks_out_of_the_repository_are_not_followed(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    _write(tmp_path, {"secret/values.yaml": "password: x\n", "secret/Chart.yaml": "name: x\n"})
    _write(root, {"chart/Chart.yaml": "name: c\n"})
    (root / "values.yaml").symlink_to(tmp_path / "secret/values.yaml")
    (root / "other").symlink_to(tmp_path / "secret")
    reads = inputs_mod.inputs(_env(SourceKind.HELM, "chart", values=("values.yaml",)), root=root)
    # The links are in the repository (changing them changes the render), their targets not.
    assert reads == Inputs(files=frozenset({"values.yaml"}), trees=frozenset({"chart"}))
    assert inputs_mod.inputs(_env(SourceKind.HELM, "other"), root=root) == Inputs(
        files=frozenset({"other"})
    )


def test_symlink_loop(tmp_path: Path) -> None:
    (tmp_path / "loop").symlink_to("loop")
    assert inputs_mod.inputs(_env(SourceKind.PLAIN, "loop"), root=tmp_path) == Inputs(
        files=frozenset({"loop"})
    )


@pytest.mark.parametrize(
    ("files", "message"),
    [
        (
            {"app/kustomization.yaml": "resources:\n  - a\n  b: c\n"},
            "finding what e reads: reading app/kustomization.yaml:3: not valid YAML: "
            "while parsing a block collection; expected <block end>, but found '?'",
        ),
        (
            {"app/kustomization.yaml": "- a\n"},
            "finding what e reads: app/kustomization.yaml: expected a mapping, got list",
        ),
        (
            {"app/kustomization.yaml": "resources: [../lib]\n", "lib/kustomization.yml": "{\n"},
            "finding what e reads: reading lib/kustomization.yml:2: not valid YAML: "
            "while parsing a flow node; expected the node content, but found '<stream end>'",
        ),
    ],
)
def test_bad_kustomization_names_the_file(
    tmp_path: Path, files: dict[str, str], message: str
) -> None:
    _write(tmp_path, files)
    with pytest.raises(RenderError) as info:
        inputs_mod.inputs(_env(SourceKind.KUSTOMIZE, "app"), root=tmp_path)
    assert str(info.value) == message


def test_bad_chart_yaml_names_the_file(tmp_path: Path) -> None:
    _write(tmp_path, {"chart/Chart.yaml": "dependencies: [\n"})
    with pytest.raises(RenderError, match=r"^finding what e reads: reading chart/Chart\.yaml:2: "):
        inputs_mod.inputs(_env(SourceKind.HELM, "chart"), root=tmp_path)


def test_a_deep_chain_of_overlays_does_not_recurse(tmp_path: Path) -> None:
    depth = 1500  # deeper than Python's recursion limit
    _write(
        tmp_path,
        {f"k{i}/kustomization.yaml": f"resources: [../k{i + 1}]\n" for i in range(depth)},
    )
    reads = inputs_mod.inputs(_env(SourceKind.KUSTOMIZE, "k0"), root=tmp_path)
    assert reads == Inputs(
        folders=frozenset(f"k{i}" for i in range(depth)), trees=frozenset({f"k{depth}"})
    )


def test_detection_ignores_files_linked_from_outside(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    _write(tmp_path, {"elsewhere/kustomization.yaml": "resources: []\n"})
    _write(root, {"app/cm.yaml": "kind: ConfigMap\n"})
    (root / "app/kustomization.yaml").symlink_to(tmp_path / "elsewhere/kustomization.yaml")
    assert inputs_mod.detect(root, "app") is SourceKind.PLAIN


def test_a_huge_kustomization_is_refused(tmp_path: Path) -> None:
    _write(tmp_path, {"app/kustomization.yaml": "#" * (inputs_mod.MAX_READ_BYTES + 1)})
    with pytest.raises(RenderError) as info:
        inputs_mod.inputs(_env(SourceKind.KUSTOMIZE, "app"), root=tmp_path)
    assert str(info.value) == (
        "finding what e reads: reading app/kustomization.yaml: 4194305 bytes is more than the "
        "4194304 allowed"
    )
