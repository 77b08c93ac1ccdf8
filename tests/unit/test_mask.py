"""mask: Secret values never leave the process, raw or base64.

Canary values are planted in Secrets and searched for in every output.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from gitops_bot.core.report.plan import SecretKeys
from gitops_bot.core.secrets import mask

KEY = b"test-mask-key"
CANARY = "canary-Zq81-hunter2"
CANARY_B64 = base64.b64encode(CANARY.encode()).decode()
FINGERPRINT = re.compile(r"<secret sha256:[0-9a-f]{8}>")


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def secret(
    data: dict[str, Any] | None = None,
    string_data: dict[str, Any] | None = None,
    **meta: Any,
) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "db", "namespace": "shop", **meta},
    }
    if data is not None:
        obj["data"] = data
    if string_data is not None:
        obj["stringData"] = string_data
    return obj


def test_fingerprint_is_a_keyed_hmac() -> None:
    expected = hmac.new(KEY, CANARY.encode(), hashlib.sha256).hexdigest()[:8]
    assert mask.fingerprint(CANARY.encode(), key=KEY) == f"<secret sha256:{expected}>"
    assert mask.fingerprint(CANARY.encode(), key=b"other") != mask.fingerprint(
        CANARY.encode(), key=KEY
    )


def test_data_and_string_data_spellings_fingerprint_alike() -> None:
    masked = mask.mask_object(
        secret(data={"a": CANARY_B64}, string_data={"b": CANARY, "c": "other"}), key=KEY
    )
    assert masked["data"]["a"] == masked["stringData"]["b"]
    assert masked["stringData"]["c"] != masked["stringData"]["b"]
    assert all(FINGERPRINT.fullmatch(v) for v in [*masked["data"].values()])


def test_wrapped_base64_decodes_like_the_server_does() -> None:
    wrapped = CANARY_B64[:8] + "\n" + CANARY_B64[8:]
    masked = mask.mask_object(secret(data={"a": wrapped, "b": CANARY_B64}), key=KEY)
    assert masked["data"]["a"] == masked["data"]["b"]


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(CANARY, id="not-base64"),
        pytest.param(42, id="not-a-string"),
        pytest.param(None, id="null"),
    ],
)
def test_malformed_values_are_masked_too(value: Any) -> None:
    masked = mask.mask_object(secret(data={"a": value}), key=KEY)
    assert FINGERPRINT.fullmatch(masked["data"]["a"])


def test_last_applied_annotation_of_a_secret_is_masked_whole() -> None:
    last = f'{{"stringData":{{"password":"{CANARY}"}}}}'
    obj = secret(
        string_data={"password": CANARY},
        annotations={mask.LAST_APPLIED: last, "team": "shop"},
    )
    masked = mask.mask_object(obj, key=KEY)
    annotations = masked["metadata"]["annotations"]
    assert FINGERPRINT.fullmatch(annotations[mask.LAST_APPLIED])
    assert annotations["team"] == "shop"
    assert obj["metadata"]["annotations"][mask.LAST_APPLIED] == last  # input untouched


@pytest.mark.parametrize(
    "obj",
    [
        pytest.param(
            {"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": CANARY}}, id="configmap"
        ),
        pytest.param(
            {"apiVersion": "example.com/v1", "kind": "Secret", "data": {"a": "x"}},
            id="secret-of-another-group",
        ),
    ],
)
def test_non_secrets_pass_through_as_a_copy(obj: dict[str, Any]) -> None:
    masked = mask.mask_object(obj, key=KEY)
    assert masked == obj
    assert masked is not obj
    assert masked["data"] is not obj["data"]


def test_canary_never_appears_in_a_masked_secret() -> None:
    obj = secret(
        data={"password": CANARY_B64},
        string_data={"token": CANARY},
        annotations={mask.LAST_APPLIED: f'{{"data":{{"password":"{CANARY_B64}"}}}}'},
    )
    dumped = yaml.safe_dump(mask.mask_object(obj, key=KEY)) + repr(mask.mask_object(obj, key=KEY))
    assert CANARY not in dumped
    assert CANARY_B64 not in dumped
    assert "password" in dumped  # keys are not secret


@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        pytest.param(
            secret(data={"password": b64("old"), "user": b64("app")}),
            secret(data={"password": b64("new"), "user": b64("app"), "token": b64("t")}),
            SecretKeys(added=("token",), changed=("password",)),
            id="added-and-changed",
        ),
        pytest.param(
            secret(data={"user": b64("app")}),
            secret(string_data={"user": "app"}),
            SecretKeys(),
            id="respelled-as-stringData-is-unchanged",
        ),
        pytest.param(
            secret(data={"user": b64("old")}, string_data={"user": "new"}),
            secret(data={"user": b64("new")}),
            SecretKeys(),
            id="stringData-wins-over-data",
        ),
        pytest.param(
            secret(data={"b": b64("1"), "a": b64("2")}),
            None,
            SecretKeys(removed=("a", "b")),
            id="deleted-secret",
        ),
        pytest.param(
            None,
            secret(string_data={"z": "1", "y": "2"}),
            SecretKeys(added=("y", "z")),
            id="created-secret",
        ),
        pytest.param(
            {"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "1"}},
            {"apiVersion": "v1", "kind": "ConfigMap", "data": {"a": "2"}},
            SecretKeys(),
            id="not-a-secret",
        ),
    ],
)
def test_secret_keys(
    before: dict[str, Any] | None, after: dict[str, Any] | None, expected: SecretKeys
) -> None:
    assert mask.secret_keys(before, after) == expected


def test_collect_secret_values_has_clear_and_base64_spellings() -> None:
    pem = "-----BEGIN KEY-----\nMIIBcanaryline\n-----END KEY-----\n"
    values = mask.collect_secret_values(
        [
            secret(data={"a": CANARY_B64, "short": b64("abc")}, string_data={"pem": pem}),
            {"apiVersion": "v1", "kind": "ConfigMap", "data": {"x": "not-a-secret"}},
        ]
    )
    assert {CANARY, CANARY_B64, pem, b64(pem), "MIIBcanaryline"} <= values
    assert "-----BEGIN KEY-----\\nMIIBcanaryline\\n-----END KEY-----\\n" in values  # JSON
    assert "abc" not in values
    assert b64("abc") not in values
    assert "not-a-secret" not in values
    assert all(len(v) >= mask.MIN_SCRUB_LENGTH for v in values)


def test_scrub_replaces_every_spelling_longest_first() -> None:
    secrets = mask.collect_secret_values([secret(data={"a": CANARY_B64, "b": b64("hunter2")})])
    error = (
        f'Secret "db" is invalid: data.a: {CANARY!r} and {CANARY_B64}; '
        f'{{"data":{{"a":"{CANARY_B64}"}}}} and hunter2 alone'
    )
    out = mask.scrub(error, secrets)
    assert CANARY not in out
    assert CANARY_B64 not in out
    assert "hunter2" not in out
    assert "Zq81" not in out  # the longer value was replaced whole, not around the shorter one
    assert out.startswith('Secret "db" is invalid: data.a: ')
    assert out.count(mask.REPLACEMENT) == 4


@pytest.mark.parametrize(
    ("text", "secrets", "expected"),
    [
        ("nothing to hide", [], "nothing to hide"),
        ("nothing to hide", [""], "nothing to hide"),
        ("a.b a+b", ["a.b"], "*** a+b"),  # no regex meaning
        ("abcdef", ["abc", "abcdef"], "***"),
        ("xabcx", ["abc", "bcx"], "x***x"),
    ],
)
def test_scrub_table(text: str, secrets: list[str], expected: str) -> None:
    assert mask.scrub(text, secrets) == expected


@given(
    st.text(alphabet="abcdefgh \n", max_size=80),
    st.lists(st.text(alphabet="abcdefgh", min_size=4, max_size=12), max_size=4),
)
def test_scrub_leaves_no_secret_behind(text: str, secrets: list[str]) -> None:
    planted = text + "".join(f" {s} " for s in secrets)
    out = mask.scrub(planted, secrets)
    assert not any(s in out for s in secrets)


@given(
    st.text(alphabet="ab\n\u00e9\U0001f600", max_size=60),
    st.lists(st.text(alphabet="ab\u00e9\U0001f600", min_size=1, max_size=6), max_size=12),
)
def test_a_scrubber_replaces_what_one_longest_first_alternation_does(
    text: str, secrets: list[str]
) -> None:
    """The scrubber finds the values present with one automaton pass; what it
    replaces must be what the plain definition replaces: every secret, leftmost
    first and the longest of those starting there, no regex meaning."""
    ordered = sorted(set(secrets), key=lambda s: (-len(s), s))
    expected = (
        re.sub("|".join(map(re.escape, ordered)), mask.REPLACEMENT, text) if ordered else text
    )
    clean = mask.scrubber(secrets)
    assert clean(text) == expected
    assert clean(f"{text}\n{text}") == f"{expected}\n{expected}"  # the pattern cache, reused


def test_a_scrubber_of_thousands_of_values_finds_the_few_present() -> None:
    values = [f"secret-{i}-value" for i in range(5000)]
    clean = mask.scrubber(values)
    assert clean("") == ""
    assert clean("no secret here") == "no secret here"
    assert clean("a secret-42-value and secret-4242-value.") == "a *** and ***."


@pytest.mark.parametrize("field", ["data", "stringData"])
@pytest.mark.parametrize(
    "shape",
    [
        lambda v: v,  # a string where a mapping belongs
        lambda v: [v, "other-item"],
        lambda v: {"k": {"nested": v}},
        lambda v: {"k": [v]},
    ],
)
def test_a_secret_of_any_shape_is_masked_and_its_values_known(field: str, shape: Any) -> None:
    """The server would refuse these, but a render can hold them (kustomize
    passes `stringData: <string>` through): no crash, and no value shown."""
    value = CANARY_B64 if field == "data" else CANARY
    obj = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, field: shape(value)}
    masked = mask.mask_object(obj, key=b"k")
    assert CANARY not in yaml.safe_dump(masked)
    assert CANARY_B64 not in yaml.safe_dump(masked)
    known = mask.collect_secret_values([obj])
    assert mask.scrub(f"x {CANARY} y", known) == f"x {mask.REPLACEMENT} y"
    mask.secret_keys(None, obj)  # says which keys, without failing on the shape


def test_values_that_are_part_of_a_shown_name_are_not_scrubbed() -> None:
    """A username `shop` in a namespace `shop-prod` is public already."""
    secrets = mask.collect_secret_values([secret(string_data={"user": "shop", "pw": CANARY})])
    kept = mask.without_names(secrets, ["shop-prod", "db-credentials", "prod"])
    out = mask.scrub(f"Secret shop-prod/db-credentials: postgres://shop:{CANARY}@db", kept)
    assert out == "Secret shop-prod/db-credentials: postgres://shop:***@db"


@pytest.mark.parametrize("name", [f"{CANARY} is not a key", "a/b", "", "[0]", "é"])
def test_a_key_that_is_not_a_valid_key_name_is_not_shown(name: str) -> None:
    """kustomize makes a key of an env file line with no `=`: a value, likely."""
    obj = secret(data={name: CANARY_B64, "ok": CANARY_B64})
    masked = yaml.safe_dump(mask.mask_object(obj, key=b"k"))
    keys = mask.secret_keys(None, obj)
    assert "ok" in keys.added
    if name:
        assert name not in masked
        assert name not in keys.added
    assert mask.HIDDEN_KEY in keys.added


def test_fingerprints_of_one_value_under_two_keys_read_alike_once_made_alike() -> None:
    """review compares two plans of one head without their fingerprints, which
    each run keys afresh (a second planner then writes nothing)."""
    one = mask.fingerprint(b"hunter2", key=b"run-1")
    two = mask.fingerprint(b"hunter2", key=b"run-2")
    assert one != two
    assert mask.FINGERPRINT.fullmatch(one)
    assert FINGERPRINT.fullmatch(one)  # the form core.secrets.mask reads
    assert mask.without_fingerprints(f"password: {one}") == mask.without_fingerprints(
        f"password: {two}"
    )


@given(st.text() | st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E)))
def test_yaml_quoted_spelling_is_the_dumpers(text: str) -> None:
    # The fast path (printable ASCII written as it is) must agree with the dumper.
    dumped = yaml.safe_dump(text, default_style='"', width=1 << 30, allow_unicode=True)
    assert mask._yaml_quoted(text) == dumped.strip().removesuffix("...").strip()[1:-1]
