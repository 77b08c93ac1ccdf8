"""What a puller process loads: the libraries it does not need stay out of its memory
(docs/benchmarks.md: the import floor is most of a puller's RSS)."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_a_puller_loads_neither_the_kubernetes_package_nor_pyjwt_nor_cryptography() -> None:
    # Nor orjson (2.3 MiB), which only writing a plan needs.
    code = textwrap.dedent("""
        import sys
        import gitops_bot.cli.puller, gitops_bot.puller.wiring
        heavy = ("kubernetes", "jwt", "cryptography", "pydantic", "requests", "github", "orjson")
        print(sorted({m.split(".")[0] for m in sys.modules} & set(heavy)))
    """)
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    assert out.strip() == "[]"
