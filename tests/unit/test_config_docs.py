"""docs/configuration.md and core.repo.config agree: same keys, working examples."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from gitops_bot.core.repo import config
from gitops_bot.errors import ConfigError

DOC = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"
ENV = "environments.<name>"
SOURCES = tuple(kind.value for kind in config.SourceKind)


@dataclass(frozen=True)
class Row:
    key: str
    required: str
    example: Any


def _rows() -> list[Row]:
    """The rows of the reference table: | `key` | type | required | meaning | `example` |."""
    rows = []
    for line in DOC.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 5 and re.fullmatch(r"`[^`]+`", cells[0]):
            example = re.fullmatch(r"`([^`]+)`", cells[4])
            assert example, f"the example of {cells[0]} is not one `value`: {cells[4]!r}"
            rows.append(Row(cells[0].strip("`"), cells[2], yaml.safe_load(example.group(1))))
    return rows


ROWS = _rows()


# What a mapping needs besides the key under test, by its dotted key.
MINIMAL: dict[str, dict[str, Any]] = {
    f"{ENV}.helm": {"chart": "charts/app"},
    f"{ENV}.policy.rules[]": {"kinds": ["Role"], "owners": ["@a"]},
    f"{ENV}.ignore_fields[]": {"kinds": ["Deployment"], "fields": ["spec.replicas"]},
    "promotion[]": {"from": "dev", "to": "prod", "copy": ["deploy/{env}/version.yaml"]},
}


def _config_with(key: str, value: Any) -> dict[str, Any]:
    """A minimal configuration in which `key` (a dotted key of the table) is `value`;
    `name[]` in a key is the one item of the list `name`."""
    if key == "promotion" or key.startswith("promotion[]."):
        return _promotion_with(key, value)
    env: dict[str, Any] = {"path": "deploy/dev"}
    doc: dict[str, Any] = {"version": 1, "environments": {"e": env}}
    if key == "sources":
        doc[key] = value
        return doc
    if key.startswith("sources."):
        doc["sources"] = {key.removeprefix("sources."): value}
        return doc
    if key in ("version", "environments"):
        doc[key] = value
        return doc
    if key == ENV:
        doc["environments"] = {"e": value}
        return doc
    parts = key.split(".")[2:]  # below environments.<name>
    if parts[0] in SOURCES:
        env.clear()
    holder, at = env, ENV
    for part in parts[:-1]:
        at = f"{at}.{part}"
        child = dict(MINIMAL.get(at, {}))
        if part.endswith("[]"):
            holder[part[:-2]] = [child]
        else:
            holder[part] = child
        holder = child
    holder[parts[-1]] = value
    return doc


def _promotion_with(key: str, value: Any) -> dict[str, Any]:
    """A configuration with environments dev and prod and `key` of `promotion` set."""
    envs = {"dev": {"path": "deploy/dev"}, "prod": {"path": "deploy/prod"}}
    doc: dict[str, Any] = {"version": 1, "environments": envs}
    if key == "promotion":
        doc["promotion"] = value
    else:
        doc["promotion"] = [{**MINIMAL["promotion[]"], key.removeprefix("promotion[]."): value}]
    return doc


def _parent(doc: dict[str, Any], key: str) -> dict[str, Any]:
    """The mapping of `doc` that holds the last part of `key`."""
    holder = doc
    parent = key.rpartition(".")[0]
    for part in parent.split(".") if parent else ():
        if part.endswith("[]"):
            holder = holder[part[:-2]][0]
        else:
            holder = holder["e" if part == "<name>" else part]
    return holder


def test_the_table_lists_exactly_the_keys_the_parser_knows() -> None:
    assert [row.key for row in ROWS] == list(config.KEYS)


@pytest.mark.parametrize("row", ROWS, ids=[row.key for row in ROWS])
def test_every_example_of_the_table_is_accepted(row: Row) -> None:
    parsed = config.parse(yaml.safe_dump(_config_with(row.key, row.example)))
    assert parsed.environments


@pytest.mark.parametrize(
    "row", [r for r in ROWS if r.required.startswith("required")], ids=lambda r: str(r.key)
)
def test_keys_the_table_calls_required_are_required(row: Row) -> None:
    doc = _config_with(row.key, row.example)
    leaf = row.key.rpartition(".")[2]
    del _parent(doc, row.key)[leaf]
    with pytest.raises(ConfigError, match=f"missing required key '{leaf}'"):
        config.parse(yaml.safe_dump(doc))


def test_keys_the_table_calls_optional_are_optional() -> None:
    optional = [r for r in ROWS if r.required.startswith("default")]
    assert optional, "the table marks no key as optional"
    for row in optional:
        doc = _config_with(row.key, row.example)
        del _parent(doc, row.key)[row.key.rpartition(".")[2]]
        assert config.parse(yaml.safe_dump(doc)).environments


def test_the_example_file_parses() -> None:
    block = re.search(r"```yaml\n(.*?)```", DOC.read_text(), re.DOTALL)
    assert block, "docs/configuration.md has no yaml example"
    parsed = config.parse(block.group(1))
    assert [e.name for e in parsed.environments] == ["dev", "legacy", "staging", "prod"]
    assert {e.source.kind for e in parsed.environments} == set(config.SourceKind)


def test_the_error_examples_are_real_messages() -> None:
    block = re.search(r"## Error messages.*?```\n(.*?)```", DOC.read_text(), re.DOTALL)
    assert block, "docs/configuration.md shows no error messages"
    documented = block.group(1).splitlines()
    produced = []
    for text in (
        "version: 1\nenvironments:\n  dev:\n    path: a\n  prod:\n    namespace: shop\n"
        "    kustomise: deploy/prod\n",
        "version: 2\nenvironments: {dev: {path: a}}\n",
        "version: 1\nenvironments:\n  dev:\n    path: a/../../b\n",
    ):
        with pytest.raises(ConfigError) as info:
            config.parse(text)
        produced.append(str(info.value))
    assert documented == produced
