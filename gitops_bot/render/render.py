"""Render one environment: its source folder to a core.model.Render.

Owns: the order of the steps every source goes through: find the source
folder, decide how it renders (SourceKind.AUTO: a kustomization file means
kustomize, a Chart.yaml helm, anything else plain YAML, as render.inputs
decides too), check it, fetch a chart's remote dependencies (render.fetch),
a kustomization's remote git bases (render.gitbases) and helmCharts
(render.helmcharts), outside the sandbox, only from allowed sources, run the
tool in the sandbox, parse the output, give
namespaced objects the environment's namespace, and refuse duplicates.
Every error says which environment was rendering ("rendering prod: ...").
Its errors carry no value that may be secret (render.secrets).
Refuses: building commands (kustomize.py, helm.py), running them
(sandbox.py) and parsing YAML (core.objects.manifests).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from gitops_bot.core.objects import manifests
from gitops_bot.core.objects.model import Manifest, Render, SourcePin
from gitops_bot.core.repo import bounds
from gitops_bot.core.repo.config import Environment, SourceKind
from gitops_bot.core.secrets import mask
from gitops_bot.errors import RenderError
from gitops_bot.render import (
    fetch,
    gitbases,
    helm,
    helmcharts,
    inputs,
    kustomize,
    plain,
    sandbox,
    secrets,
)
from gitops_bot.render.fetch import SourcePolicy
from gitops_bot.render.sandbox import DEFAULT_LIMITS, Limits, Tools, isolation

__all__ = ["Limits", "Tools", "isolation", "render"]


def render(
    env: Environment,
    *,
    root: Path,
    tools: Tools,
    limits: Limits = DEFAULT_LIMITS,
    meter: bounds.Meter | None = None,
    sources: SourcePolicy | None = None,
) -> Render:
    """The desired state of `env` in the checkout at `root`; `meter` bounds
    the objects of this render and the environment's time (core.repo.bounds);
    `sources` says which remote sources may be fetched for it (none by default),
    before the render, outside its sandbox (render.fetch)."""
    meter = meter or bounds.Bounds().meter(env.name)
    meter.new_render()
    try:
        found, pins = _manifests(
            env,
            root=root.resolve(),
            tools=tools,
            limits=limits,
            meter=meter,
            sources=sources or SourcePolicy(),
        )
        found = manifests.default_namespace(found, namespace=env.namespace)
        manifests.check_unique(found)
    except RenderError as err:
        # Scrubbed of every value the inputs hold that may be secret: a failed
        # render yields no Secret to learn them from. `from None`: the cause
        # holds the clear text, and a logged traceback would show it.
        # And first of the operator's source credentials (render.credentials),
        # in case a server or a URL echoed one.
        said = mask.scrub(str(err), (sources or SourcePolicy()).secrets)
        said = secrets.scrub(said, env, root=root)
        raise RenderError(f"rendering {env.name}: {said}") from None
    return Render.of(env.name, found, pins)


def _manifests(
    env: Environment,
    *,
    root: Path,
    tools: Tools,
    limits: Limits,
    meter: bounds.Meter,
    sources: SourcePolicy,
) -> tuple[tuple[Manifest, ...], tuple[SourcePin, ...]]:
    """The objects of `env`, and the remote sources they were rendered from."""
    source = env.source
    folder = (root / source.path).resolve()
    if not folder.is_relative_to(root):
        raise RenderError(f"source folder {source.path}: the path escapes the repository")
    if not folder.is_dir():
        raise RenderError(f"source folder {source.path} does not exist")
    kind = source.kind if source.kind is not SourceKind.AUTO else inputs.detect(root, source.path)
    if kind is SourceKind.PLAIN:
        return plain.read(source.path, root=root, limits=limits, meter=meter), ()
    if kind is SourceKind.KUSTOMIZE:
        # Remote bases are fetched here, outside the sandbox; kustomize clones
        # them from local mirrors, offline (render.gitbases).
        with gitbases.prepared(root, source.path, sources) as bases:
            command, charts = kustomize.build(
                source.path,
                root=root,
                tools=tools,
                limits=limits,
                fetched=bases.entries,
                env=bases.env,
            )
            pins = helmcharts.prepare(root, charts, sources)  # kustomize finds, never pulls, them
            found = _kustomize(command, source.path, root, limits, meter)
            return found, tuple(sorted({*bases.pins, *pins}, key=_pin_order))
    pins = fetch.prepare_chart(root, source.path, sources)  # the sandbox has no network
    command = helm.command(
        source.path,
        release=source.release or env.name,
        namespace=env.namespace,
        values=source.values,
        root=root,
        tools=tools,
    )
    text = sandbox.run(command, limits=limits)
    parsed = manifests.parse(
        text, origin=command.what, max_bytes=limits.max_output_bytes, meter=meter
    )
    return helm.origins(parsed, text=text, chart=source.path), pins


def _kustomize(
    command: sandbox.Command, path: str, root: Path, limits: Limits, meter: bounds.Meter
) -> tuple[Manifest, ...]:
    """The objects `command` builds, with their origins where kustomize can tell them."""
    with tempfile.TemporaryDirectory(prefix="gitops-bot-origins-") as tmp:
        wrapper = Path(tmp)
        traced = kustomize.traced(command, path, root=root, folder=wrapper)
        text = None
        if traced is not None:
            try:
                text = sandbox.run(traced, limits=limits)
            except sandbox.ToolFailedError:
                traced = None  # the error again, as kustomize words it for the repository
        if text is None:
            text = sandbox.run(command, limits=limits)
        found = manifests.parse(
            text, origin=command.what, max_bytes=limits.max_output_bytes, meter=meter
        )
        if traced is None:
            return found
        return kustomize.origins(found, root=root, folder=wrapper)


def _pin_order(pin: SourcePin) -> tuple[str, str, str, str]:
    return (pin.chart, pin.name, pin.version, pin.repository)
