"""The bot's own parse and diff of one large render: time and peak memory.

Usage:
    .venv/bin/python bench/parse_diff.py [--shape NAME ...] [--mib 25] [--rounds 3]
    .venv/bin/python bench/parse_diff.py --shape many --profile    # cProfile, top 25

Each shape is a base render and a head render of about --mib MiB of YAML
each (what a renderer may write under the 32 MiB output cap), the head a
changed copy of the base. One round runs in a fresh process, as `gitops-bot
plan` does after the renderers: `manifests.parse` of both texts, then
`diff.compute` under the default bounds (or --max-objects); it prints the
seconds of each step and the process's peak RSS. Medians over --rounds. A
render past a bound shows as `refused`, with the time until the refusal.
To measure the code before the bounds existed, point PYTHONPATH at a
checkout of it (`git archive 5b3173d gitops_bot | tar -x -C /tmp/before`).

Shapes:
- many: small ConfigMaps (3 keys), every tenth changed;
- huge: 10 ConfigMaps with one multi-line value of ~2.5 MiB, every line changed;
- deep: objects nested 150 levels, every tenth changed;
- long: 25 ConfigMaps with one 1 MiB single-line value, all changed;
- keys: 10 ConfigMaps with ~100,000 keys each, every tenth key changed;
- normal: 1,000 mixed objects (Deployments, Services, ConfigMaps), 10% changed.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

SHAPES = ("many", "huge", "deep", "long", "keys", "normal")


def _doc(text: str) -> str:
    return "---\n" + text


def _configmap(name: str, data: dict[str, str]) -> str:
    lines = ["apiVersion: v1", "kind: ConfigMap", "metadata:", f"  name: {name}", "data:"]
    for key, value in data.items():
        if "\n" in value:
            lines.append(f"  {key}: |")
            lines.extend("    " + line for line in value.splitlines())
        else:
            lines.append(f"  {key}: {json.dumps(value)}")
    return _doc("\n".join(lines) + "\n")


def _fill(make: Callable[[int], str], size: int) -> str:
    parts, total, i = [], 0, 0
    while total < size:
        part = make(i)
        parts.append(part)
        total += len(part)
        i += 1
    return "".join(parts)


def _many(size: int, head: bool) -> str:
    def make(i: int) -> str:
        version = "v2" if head and i % 10 == 0 else "v1"
        return _configmap(
            f"cm-{i:06d}",
            {"a": f"value-{i}-{version}", "b": "x" * 400, "c": f"{i}"},
        )

    return _fill(make, size)


def _huge(size: int, head: bool) -> str:
    per = size // 10
    out = []
    for i in range(10):
        lines = [f"line {n} of object {i} {'new' if head else 'old'}" for n in range(per // 32)]
        out.append(_configmap(f"huge-{i}", {"config": "\n".join(lines) + "\n"}))
    return "".join(out)


def _deep(size: int, head: bool) -> str:
    def make(i: int) -> str:
        lines = ["apiVersion: example.com/v1", "kind: Deep", "metadata:", f"  name: deep-{i:06d}"]
        for level in range(150):
            lines.append("  " * level + f"l{level}:")
        leaf = "changed" if head and i % 10 == 0 else "same"
        lines.append("  " * 150 + f"leaf: {leaf}")
        return _doc("\n".join(lines) + "\n")

    return _fill(make, size)


def _long(size: int, head: bool) -> str:
    per = size // 25
    return "".join(
        _configmap(f"long-{i}", {"blob": ("b" if head else "a") * per}) for i in range(25)
    )


def _keys(size: int, head: bool) -> str:
    per = size // 10 // 26
    return "".join(
        _configmap(
            f"keys-{i}",
            {f"k{n:07d}": f"v{n}{'x' if head and n % 10 == 0 else ''}" for n in range(per)},
        )
        for i in range(10)
    )


def _normal(_size: int, head: bool) -> str:
    out = []
    for i in range(1000):
        changed = head and i % 10 == 0
        kind = i % 3
        if kind == 0:
            out.append(_configmap(f"cm-{i}", {"LOG_LEVEL": "debug" if changed else "info"}))
        elif kind == 1:
            out.append(
                _doc(
                    f"apiVersion: v1\nkind: Service\nmetadata:\n  name: svc-{i}\nspec:\n"
                    f"  selector:\n    app: app-{i}\n  ports:\n  - name: http\n"
                    f"    port: {8080 if changed else 80}\n    targetPort: 8080\n"
                )
            )
        else:
            image = "web:1.1" if changed else "web:1.0"
            out.append(
                _doc(
                    f"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: dep-{i}\n"
                    f"spec:\n  replicas: 2\n  selector:\n    matchLabels:\n      app: app-{i}\n"
                    f"  template:\n    metadata:\n      labels:\n        app: app-{i}\n"
                    f"    spec:\n      containers:\n      - name: web\n        image: {image}\n"
                    f"        resources:\n          requests:\n            cpu: 100m\n"
                    f"            memory: 64Mi\n        ports:\n        - containerPort: 8080\n"
                )
            )
    return "".join(out)


MAKERS: dict[str, Callable[[int, bool], str]] = {
    "many": _many,
    "huge": _huge,
    "deep": _deep,
    "long": _long,
    "keys": _keys,
    "normal": _normal,
}


def one_round(
    shape: str, mib: float, profile: bool, max_objects: int | None = None
) -> dict[str, Any]:
    """In this process: generate, parse both, diff; seconds and peak RSS.

    Under the default bounds (or --max-objects), a render past a bound ends
    the round: `refused` is the error, `parse_s` the time until it. Against
    a checkout from before core.repo.bounds existed (PYTHONPATH), nothing is bounded."""
    from gitops_bot.core.objects import diff, manifests  # noqa: PLC0415
    from gitops_bot.core.objects.model import Render  # noqa: PLC0415

    try:
        from gitops_bot.core.repo import bounds  # noqa: PLC0415
    except ImportError:  # the code before the bounds
        bounds = None
    size = int(mib * (1 << 20))
    base_text, head_text = MAKERS[shape](size, False), MAKERS[shape](size, True)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    def work() -> dict[str, Any]:
        kw: dict[str, Any] = {}
        meter = None
        if bounds is not None:
            settings = (
                bounds.Bounds() if max_objects is None else bounds.Bounds(max_objects=max_objects)
            )
            meter = settings.meter("bench")
            kw = {"meter": meter}
        t0 = time.perf_counter()
        try:
            base = Render.of("bench", manifests.parse(base_text, origin="base", **kw))
            if meter is not None:
                meter.new_render()
            head = Render.of("bench", manifests.parse(head_text, origin="head", **kw))
        except Exception as err:  # a BoundsError, when the code has bounds
            return {
                "objects": 0,
                "changed": 0,
                "parse_s": time.perf_counter() - t0,
                "diff_s": 0.0,
                "refused": str(err),
            }
        t1 = time.perf_counter()
        changes = diff.compute(base.by_key(), head.by_key(), mask_key=b"k" * 32, **kw)
        t2 = time.perf_counter()
        return {
            "objects": len(head.manifests),
            "changed": sum(1 for c in changes if c.diff),
            "parse_s": t1 - t0,
            "diff_s": t2 - t1,
        }

    if profile:
        import cProfile  # noqa: PLC0415
        import pstats  # noqa: PLC0415

        profiler = cProfile.Profile()
        result = profiler.runcall(work)
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("cumulative").print_stats(25)
    else:
        result = work()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result.update(
        input_mib=len(head_text.encode()) / (1 << 20),
        rss_inputs_mib=rss_before / 1024,
        peak_rss_mib=peak / 1024,
    )
    return result


def _rounds(
    shape: str, mib: float, rounds: int, max_objects: int | None
) -> Iterator[dict[str, Any]]:
    more = ["--max-objects", str(max_objects)] if max_objects else []
    for _ in range(rounds):
        out = subprocess.run(
            [sys.executable, __file__, "--one", shape, "--mib", str(mib), *more],
            check=True,
            capture_output=True,
            text=True,
        )
        yield json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", action="append", choices=SHAPES)
    parser.add_argument("--mib", type=float, default=25.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--max-objects", type=int, help="the bound (default: core.repo.bounds')")
    parser.add_argument("--one", choices=SHAPES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one_round(args.one, args.mib, False, args.max_objects)))
        return
    shapes = args.shape or list(SHAPES)
    if args.profile:
        for shape in shapes:
            print(shape, one_round(shape, args.mib, True, args.max_objects))
        return
    print("| shape | objects | input MiB | parse s | diff s | total s | peak RSS MiB |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for shape in shapes:
        runs = list(_rounds(shape, args.mib, args.rounds, args.max_objects))

        def med(field: str, runs: list[dict[str, Any]] = runs) -> float:
            return float(statistics.median(r[field] for r in runs))

        if "refused" in runs[0]:
            print(
                f"| {shape} | refused | {med('input_mib'):.1f} | {med('parse_s'):.2f} | - "
                f"| {med('parse_s'):.2f} | {med('peak_rss_mib'):.0f} |  {runs[0]['refused']}",
                flush=True,
            )
            continue

        print(
            f"| {shape} | {int(med('objects')):,} | {med('input_mib'):.1f} "
            f"| {med('parse_s'):.2f} | {med('diff_s'):.2f} "
            f"| {med('parse_s') + med('diff_s'):.2f} | {med('peak_rss_mib'):.0f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
