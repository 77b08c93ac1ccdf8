"""The renderers the bot drives are the real, pinned helm and kustomize."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from gitops_bot.testing.binaries import Binaries


def run(argv: list[str]) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=60)
    return done.stdout


def test_helm_template_renders_a_chart(binaries: Binaries, tmp_path: Path) -> None:
    chart = tmp_path / "web"
    (chart / "templates").mkdir(parents=True)
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: web\nversion: 1.2.3\n")
    (chart / "values.yaml").write_text("replicas: 2\n")
    (chart / "templates" / "cm.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-cfg\n"
        "  namespace: {{ .Release.Namespace }}\n"
        "data:\n  replicas: {{ .Values.replicas | quote }}\n"
    )

    out = run(
        [
            binaries.path("helm"),
            "template",
            "shop",
            str(chart),
            "--namespace",
            "prod",
            "--set",
            "replicas=4",
        ]
    )

    docs = [d for d in yaml.safe_load_all(out) if d]
    assert docs == [
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "shop-cfg", "namespace": "prod"},
            "data": {"replicas": "4"},
        }
    ]
    assert run([binaries.path("helm"), "version", "--short"]).startswith("v4.")


def test_kustomize_builds_an_overlay_with_a_generator(binaries: Binaries, tmp_path: Path) -> None:
    base, overlay = tmp_path / "base", tmp_path / "overlays" / "prod"
    base.mkdir()
    overlay.mkdir(parents=True)
    (base / "kustomization.yaml").write_text(
        "configMapGenerator:\n- name: app\n  literals: [MODE=base]\n"
    )
    (overlay / "kustomization.yaml").write_text(
        "resources: [../../base]\nnamespace: prod\nnamePrefix: prod-\n"
    )

    out = run([binaries.path("kustomize"), "build", str(overlay)])

    (cm,) = [d for d in yaml.safe_load_all(out) if d]
    assert cm["metadata"]["namespace"] == "prod"
    assert cm["metadata"]["name"].startswith("prod-app-")  # hash-suffixed by the generator
    assert cm["data"] == {"MODE": "base"}
