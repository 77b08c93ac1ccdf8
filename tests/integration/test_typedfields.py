"""core.objects.typedfields is what the API server's own OpenAPI says, for every built-in kind.

After a Kubernetes upgrade: `python -m tests.integration.test_typedfields
KUBECONFIG` rewrites gitops_bot/core/objects/typedfields.py from that server.
"""

from __future__ import annotations

import sys
from typing import Any

import pytest

from gitops_bot.cluster.kube import Kube
from gitops_bot.core.objects import typedfields as committed
from gitops_bot.testing import typedfields

pytestmark = pytest.mark.cluster


def reader(kube: Kube) -> Any:
    def get(path: str) -> Any:
        return kube._call("GET", path, doing=f"reading {path}", call="openapi")

    return get


def test_the_table_is_generated_from_this_api_server(kube: Kube) -> None:
    docs = typedfields.fetch(reader(kube))
    found = typedfields.table(docs)
    regenerate = "python -m tests.integration.test_typedfields KUBECONFIG"
    assert {k: tuple(v) for k, v in found.items()} == committed.FIELDS, regenerate
    assert frozenset(typedfields.kinds(docs)) == committed.KINDS, regenerate
    # The classes the noop proof must know are there, where charts write them.
    deployment = dict(committed.FIELDS[("apps/v1", "Deployment")])
    assert deployment["spec.template.spec.containers[].resources.limits{}"] == "resource list"
    assert deployment["spec.template.spec.volumes[].emptyDir.sizeLimit"] == "quantity"
    runtime_class = dict(committed.FIELDS[("node.k8s.io/v1", "RuntimeClass")])
    assert runtime_class["overhead.podFixed{}"] == "quantity"  # node/v1: not rounded to 1m
    assert deployment["spec.template.spec.nodeSelector"] == "atomic map"
    assert dict(committed.FIELDS[("v1", "Secret")])["data{}"] == "bytes"


if __name__ == "__main__":
    client = Kube.from_kubeconfig(sys.argv[1] if len(sys.argv) > 1 else None)
    version = client._call("GET", "/version", doing="reading the version", call="get")
    docs = typedfields.fetch(reader(client))
    typedfields.MODULE.write_text(
        typedfields.module_text(
            typedfields.table(docs), typedfields.kinds(docs), version["gitVersion"]
        )
    )
    client.close()
    print(f"wrote {typedfields.MODULE}; now run: ruff format {typedfields.MODULE}")
