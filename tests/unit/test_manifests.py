from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from gitops_bot.core.objects import manifests
from gitops_bot.core.objects.model import Key, Manifest, Origin
from gitops_bot.errors import RenderError

CM = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n"


def keys_and_origins(text: str) -> list[tuple[str, str]]:
    return [(str(m.key), str(m.origin)) for m in manifests.parse(text, origin="f.yaml")]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", []),
        ("---\n---\n", []),
        (CM.format(name="a"), [("ConfigMap a", "f.yaml:1 (document 1)")]),
        (
            # empty documents are skipped but still counted, so numbers match the file
            CM.format(name="a") + "---\n---\n# a comment\n" + CM.format(name="b"),
            [("ConfigMap a", "f.yaml:1 (document 1)"), ("ConfigMap b", "f.yaml:8 (document 3)")],
        ),
        (
            "apiVersion: v1\nkind: List\nitems:\n"
            "- apiVersion: v1\n  kind: Secret\n  metadata: {name: s, namespace: x}\n"
            "- {apiVersion: apps/v1, kind: Deployment, metadata: {name: d}}\n",
            [("Secret x/s", "f.yaml:4 (document 1)"), ("Deployment d", "f.yaml:7 (document 1)")],
        ),
        ("apiVersion: v1\nkind: ConfigMapList\nitems: []\n", []),
        (
            '{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "j"}}',
            [("ConfigMap j", "f.yaml:1 (document 1)")],
        ),
    ],
)
def test_parse_finds_objects_and_origins(text: str, expected: list[tuple[str, str]]) -> None:
    assert keys_and_origins(text) == expected


def test_parse_keeps_values_as_kubectl_reads_them() -> None:
    text = (
        "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n"
        "data: {key: !!binary aGVsbG8=}\n"
        "stringData: {day: 2024-01-01, 7: seven, on: yes}\n"
    )
    (secret,) = manifests.parse(text, origin="s.yaml")
    assert secret.obj["data"] == {"key": "aGVsbG8="}
    assert secret.obj["stringData"] == {"day": "2024-01-01", "7": "seven", "true": True}
    assert secret.key == Key("", "Secret", "", "s")
    assert secret.api_version == "v1"


def test_aliases_within_limits_are_expanded() -> None:
    text = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  labels: &l {app: web}\n"
        "  annotations: *l\n"
    )
    (cm,) = manifests.parse(text, origin="f.yaml")
    assert cm.obj["metadata"]["annotations"] == {"app": "web"}
    assert cm.obj["metadata"]["annotations"] is not cm.obj["metadata"]["labels"]


def _bomb(levels: int, width: int) -> str:
    lines = ["a0: &a0 [" + ", ".join(["lol"] * width) + "]"]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "a: b\n c: d\n",
            "f.yaml:2 (document 1): not YAML: mapping values are not allowed in this context",
        ),
        (
            CM.format(name="a") + "---\nkey: [unclosed\n",
            # libyaml notices the missing bracket at the end of the stream
            "f.yaml:7 (document 2): not YAML: while parsing a flow sequence: "
            "did not find expected ',' or ']'",
        ),
        ("a: \x00\n", "f.yaml:1 (document 1): not YAML: control characters are not allowed"),
        ("- 1\n- 2\n", "f.yaml:1 (document 1): a Kubernetes object must be a mapping, not a list"),
        (
            "just text\n",
            "f.yaml:1 (document 1): a Kubernetes object must be a mapping, not a string",
        ),
        ("kind: X\nmetadata: {name: a}\n", "f.yaml:1 (document 1): missing apiVersion"),
        ("apiVersion: v1\nmetadata: {name: a}\n", "f.yaml:1 (document 1): missing kind"),
        ("apiVersion: v1\nkind: X\n", "f.yaml:1 (document 1): missing metadata"),
        ("apiVersion: v1\nkind: X\nmetadata: {}\n", "f.yaml:1 (document 1): missing metadata.name"),
        (
            "apiVersion: v1\nkind: X\nmetadata: [a]\n",
            "f.yaml:1 (document 1): metadata must be a mapping, not a list",
        ),
        (
            "apiVersion: 1\nkind: X\nmetadata: {name: a}\n",
            "f.yaml:1 (document 1): apiVersion must be a string, not a number",
        ),
        (
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: 12345\n",
            "f.yaml:1 (document 1): metadata.name must be a string, not a number",
        ),
        (
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: true\n",
            "f.yaml:1 (document 1): metadata.name must be a string, not a boolean",
        ),
        (
            "apiVersion: v1\nkind: X\nmetadata: {name: a, namespace: [x]}\n",
            "f.yaml:1 (document 1): metadata.namespace must be a string, not a list",
        ),
        (
            "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: X, metadata: {}}\n",
            "f.yaml:4 (document 1): items[0]: missing metadata.name",
        ),
        (
            "apiVersion: v1\nkind: List\nitems: {a: b}\n",
            "f.yaml:1 (document 1): items must be a list, not a mapping",
        ),
        ("x: !!int abc\n", "f.yaml:1 (document 1): a tagged value does not match its tag"),
        ("!!int\n", "f.yaml:1 (document 1): a tagged value does not match its tag"),
        ("x: !!bool maybe\n", "f.yaml:1 (document 1): a tagged value does not match its tag"),
        (
            "x: !!set {a}\n",
            "f.yaml:1 (document 1): a set value cannot be part of an object",
        ),
        (
            "x: !!python/object:os.system ls\n",
            "f.yaml:1 (document 1): not YAML: could not determine a constructor for the tag "
            "'tag:yaml.org,2002:python/object:os.system'",
        ),
        ("x: *nowhere\n", "f.yaml:1 (document 1): not YAML: found undefined alias"),
        (
            "a: &a [1, *a]\n",
            "f.yaml:1 (document 1): a YAML alias refers to an anchor that contains it",
        ),
        (
            _bomb(levels=9, width=9),
            "f.yaml:6 (document 1): YAML aliases expand to more than 100000 nodes; "
            "refusing a possible alias bomb",
        ),
        (
            "a: &a x\nb: [" + ", ".join(["*a"] * 101) + "]\n",
            "f.yaml:2 (document 1): more than 100 YAML aliases; refusing a possible alias bomb",
        ),
        ("[" * 201 + "]" * 201, "f.yaml:1 (document 1): nested more than 200 levels deep"),
        # libyaml's composer would crash on this; the event pass refuses it first
        ("[" * 100_000, "f.yaml:1 (document 1): nested more than 200 levels deep"),
        ("a: \ud800\n", "f.yaml: not UTF-8 text (at character 3)"),
    ],
)
@pytest.mark.parametrize("composer_limited", [True, False], ids=["nodes", "events"])
def test_parse_errors_name_origin_document_and_line(
    text: str, message: str, composer_limited: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Both ways of refusing before anything expands: the composed nodes (libyaml
    # 0.2.6 limits nesting itself) and the events first (older libyaml).
    monkeypatch.setattr(manifests, "_LIBYAML_LIMITS_NESTING", composer_limited)
    with pytest.raises(RenderError) as caught:
        manifests.parse(text, origin="f.yaml")
    assert str(caught.value) == message


def test_parse_caps_the_input_size() -> None:
    with pytest.raises(RenderError) as caught:
        manifests.parse(CM.format(name="a"), origin="big.yaml", max_bytes=10)
    assert str(caught.value) == "big.yaml: 51 bytes is more than the limit of 10 bytes"


@pytest.mark.parametrize(
    "text",
    [
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\ndata: [hunter2-value\n",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: 42\ndata: {a: hunter2-value}\n",
        "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {a: !!int hunter2-value}\n",
        'apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata: {a: "hunter2-value\\q"}\n',
        "apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata:\n  a: hunter2-value\n\t b: c\n",
    ],
)
def test_errors_never_echo_document_contents(text: str) -> None:
    with pytest.raises(RenderError) as caught:
        manifests.parse(text, origin="secret.yaml")
    assert "hunter2" not in str(caught.value)
    assert str(caught.value).startswith("secret.yaml:")


_ANCHORS = (
    "  a: &a [x, y]\n  b: &b {k: v}\n  j: &j [[[[[[[[[[1]]]]]]]]]]\n"
    "  k: &k [" + ", ".join(["*j"] * 30) + "]\n"
    "  p: &p [" + ", ".join(["*k"] * 10) + "]\n"
)
_ALIASED = st.lists(
    st.lists(
        st.sampled_from(
            [
                "  c: [*a, *a]\n",
                "  d:\n  - *b\n  - &e [z]\n  - *e\n",
                "  e: *a\n",
                "  f:\n    g: *b\n    h: &h [*a, *b]\n",
                "  i: [" + ", ".join(["*b"] * 30) + "]\n",
                "  m:\n" + "".join(["  - [*p, *p, *p, *p, *p, *p, *p, *p, *p, *p]\n"] * 3),
                "  n: " + "[" * 197 + "]" * 197 + "\n",  # 199 levels deep: the limit is 200
                "  q: " + "[" * 199 + "]" * 199 + "\n",  # 201
                "  o:\n"
                + "".join(f"{' ' * (4 + 2 * i)}o{i}:\n" for i in range(60))
                + " " * 124
                + "x: [[[1]]]\n",
                "  l: &l [*l]\n",
                "  y: &a [x]\n",
            ]
        ),
        max_size=6,
        unique=True,
    ),
    min_size=1,
    max_size=3,
)


@settings(max_examples=300, deadline=None)
@given(_ALIASED)
def test_the_node_walk_refuses_what_the_event_pass_does(documents: list[list[str]]) -> None:
    text = "---\n".join(
        f"apiVersion: v1\nkind: X\nmetadata: {{name: x{i}}}\nspec:\n{_ANCHORS}{''.join(parts)}"
        for i, parts in enumerate(documents)
    )
    before = manifests._LIBYAML_LIMITS_NESTING
    try:
        manifests._LIBYAML_LIMITS_NESTING = False
        by_events = parse_or_message(text)
        manifests._LIBYAML_LIMITS_NESTING = True
        by_nodes = parse_or_message(text)
    finally:
        manifests._LIBYAML_LIMITS_NESTING = before
    if isinstance(by_nodes, str) and "not YAML: " in by_nodes:
        # The composer meets an undefined or duplicate anchor before the walk
        # sees the document, so before a refusal the events named first:
        # refused either way.
        assert isinstance(by_events, str)
    else:
        assert by_nodes == by_events


def test_this_libyaml_limits_nesting_so_the_event_pass_is_skipped() -> None:
    # The wheels PyYAML 6.0.3+ ships (and the image installs) bundle libyaml 0.2.6.
    assert manifests._LIBYAML_LIMITS_NESTING


def parse_or_message(text: str) -> tuple[Manifest, ...] | str:
    """What parse returns, or the message of the RenderError it raises; anything else escapes."""
    try:
        return manifests.parse(text, origin="fuzz.yaml")
    except RenderError as err:
        return str(err)


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_parse_raises_nothing_but_render_error(text: str) -> None:
    result = parse_or_message(text)
    if isinstance(result, str):
        assert result.startswith("fuzz.yaml")
    else:
        assert all(isinstance(m.key, Key) for m in result)


# Pieces of YAML syntax, so that hypothesis reaches the parser's and constructors'
# corners (tags, anchors, flow collections) and not only the scanner's.
YAML_PIECES = st.sampled_from(
    [
        *":-[]{}&*!?|>'\"\n #%@`,.0123\t\\<=",
        "!!int ",
        "!!bool ",
        "!!float ",
        "!!set ",
        "!!binary ",
        "!!timestamp ",
        "!!omap ",
        "!!python/tuple ",
        "&a ",
        "*a",
        "<<: ",
        "---\n",
        "...\n",
        "apiVersion: v1\n",
        "kind: List\n",
        "items:\n",
        "metadata:\n  name: ",
    ]
)


@settings(max_examples=2000, deadline=None)
@given(st.lists(YAML_PIECES, max_size=60).map("".join))
def test_parse_of_yaml_like_text_raises_nothing_but_render_error(text: str) -> None:
    result = parse_or_message(text)
    if isinstance(result, str):
        assert result.startswith("fuzz.yaml")
    else:
        assert all(isinstance(m.key, Key) for m in result)


def manifest(
    kind: str, name: str, *, namespace: str | None = None, api: str = "v1", file: str = "f.yaml"
) -> Manifest:
    metadata = {"name": name} | ({"namespace": namespace} if namespace else {})
    obj = {"apiVersion": api, "kind": kind, "metadata": metadata}
    return Manifest(key=Key.of(obj), obj=obj, origin=Origin(file))


def test_check_unique_accepts_same_name_in_other_kinds_groups_and_namespaces() -> None:
    manifests.check_unique(
        [
            manifest("ConfigMap", "a"),
            manifest("Secret", "a"),
            manifest("ConfigMap", "a", namespace="x"),
            manifest("Widget", "a", api="example.com/v1"),
            manifest("Widget", "a", api="other.example.com/v1"),
        ]
    )


def test_check_unique_names_the_key_and_both_origins() -> None:
    first = manifest("Deployment", "web", namespace="shop", api="apps/v1", file="a.yaml")
    # The version is not part of the identity: v1beta1 and v1 are one object.
    second = manifest("Deployment", "web", namespace="shop", api="apps/v1beta1", file="b.yaml")
    with pytest.raises(RenderError) as caught:
        manifests.check_unique([first, manifest("ConfigMap", "x"), second])
    assert str(caught.value) == (
        "Deployment.apps shop/web is defined twice: "
        "at a.yaml (document 1) and at b.yaml (document 1)"
    )


@pytest.mark.parametrize(
    ("obj_kind", "api", "namespace", "expected"),
    [
        ("ConfigMap", "v1", None, "dev"),
        ("ConfigMap", "v1", "other", "other"),
        ("Deployment", "apps/v1", None, "dev"),
        ("Namespace", "v1", None, ""),
        ("ClusterRole", "rbac.authorization.k8s.io/v1", None, ""),
        ("CustomResourceDefinition", "apiextensions.k8s.io/v1", None, ""),
        ("StorageClass", "storage.k8s.io/v1", None, ""),
        ("PriorityClass", "scheduling.k8s.io/v1", None, ""),
        ("ValidatingAdmissionPolicy", "admissionregistration.k8s.io/v1", None, ""),
        ("APIService", "apiregistration.k8s.io/v1", None, ""),
        ("FlowSchema", "flowcontrol.apiserver.k8s.io/v1", None, ""),
        # Group and kind match together: a Namespace kind in another group is namespaced.
        ("Namespace", "example.com/v1", None, "dev"),
        ("Role", "rbac.authorization.k8s.io/v1", None, "dev"),
    ],
)
def test_default_namespace(obj_kind: str, api: str, namespace: str | None, expected: str) -> None:
    original = manifest(obj_kind, "a", namespace=namespace, api=api)
    before = repr(original)
    (result,) = manifests.default_namespace([original], namespace="dev")
    assert result.key.namespace == expected
    assert result.obj["metadata"].get("namespace", "") == expected
    assert result.origin == original.origin
    assert repr(original) == before  # a new object, the original untouched


def test_default_namespace_knows_cluster_scoped_crds_of_the_same_render() -> None:
    crds = [
        {
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {"name": f"{plural}.example.com"},
            "spec": {"group": "example.com", "scope": scope, "names": {"kind": kind}},
        }
        for plural, kind, scope in (
            ("clusterwidgets", "ClusterWidget", "Cluster"),
            ("widgets", "Widget", "Namespaced"),
        )
    ]
    render = [Manifest(Key.of(c), c, Origin("crds.yaml")) for c in crds] + [
        manifest("ClusterWidget", "cw", api="example.com/v1"),
        manifest("Widget", "w", api="example.com/v1"),
        manifest("ClusterWidget", "other-group", api="other.example.com/v1"),
    ]
    result = manifests.default_namespace(render, namespace="dev")
    assert [str(m.key) for m in result] == [
        "CustomResourceDefinition clusterwidgets.example.com",
        "CustomResourceDefinition widgets.example.com",
        "ClusterWidget cw",
        "Widget dev/w",
        "ClusterWidget dev/other-group",
    ]


def test_default_namespace_without_a_namespace_changes_nothing() -> None:
    render = (manifest("ConfigMap", "a"),)
    assert manifests.default_namespace(render, namespace=None) == render
    assert render[0].key.namespace == ""


def _generic(text: str) -> list[Any] | str:
    """What the generic way (PyYAML's constructor, then `_plain`) makes of each
    document, or the error type: the reference `_build` must agree with."""
    loader = manifests._Loader(text.encode())
    out: list[Any] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            where = Origin("x")
            out.append(manifests._plain(loader.construct_document(node), where))
    except Exception as err:  # the type is what is compared
        return type(err).__name__
    finally:
        loader.dispose()
    return out


def _fast(text: str) -> list[Any] | str:
    loader = manifests._Loader(text.encode())
    out: list[Any] = []
    try:
        while loader.check_node():
            out.append(manifests._build(loader, loader.get_node(), Origin("x")))
    except Exception as err:
        return type(err).__name__
    finally:
        loader.dispose()
    return out


@settings(max_examples=1000, deadline=None)
@given(st.lists(YAML_PIECES, max_size=40).map("".join))
def test_the_fast_build_makes_what_the_generic_constructor_makes(text: str) -> None:
    try:
        manifests.screen(text, origin="x")  # parse() screens before it builds
    except RenderError:
        return
    fast, generic = _fast(text), _generic(text)
    if isinstance(fast, str) or isinstance(generic, str):
        # Both refuse; which of two problems is met first may differ (the
        # generic constructor fills nested mappings last), not whether.
        assert isinstance(fast, str)
        assert isinstance(generic, str)
    else:
        assert fast == generic


def test_a_bare_equals_sign_is_the_string_kubectl_reads() -> None:
    # YAML 1.1 resolves a plain `=` to its "value" tag, which PyYAML cannot
    # construct (and rewrites to a string only as a mapping key); YAML 1.2 and
    # sigs.k8s.io/yaml read it as the string "=". A ConfigMap with `sep: =`
    # was refused, and hypothesis found the fast build refusing `=:`.
    text = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n"
        "data: {sep: =, '=': key, list: [=]}\n"
    )
    (config,) = manifests.parse(text, origin="c.yaml")
    assert config.obj["data"] == {"sep": "=", "=": "key", "list": ["="]}
    assert _fast("=:") == _generic("=:") == [{"=": None}]
    assert _fast("a: =\n") == _generic("a: =\n") == [{"a": "="}]


@pytest.mark.parametrize(
    "text",
    [
        "a: &x {b: 1, c: [true, null, 1.5, '2']}\nd: *x\n",
        "base: &b {x: 1}\nm:\n  <<: *b\n  y: 2\n",
        "2: two\nfalse: no\n~: none\n'2': str-two\n",
        "k: !!binary aGVsbG8=\nt: 2024-01-01\nn: !!str 12\n",
        "dup: 1\ndup: 2\n",
        "? [a, b]\n: c\n",
        "s: !!set {a}\n",
        "- a\n- [b, {c: d}]\n",
    ],
)
def test_the_fast_build_agrees_on_the_corners(text: str) -> None:
    assert _fast(text) == _generic(text)


def test_keys_1_and_true_stay_two_keys() -> None:
    # Python's dict takes 1 and True for one key; the generic constructor lost
    # `true:` that way. sigs.k8s.io/yaml keeps both, as their JSON spellings.
    assert _fast("1: one\ntrue: yes\n") == [{"1": "one", "true": True}]


@given(st.text(max_size=12), st.booleans())
def test_a_kept_scalar_tag_is_the_one_pyyaml_resolves(value: str, quoted: bool) -> None:
    # The loader keeps the implicit tags of short plain scalars; each must be
    # what SafeLoader's resolver says, the first time and every time after.
    implicit = (not quoted, True)
    expected = yaml.SafeLoader.resolve(yaml.SafeLoader(""), yaml.ScalarNode, value, implicit)
    loader = manifests._Loader("")
    try:
        assert loader.resolve(yaml.ScalarNode, value, implicit) == expected
        assert loader.resolve(yaml.ScalarNode, value, implicit) == expected
    finally:
        loader.dispose()
