"""Pin action.yml and the GitLab template to a released image, by digest.

Usage (from the repository root; `make pin-image REF=...` runs it):

    python actions/pin_image.py ghcr.io/gitops-bot/gitops-bot:1.2.3@sha256:<64 hex>

The reference is the one the release workflow's job summary prints
(.github/workflows/release.yml). action.yml's `runs.image` becomes
`docker://<reference>` and the template's GITOPS_BOT_IMAGE `<reference>`;
nothing else in either file changes. Refuses a reference without a version
tag and a full sha256 digest, and a file whose line it cannot find.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

IMAGE = "ghcr.io/gitops-bot/gitops-bot"
REFERENCE = re.compile(rf"{re.escape(IMAGE)}:\d+\.\d+\.\d+@sha256:[0-9a-f]{{64}}")
# (file, the one line to rewrite, what it becomes)
TARGETS = (
    ("action.yml", re.compile(r"^(  image: ).*$", re.MULTILINE), "docker://{ref}"),
    (
        "actions/gitlab/gitops-bot.gitlab-ci.yml",
        re.compile(r"^(  GITOPS_BOT_IMAGE: ).*$", re.MULTILINE),
        "{ref}",
    ),
)


def pin(root: Path, ref: str) -> list[Path]:
    """Rewrite both files under `root` to name `ref`; the files changed."""
    if not REFERENCE.fullmatch(ref):
        raise ValueError(f"{ref!r} is not {IMAGE}:<version>@sha256:<64 hex digits>")
    texts = {}
    for name, line, value in TARGETS:
        path = root / name
        text = path.read_text()
        if len(line.findall(text)) != 1:
            raise ValueError(f"{path}: not exactly one line matching {line.pattern!r}")
        texts[path] = line.sub(lambda m, v=value: m.group(1) + v.format(ref=ref), text)
    changed = [path for path, text in texts.items() if text != path.read_text()]
    for path in changed:
        path.write_text(texts[path])
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ref", help=f"{IMAGE}:<version>@sha256:<digest>")
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1])
    args = parser.parse_args(argv)
    try:
        changed = pin(args.root, args.ref)
    except ValueError as err:
        print(f"pin_image: {err}", file=sys.stderr)
        return 2
    for path in changed:
        print(f"pinned {path.relative_to(args.root)} to {args.ref}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
