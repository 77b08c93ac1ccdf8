"""Candidate secret values read from raw inputs, before any tool runs."""

from __future__ import annotations

import base64
import textwrap

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from gitops_bot.core.secrets import mask, scan

CANARY = "canary-Zq81-pass"
B64 = base64.b64encode(CANARY.encode()).decode()


def dedent(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


@pytest.mark.parametrize(
    "text",
    [
        # valid, both fields
        f"apiVersion: v1\nkind: Secret\nmetadata: {{name: db}}\nstringData:\n  pw: {CANARY}\n",
        f"apiVersion: v1\nkind: Secret\nmetadata: {{name: db}}\ndata:\n  password: {B64}\n",
        # quoted, flow style, JSON
        f'kind: Secret\nstringData:\n  password: "{CANARY}"\n',
        f"kind: Secret\nstringData: {{password: '{CANARY}', user: app}}\n",
        f'{{"kind": "Secret", "data": {{"password": "{B64}"}}}}',
        # block scalar
        f"kind: Secret\nstringData:\n  pem: |\n    -----BEGIN-----\n    {CANARY}\n    -----END-\n",
        # broken YAML: a tab, an unclosed quote, a bad indent after the value
        f"kind: Secret\nstringData:\n  password: {CANARY}\n\tbroken: [\n",
        f'kind: Secret\ndata:\n  password: "{B64}\n  other: x\n'[:-1],
        f"kind: Secret\nstringData:\n  password: {CANARY}\n   nested: : :\n",
        # data that is a scalar instead of a mapping: the parser's error quotes it
        f"kind: Secret\nstringData: {CANARY}\n",
        # a document with no kind at all counts as a Secret
        f"stringData:\n  password: {CANARY}\n",
        # among other documents, after a ConfigMap
        f"kind: ConfigMap\ndata: {{a: b}}\n---\nkind: Secret\ndata:\n  password: {B64}\n",
    ],
)
def test_secret_values_are_found_in_raw_manifests(text: str) -> None:
    found = scan.in_manifests(text)
    assert CANARY in found or CANARY in "\n".join(found), found


def test_other_kinds_give_nothing() -> None:
    text = "kind: ConfigMap\ndata:\n  mode: production-mode\n"
    assert scan.in_manifests(text) == set()


def test_template_expressions_are_not_values() -> None:
    text = "kind: Secret\nstringData:\n  password: {{ .Values.db.password | quote }}\n"
    assert scan.in_manifests(text) == set()


def test_secret_generators_literals_envs_and_files() -> None:
    files = {"db.env": f"# comment\nUSER=app\nPASSWORD={CANARY}\n", "key.pem": f"{CANARY}-pem\n"}
    text = dedent(
        """
        secretGenerator:
        - name: db
          literals: [TOKEN=tok-Zq81-literal]
          envs: [db.env]
          files: [tls.key=key.pem]
        configMapGenerator:
        - name: plain
          literals: [MODE=config-not-secret]
        """
    )
    found = scan.in_kustomization(text, files.get)
    assert {"tok-Zq81-literal", CANARY, f"{CANARY}-pem"} <= found
    assert "config-not-secret" not in found


@pytest.mark.parametrize(
    "literals",
    [
        "\n  - TOKEN=tok-Zq81-literal",
        " [TOKEN=tok-Zq81-literal, B=x]",
        " ['TOKEN=tok-Zq81-literal']",
        ' ["A=1", "TOKEN=tok-Zq81-literal"]',
    ],
)
def test_a_kustomization_that_does_not_parse_gives_every_literal(literals: str) -> None:
    text = f"resources: [a.yaml\nsecretGenerator:\n- name: db\n  literals:{literals}\n"
    assert "tok-Zq81-literal" in scan.in_kustomization(text, lambda _: None)


def test_env_file_lines_and_values() -> None:
    found = scan.in_env_file(f"A={CANARY}\nnot a valid line {CANARY}x\n")
    assert {CANARY, f"not a valid line {CANARY}x"} <= found


def test_helm_values_every_scalar_also_when_broken() -> None:
    assert {CANARY, "12345678"} <= scan.in_values(
        f"db:\n  password: {CANARY}\n  pin: 12345678\n  enabled: true\n"
    )
    assert CANARY in scan.in_values(f"db:\n  password: {CANARY}\n\t- broken: [\n")


_VALUE = st.text(min_size=4, max_size=30).map(lambda s: s.replace("\n", "x").strip() + "wxyz")


@given(
    values=st.dictionaries(st.text(alphabet="abcxyz_.-", min_size=1, max_size=8), _VALUE),
    field=st.sampled_from(["data", "stringData"]),
    flow=st.booleans(),
    breakage=st.sampled_from(["", "\t: [\n", " x: ]\n", "'\n", "key: value: other\n"]),
    at=st.integers(min_value=0, max_value=20),
)
def test_any_secret_value_is_found_also_in_a_broken_document(
    values: dict[str, str], field: str, flow: bool, breakage: str, at: int
) -> None:
    """Written as people and dumpers write it, whatever it holds, with a line
    that breaks the document anywhere after the kind."""
    if field == "data":
        values = {k: base64.b64encode(v.encode()).decode() for k, v in values.items()}
    obj = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db"}, field: values}
    text = yaml.safe_dump(obj, width=1 << 30, default_flow_style=flow or None)
    lines = text.splitlines(keepends=True)
    kind = next(i for i, line in enumerate(lines) if "kind" in line)
    where = max(kind + 1, min(at, len(lines)))
    text = "".join([*lines[:where], breakage, *lines[where:]])
    found = scan.in_manifests(text)
    for value in values.values():
        assert value in found or "{{" in value, (value, text)


@pytest.mark.parametrize(
    "spelling",
    [
        CANARY,
        B64,
        base64.urlsafe_b64encode(CANARY.encode()).decode(),
        "postgres://app:canary-Zq81-pass@db:5432/shop",  # inside a DSN
        "p%40ss%2Fw%3Ard",  # URL-encoded
        base64.b64encode(b"x" + b"p@ss/w:rd" + b"tail").decode(),  # inside longer base64
        base64.b64encode(b"xy" + CANARY.encode()).decode(),
        base64.b64encode(b"xyz" + CANARY.encode() + b"!").decode(),
        "\\u0000p@ss/w:rd",
    ],
)
def test_every_spelling_is_scrubbed(spelling: str) -> None:
    secrets = mask.spellings([CANARY, "p@ss/w:rd"])
    out = mask.scrub(spelling, secrets)
    assert CANARY not in out
    assert "p@ss/w:rd" not in out
    for clear in (CANARY, "p@ss/w:rd"):
        for encoded in (base64.b64encode(clear.encode()).decode(),):
            assert encoded not in out
    assert mask.REPLACEMENT in out


def test_short_values_are_not_scrubbed_from_free_text() -> None:
    assert mask.spellings(["abc", "1"]) == frozenset()
    assert mask.scrub("a b c 1 abc", mask.spellings(["abc"])) == "a b c 1 abc"
