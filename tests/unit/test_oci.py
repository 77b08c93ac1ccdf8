"""render.oci without a registry: how a dependency names its manifest, and what an
allow-list entry maps to."""

from __future__ import annotations

import pytest

from gitops_bot.errors import RenderError
from gitops_bot.render import oci


@pytest.mark.parametrize(
    ("repository", "version", "url"),
    [
        (
            "oci://registry.example.com/charts",
            "1.2.3",
            "https://registry.example.com/v2/charts/redis/manifests/1.2.3",
        ),
        (
            "oci://Registry.Example.com:5000/a/b/",
            "1.2.3+build.7",  # helm pushes the tag with _ for +
            "https://registry.example.com:5000/v2/a/b/redis/manifests/1.2.3_build.7",
        ),
        ("oci://127.0.0.1:5000", "v1.0.0", "http://127.0.0.1:5000/v2/redis/manifests/v1.0.0"),
        ("oci://localhost/x", "1.0.0", "http://localhost/v2/x/redis/manifests/1.0.0"),
        ("oci://[::1]:5000/x", "1.0.0", "http://[::1]:5000/v2/x/redis/manifests/1.0.0"),
    ],
)
def test_a_dependency_names_the_manifest_of_its_tag(
    repository: str, version: str, url: str
) -> None:
    ref = oci.reference(repository, "redis", version, "here")
    assert ref.url("manifests", ref.tag) == url


@pytest.mark.parametrize(
    ("chart", "version", "says"),
    [
        ("Redis", "1.0.0", "not a repository name"),
        ("redis", "1.0.0" + "0" * 130, "not a tag"),
        ("redis", ".1.0", "not a tag"),
    ],
)
def test_names_and_tags_oci_does_not_allow_are_refused(chart: str, version: str, says: str) -> None:
    with pytest.raises(RenderError, match=f"^here: .*{says}"):
        oci.reference("oci://registry.example.com/charts", chart, version, "here")


def test_an_entry_maps_to_the_registry_api_below_its_path() -> None:
    assert oci.http_prefixes(
        (
            "https://charts.example.com/",
            "oci://registry.example.com/charts/",
            "oci://127.0.0.1:5000/",
        )
    ) == (
        "https://registry.example.com/v2/charts/",
        "https://127.0.0.1:5000/v2/",
        "http://127.0.0.1:5000/v2/",
    )
